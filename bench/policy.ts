// Policy benchmark (not a test): npx tsx bench/policy.ts [--smoke]
// Prints: compile time and heap for 1k and 10k policies; authorization decision p50/p99 with
// 1,000 rules selecting the workload, as the cluster grows from 1k to 10k policies (it should
// stay flat: evaluation only looks at the workload's own policies); and the time from a policy
// change to its delivery to N connected policy-stream clients over real gRPC and TLS; and the
// cost of one status resync's Ready accounting with 1k connected sidecars and 1k policies.
import { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { PolicyStream } from '../controller/policy-stream.ts';
import { normalizePath } from '../lib/path.ts';
import { compilePolicies, evaluate, LastGoodPolicies } from '../lib/policy/index.ts';
import { resolveOptions } from '../lib/policy/options.ts';
import { PolicyClient } from '../sidecar/policy-client.ts';
import { startTlsGrpcServer } from '../test/helpers/grpc-server.ts';
import { createTestCa } from '../test/helpers/pki.ts';
import { machine, SMOKE, writeResult } from './lib/tools.ts';

const startedAt = new Date().toISOString();
// Smoke: the same steps at sizes that take a second; what is reported is the shape, not figures.
const SIZES = SMOKE
  ? { small: 100, large: 1000, rules: 50, samples: 500, ready: 100 }
  : {
      small: 1000,
      large: 10_000,
      rules: 1000,
      samples: 20_000,
      ready: 1000,
    };
const figures: Record<string, unknown> = {};

function policy(namespace: string, name: string, rules: number) {
  return {
    metadata: { name, namespace },
    spec: {
      selector: { matchLabels: { app: name } },
      action: 'ALLOW',
      rules: Array.from({ length: rules }, (_, i) => ({
        name: `r${i}`,
        from: [{ principals: [`spiffe://cluster.local/ns/${namespace}/sa/caller-${i}`] }],
        to: [{ methods: ['GET'], paths: [`/items/${i}/{id}`] }],
      })),
    },
  };
}

function cluster(total: number, target: unknown) {
  const policies: unknown[] = [target];
  for (let i = 1; i < total; i += 1) policies.push(policy(`ns-${i % 200}`, `p${i}`, 5));
  return policies;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function compileFigures(total: number) {
  const inputs = cluster(total, policy('shop', 'orders', 10));
  const before = process.memoryUsage().heapUsed;
  const start = performance.now();
  const set = compilePolicies(inputs);
  const ms = performance.now() - start;
  const heapMb = (process.memoryUsage().heapUsed - before) / 1024 / 1024;
  console.log(`compile ${total} policies: ${ms.toFixed(0)} ms, heap +${heapMb.toFixed(0)} MB`);
  figures[`compile${total}`] = { policies: total, ms, heapMb };
  return set;
}

/** What a change to one policy costs the controller in a cluster of `total` (cached compiles). */
function incrementalFigures(total: number) {
  const inputs = cluster(total, policy('shop', 'orders', 10));
  const policies = new LastGoodPolicies();
  policies.compile(inputs);
  inputs[1] = policy('ns-1', 'p1', 6);
  const start = performance.now();
  policies.compile(inputs);
  const ms = performance.now() - start;
  console.log(`recompile after one change among ${total} policies: ${ms.toFixed(0)} ms`);
  figures.recompileAfterOneChange = { policies: total, ms };
}

function decisionFigures(total: number) {
  const set = compilePolicies(cluster(total, policy('shop', 'orders', SIZES.rules)));
  const view = set.index.forWorkload({ namespace: 'shop', labels: { app: 'orders' } });
  const samples: number[] = [];
  for (let i = 0; i < SIZES.samples; i += 1) {
    const caller = i % Math.round(SIZES.rules * 1.2); // some match, some match nothing
    const request = {
      method: 'GET',
      host: 'orders',
      port: 80,
      path: normalizePath(`/items/${caller % SIZES.rules}/42`),
      peer: `spiffe://cluster.local/ns/shop/sa/caller-${caller}`,
    };
    const start = performance.now();
    evaluate(view, request);
    samples.push((performance.now() - start) * 1000);
  }
  samples.sort((a, b) => a - b);
  console.log(
    `decision with ${SIZES.rules} rules, ${total} policies in the cluster: p50 ${percentile(samples, 50).toFixed(1)} µs, p99 ${percentile(samples, 99).toFixed(1)} µs`,
  );
  figures[`decision${total}`] = {
    rules: SIZES.rules,
    policies: total,
    micros: { p50: percentile(samples, 50), p99: percentile(samples, 99) },
  };
  return percentile(samples, 99);
}

async function distributionFigures(clients: number) {
  const ca = await createTestCa();
  const serving = await ca.issue({
    subject: 'CN=cp',
    uris: ['spiffe://cluster.local/ns/lanyard-system/sa/lanyard-controller'],
    usage: 'both',
  });
  const workload = await ca.issue({
    subject: 'CN=w',
    uris: ['spiffe://cluster.local/ns/shop/sa/orders'],
    usage: 'both',
  });
  const stream = new PolicyStream({
    trustDomain: 'cluster.local',
    signers: () => [new X509Certificate(ca.certPem)],
    resolver: { resolve: () => ({ namespace: 'shop', labels: { app: 'orders' } }) },
  });
  const options = resolveOptions({});
  const publish = (rule: string) => {
    const { index } = compilePolicies(
      [
        {
          ...policy('shop', 'orders', 1),
          spec: {
            ...policy('shop', 'orders', 1).spec,
            rules: [{ name: rule, from: [{ namespaces: ['shop'] }] }],
          },
        },
      ],
      options,
    );
    stream.publish({ index, options, generations: new Map([['shop/orders', 1]]) });
  };
  publish('initial');
  const { server, address } = await startTlsGrpcServer(
    { definition: stream.definition, implementation: stream.implementation() },
    ca.certPem,
    serving,
  );
  const seen = new Map<number, string>();
  const list: PolicyClient[] = [];
  for (let i = 0; i < clients; i += 1) {
    const client = new PolicyClient({
      address,
      serverId: 'spiffe://cluster.local/ns/lanyard-system/sa/lanyard-controller',
      trustDomain: 'cluster.local',
      podName: `orders-${i}`,
      tls: () => ({ certChainPem: workload.certPem, keyPem: workload.keyPem, bundlePem: ca.certPem }),
      onPolicy: (view) => seen.set(i, view.allow[0]?.rules[0]?.name ?? ''),
    });
    client.start();
    list.push(client);
  }
  while (seen.size < clients) await new Promise((resolve) => setTimeout(resolve, 10));
  const latencies: number[] = [];
  for (let round = 0; round < 5; round += 1) {
    const rule = `round-${round}`;
    const start = performance.now();
    publish(rule);
    while ([...seen.values()].some((name) => name !== rule))
      await new Promise((resolve) => setImmediate(resolve));
    latencies.push(performance.now() - start);
  }
  latencies.sort((a, b) => a - b);
  console.log(
    `policy change delivered to all ${clients} stream clients: median ${percentile(latencies, 50).toFixed(0)} ms, worst ${latencies.at(-1)!.toFixed(0)} ms (5 changes)`,
  );
  figures[`delivery${clients}`] = {
    clients,
    ms: { median: percentile(latencies, 50), worst: latencies.at(-1)! },
  };
  for (const client of list) client.stop();
  server.forceShutdown();
}

/**
 * One resync asks the stream, for every policy, how many selected sidecars enforce its
 * generation. Sidecars join through the stream's Watch handler with in-process calls (no
 * sockets: what is timed is the accounting, not gRPC) and ACK what they receive.
 */
async function readyFigures(sidecars: number, policies: number) {
  const ca = await createTestCa();
  const workload = await ca.issue({
    subject: 'CN=w',
    uris: ['spiffe://cluster.local/ns/shop/sa/app'],
    usage: 'both',
  });
  const raw = new X509Certificate(workload.certPem).raw;
  const groups = 10;
  const stream = new PolicyStream({
    trustDomain: 'cluster.local',
    signers: () => [new X509Certificate(ca.certPem)],
    resolver: {
      resolve: (_identity, podName) => ({
        namespace: 'shop',
        labels: { app: `w${Number(podName.slice(4)) % groups}` },
      }),
    },
  });
  const options = resolveOptions({});
  const objects = Array.from({ length: policies }, (_, i) => ({
    metadata: { name: `p${i}`, namespace: 'shop' },
    spec: {
      selector: { matchLabels: { app: `w${i % groups}` } },
      action: 'ALLOW',
      rules: [{ name: 'r', from: [{ namespaces: ['shop'] }] }],
    },
  }));
  const generations = new Map(objects.map((o) => [`shop/${o.metadata.name}`, 1]));
  stream.publish({ index: compilePolicies(objects, options).index, options, generations });
  const watch = stream.implementation().Watch as (call: unknown) => void;
  for (let i = 0; i < sidecars; i += 1) {
    const call = Object.assign(new EventEmitter(), {
      getAuthContext: () => ({ sslPeerCertificate: { raw } }),
      write: (message: { version: string }) => {
        queueMicrotask(() => call.emit('data', { ack: { version: message.version } }));
        return true;
      },
      end: () => undefined,
    });
    watch(call);
    call.emit('data', { hello: { podName: `pod-${i}` } });
  }
  await new Promise((resolve) => setImmediate(resolve));
  const keys = [...generations.keys()];
  const check = stream.delivery(keys[0]!, 1);
  if (check.connected !== sidecars / groups || check.acknowledged !== check.connected)
    throw new Error(`unexpected delivery ${JSON.stringify(check)}`);
  const samples: number[] = [];
  for (let round = 0; round < 5; round += 1) {
    const start = performance.now();
    for (const key of keys) stream.delivery(key, 1);
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  console.log(
    `Ready accounting of one resync, ${sidecars} sidecars x ${policies} policies: median ${percentile(samples, 50).toFixed(1)} ms (5 resyncs)`,
  );
  figures.readyAccounting = { sidecars, policies, medianMs: percentile(samples, 50) };
}

await readyFigures(SIZES.ready, SIZES.ready);
compileFigures(SIZES.small);
compileFigures(SIZES.large);
incrementalFigures(SIZES.large);
const small = decisionFigures(SIZES.small);
const large = decisionFigures(SIZES.large);
console.log(
  `decision p99 ratio, ${SIZES.large}-policy cluster to ${SIZES.small}-policy cluster: ${(large / small).toFixed(2)} (flat is 1.0)`,
);
for (const clients of SMOKE ? [5] : [10, 100]) await distributionFigures(clients);
const file = writeResult('policy', {
  benchmark: 'policy',
  startedAt,
  finishedAt: new Date().toISOString(),
  machine: machine(),
  setup: { ...SIZES, smoke: SMOKE },
  // The comparator: the same decision in a cluster ten times larger (flat is 1.0).
  decisionP99Ratio: large / small,
  figures,
});
console.log(`bench: wrote ${file}`);
