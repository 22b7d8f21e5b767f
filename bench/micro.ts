// Micro benchmarks (not a test): npx tsx bench/micro.ts [--quick] [--smoke]
// JWT validation cold (a new validator: JWKS parse and key import, then one verify) and warm
// (keys cached; every call still verifies the signature), an authorization decision at 10,
// 1,000 and 10,000 rules, path normalization; beside them the raw ECDSA P-256 rates of
// `openssl speed` and node:crypto, which bound what any JWT validation can reach. Rates are per
// CPU second of this process; latencies are wall clock. Last, the server sidecar's decision work
// per request (bench/dataplane.ts's policy and token; decide, then the production decision sink:
// metrics, the decision log line into /dev/null through the async destination, the event
// buffer), and the client sidecar's outbound metrics, in µs of CPU per request.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { openSync } from 'node:fs';
import { Registry } from 'prom-client';
import { createBufferedLog } from '../cli/log-destination.ts';
import { createDemoIssuer, DEMO_AUDIENCE, DEMO_ISSUER } from '../dev/issuer.ts';
import { normalizePath } from '../lib/path.ts';
import { compilePolicies, evaluate } from '../lib/policy/index.ts';
import { decisionRecord, hostOnly, type DecisionRecord } from '../sidecar/app-forwarder.ts';
import { createBlockMetrics } from '../sidecar/block-metrics.ts';
import { createDecisionSink } from '../sidecar/decision-sink.ts';
import { EventReporter } from '../sidecar/event-reporter.ts';
import { fromRawHeaders } from '../sidecar/headers.ts';
import { createInboundPipeline } from '../sidecar/inbound.ts';
import { createJwtValidator, createKeySourcePool } from '../sidecar/jwt/index.ts';
import { createSidecarMetrics } from '../sidecar/metrics.ts';
import { BENCH_CLIENT_ID, BENCH_PATH, benchPolicy } from './lib/dataplane-policy.ts';
import { machine, percentile, pinSelf, requireTool, SMOKE, writeResult } from './lib/tools.ts';

const quick = process.argv.includes('--quick') || SMOKE;
const ROUND_MS = quick ? 200 : 1000;
const ROUNDS = quick ? 1 : 3;
pinSelf(1);

const cpuNow = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

/**
 * Operations per CPU second of this process (the median of ROUNDS rounds): as `openssl speed`
 * divides by user CPU time, so that other work on a shared machine does not lower the rate.
 */
async function rate(work: (i: number) => unknown): Promise<number> {
  const rounds: number[] = [];
  // Round -1 warms up the JIT and is not counted.
  for (let round = -1; round < ROUNDS; round++) {
    const end = performance.now() + ROUND_MS;
    let count = 0;
    const started = cpuNow();
    while (performance.now() < end) {
      for (let i = 0; i < 20; i++) {
        const result = work(count + i);
        if (result instanceof Promise) await result;
      }
      count += 20;
    }
    if (round >= 0) rounds.push(count / (cpuNow() - started));
  }
  return rounds.sort((a, b) => a - b)[Math.floor(rounds.length / 2)]!;
}

/** Per-call wall-clock latency samples in microseconds, sorted (preemption shows in the tail). */
async function samples(count: number, work: (i: number) => unknown): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const result = work(i);
    if (result instanceof Promise) await result;
    out.push((performance.now() - started) * 1000);
  }
  return out.sort((a, b) => a - b);
}

// --- Raw crypto. -----------------------------------------------------------------------------
requireTool('openssl', 'apt-get install openssl');
const speed = execFileSync('openssl', ['speed', '-seconds', quick ? '1' : '2', 'ecdsap256'], {
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'ignore'],
});
const speedRow = /256 bits ecdsa \(nistp256\)\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)\s+([\d.]+)/.exec(speed);
const openssl = {
  signPerSecond: Number(speedRow?.[1] ?? NaN),
  verifyPerSecond: Number(speedRow?.[2] ?? NaN),
};
const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const message = Buffer.alloc(300, 7);
const signature = sign('sha256', message, ecKey.privateKey);
const nodeCrypto = {
  signPerSecond: await rate(() => sign('sha256', message, ecKey.privateKey)),
  verifyPerSecond: await rate(() => verify('sha256', message, ecKey.publicKey, signature)),
};

// --- JWT validation. ---------------------------------------------------------------------------
const issuer = await createDemoIssuer();
const issuerConfig = {
  issuer: DEMO_ISSUER,
  jwks: JSON.parse(issuer.jwksJson) as unknown,
  audiences: [DEMO_AUDIENCE],
};
const tokens = await Promise.all(
  Array.from({ length: 64 }, (_, i) =>
    issuer.token({ sub: `user-${i}`, roles: ['reader'], amr: ['pwd'] }, 3600),
  ),
);
const cold = await samples(quick ? 50 : 300, async (i) => {
  const validator = createJwtValidator([issuerConfig]);
  await validator.verify(tokens[i % tokens.length]!);
});
// Keys cached, verified-token cache off: every call verifies the ES256 signature.
const validator = createJwtValidator([issuerConfig], { tokenCacheSize: 0 });
await validator.verify(tokens[0]!);
const warmRate = await rate((i) => validator.verify(tokens[i % tokens.length]!));
const warm = await samples(quick ? 500 : 5000, (i) => validator.verify(tokens[i % tokens.length]!));
// As the sidecar runs it: a token seen before is served from the verified-token cache.
const cachedValidator = createJwtValidator([issuerConfig]);
for (const token of tokens) await cachedValidator.verify(token);
const cachedRate = await rate((i) => cachedValidator.verify(tokens[i % tokens.length]!));
const cachedSamples = await samples(quick ? 500 : 5000, (i) =>
  cachedValidator.verify(tokens[i % tokens.length]!),
);
const jwt = {
  coldMicros: { p50: percentile(cold, 50), p99: percentile(cold, 99) },
  keysCachedPerSecond: warmRate,
  keysCachedMicros: { p50: percentile(warm, 50), p99: percentile(warm, 99) },
  tokenCachedPerSecond: cachedRate,
  tokenCachedMicros: { p50: percentile(cachedSamples, 50), p99: percentile(cachedSamples, 99) },
  note:
    '"keys cached" verifies the ES256 signature on every call (verified-token cache off); ' +
    '"token cached" is a repeated token served from the verified-token cache (SHA-256 of the token, a map lookup)',
};

// --- Authorization decisions. -----------------------------------------------------------------
function decisionFigures(rules: number) {
  const set = compilePolicies([
    {
      metadata: { name: 'orders', namespace: 'shop' },
      spec: {
        selector: { matchLabels: { app: 'orders' } },
        action: 'ALLOW',
        rules: Array.from({ length: rules }, (_, i) => ({
          name: `r${i}`,
          from: [{ principals: [`spiffe://cluster.local/ns/shop/sa/caller-${i}`] }],
          to: [{ methods: ['GET'], paths: [`/items/${i}/{id}`, `/items/${i}/{id}/parts/{**}`] }],
        })),
      },
    },
  ]);
  const view = set.index.forWorkload({ namespace: 'shop', labels: { app: 'orders' } });
  if (!view) throw new Error('the policy selects no workload');
  // Callers spread over every rule, and a sixth that match nothing (denied after all rules).
  const requests = Array.from({ length: 1200 }, (_, i) => {
    const caller = Math.floor((i * rules) / 1000);
    return {
      method: 'GET',
      host: 'orders',
      port: 80,
      path: normalizePath(`/items/${caller % rules}/42`),
      peer: `spiffe://cluster.local/ns/shop/sa/caller-${caller}`,
    };
  });
  for (const request of requests) evaluate(view, request);
  return { requests, view };
}
const decisions: Record<string, { perSecond: number; micros: { p50: number; p99: number } }> = {};
for (const rules of [10, 1000, 10_000]) {
  const { requests, view } = decisionFigures(rules);
  const perSecond = await rate((i) => evaluate(view, requests[i % requests.length]!));
  const latencies = await samples(quick ? 2000 : 20_000, (i) =>
    evaluate(view, requests[i % requests.length]!),
  );
  decisions[String(rules)] = {
    perSecond,
    micros: { p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
  };
}

// --- Path normalization. ------------------------------------------------------------------------
const rawPaths = [
  '/api/v1/orders/42',
  '/api/v1/orders/42/items/7?expand=true',
  '/api/v1/./orders/../orders/%34%32',
  '/static/css/site.min.css',
  '/api/v1/users/alice%40example.com/profile',
];
const paths = {
  perSecond: await rate((i) => normalizePath(rawPaths[i % rawPaths.length]!)),
};

// --- The server sidecar's decision work per request. ------------------------------------------
/**
 * What the server sidecar does per request besides moving bytes, with the production functions:
 * the request as the HTTP/1.1 forwarder hands it over (raw headers, host), decide(), the
 * DecisionRecord, and the decision sink. Only the sockets are missing.
 */
async function sidecarDecisionWork() {
  const set = compilePolicies([benchPolicy(issuer.jwksJson)]);
  const view = set.index.forWorkload({ namespace: 'bench', labels: { app: 'server' } });
  const pipeline = createInboundPipeline({
    policy: () => view,
    normalizePath,
    validatorFor: (issuers) => createJwtValidator(issuers, { keySources: createKeySourcePool() }),
  });
  const registry = new Registry();
  const metrics = createSidecarMetrics(registry, { svid: () => undefined, outboundConnections: () => 0 });
  const blockMetrics = createBlockMetrics(registry, {
    active: () => 0,
    receivedMs: () => undefined,
    connected: () => true,
  });
  const buffered = createBufferedLog({ name: 'lanyard-sidecar', fd: openSync('/dev/null', 'w') });
  // Never connected: the buffer is replaced before it fills, so that every record is buffered
  // (as the sidecar's flushes keep it from filling) rather than dropped.
  const newReporter = () =>
    new EventReporter({
      address: '127.0.0.1:1',
      serverId: 'spiffe://cluster.local/ns/lanyard-system/sa/lanyard',
      trustDomain: 'cluster.local',
      tls: () => {
        throw new Error('the benchmark never connects');
      },
    });
  let reporter = newReporter();
  const onDecision = createDecisionSink({
    metrics,
    blockMetrics,
    infoJson: buffered.infoJson,
    reporter: {
      record(record: DecisionRecord) {
        if (reporter.buffered >= 4000) reporter = newReporter();
        reporter.record(record);
      },
    },
  });
  const userTokens = await Promise.all(
    Array.from({ length: 16 }, (_, i) =>
      issuer.token({ sub: `user-${i}`, roles: ['reader'], amr: ['pwd'] }, 3600),
    ),
  );
  const rawHeaders = userTokens.map((token, i) => [
    'Host',
    'server.bench',
    'User-Agent',
    'Go-http-client/1.1',
    'Accept',
    'application/json',
    'Accept-Encoding',
    'gzip',
    'Authorization',
    `Bearer ${token}`,
    'Content-Type',
    'application/json',
    'X-Request-Id',
    `6f1c2d3e-4b5a-4c7d-8e9f-${String(i).padStart(12, '0')}`,
    'Traceparent',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  ]);
  const decideOne = (i: number) => {
    const raw = rawHeaders[i % rawHeaders.length]!;
    return pipeline.decide({
      method: 'GET',
      url: BENCH_PATH,
      host: hostOnly(raw[1]),
      port: 80,
      headers: fromRawHeaders(raw),
      peer: BENCH_CLIENT_ID,
    });
  };
  const oneRequest = async (i: number) => {
    const started = performance.now();
    const outcome = await decideOne(i);
    if (outcome.kind !== 'forward') throw new Error(`the bench request was refused: ${outcome.reason}`);
    onDecision(
      decisionRecord({
        peer: BENCH_CLIENT_ID,
        method: 'GET',
        outcome,
        status: 200,
        reason: outcome.decision.reason,
        path: outcome.target,
        latencyMs: performance.now() - started,
        source: '127.0.0.1',
      }),
    );
  };
  // The event loop gets a turn every 16 requests, as between a server's reads: the log
  // destination's writes complete, as they do in the sidecar, instead of piling up.
  const withTurns =
    (work: (i: number) => Promise<unknown>) =>
    async (i: number): Promise<void> => {
      await work(i);
      if (i % 16 === 15) await new Promise((resolve) => setImmediate(resolve));
    };
  const decidePerSecond = await rate(withTurns(decideOne));
  const perSecond = await rate(withTurns(oneRequest));
  // The client sidecar's per-request bookkeeping: one outbound result.
  const outboundPerSecond = await rate((i) =>
    metrics.outbound({ kind: 'mesh', status: 200, reusedConnection: i % 100 !== 0, durationMs: 0.4 }),
  );
  await buffered.close();
  return {
    cpuMicrosPerRequest: 1e6 / perSecond,
    decideCpuMicrosPerRequest: 1e6 / decidePerSecond,
    outboundMetricsCpuMicrosPerRequest: 1e6 / outboundPerSecond,
    note:
      `bench/dataplane.ts's AuthPolicy (${view.tables.allow.all.length} rules); requests match rule r48 ` +
      '(role reader, rate-limited) with 8 headers and one of 16 ES256 tokens (verified-token cache warm); ' +
      'decide() alone, and decide() plus the DecisionRecord and the decision sink (prom-client metrics, ' +
      'the decision log line to /dev/null through the async destination, the event buffer)',
  };
}
const sidecarWork = await sidecarDecisionWork();

export type MicroResult = typeof result;
const result = {
  benchmark: 'micro',
  startedAt: new Date().toISOString(),
  machine: machine(),
  setup: { quick, smoke: SMOKE },
  core: 1,
  crypto: { openssl, nodeCrypto },
  jwt,
  decisions,
  paths,
  sidecarWork,
};
const file = writeResult('micro', result);
console.log(`bench: wrote ${file}`);
console.log(
  `ECDSA P-256 openssl sign ${openssl.signPerSecond}/s verify ${openssl.verifyPerSecond}/s; ` +
    `node:crypto sign ${nodeCrypto.signPerSecond.toFixed(0)}/s verify ${nodeCrypto.verifyPerSecond.toFixed(0)}/s`,
);
console.log(
  `JWT cold p50 ${jwt.coldMicros.p50.toFixed(0)} µs; keys cached ${warmRate.toFixed(0)}/s (p50 ${jwt.keysCachedMicros.p50.toFixed(0)} µs)`,
);
for (const [rules, figures] of Object.entries(decisions)) {
  console.log(
    `decision at ${rules} rules: ${figures.perSecond.toFixed(0)}/s, p50 ${figures.micros.p50.toFixed(1)} µs, p99 ${figures.micros.p99.toFixed(1)} µs`,
  );
}
console.log(`path normalization: ${paths.perSecond.toFixed(0)}/s`);
console.log(
  `server sidecar decision work per request: ${sidecarWork.cpuMicrosPerRequest.toFixed(1)} µs CPU ` +
    `(decide alone ${sidecarWork.decideCpuMicrosPerRequest.toFixed(1)} µs); ` +
    `client outbound metrics ${sidecarWork.outboundMetricsCpuMicrosPerRequest.toFixed(2)} µs`,
);
