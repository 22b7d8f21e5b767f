import { X509Certificate } from 'node:crypto';
import type { Server } from '@grpc/grpc-js';
import { startTlsGrpcServer } from '../test/helpers/grpc-server.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilePolicies, evaluate, type WorkloadPolicy } from '../lib/policy/index.ts';
import { normalizePath } from '../lib/path.ts';
import { resolveOptions } from '../lib/policy/options.ts';
import { PolicyClient } from '../sidecar/policy-client.ts';
import { createTestCa, type PemPair, type TestCa } from '../test/helpers/pki.ts';
import { PolicyStream, type PublishedPolicies } from './policy-stream.ts';

const CONTROLLER = 'spiffe://cluster.local/ns/lanyard-system/sa/lanyard-controller';
let ca: TestCa;
let server: Server;
let stream: PolicyStream;
let address: string;
const pods: Record<string, { namespace: string; serviceAccount: string; labels: Record<string, string> }> = {
  'orders-1': { namespace: 'shop', serviceAccount: 'orders', labels: { app: 'orders' } },
  'vault-1': { namespace: 'bank', serviceAccount: 'vault', labels: { app: 'vault' } },
};

const policyObjects = (ordersRule: string) => [
  {
    metadata: { name: 'orders', namespace: 'shop', generation: 1 },
    spec: { action: 'ALLOW', rules: [{ name: ordersRule, from: [{ namespaces: ['shop'] }] }] },
  },
  {
    metadata: { name: 'vault', namespace: 'bank', generation: 7 },
    spec: {
      action: 'ALLOW',
      rules: [{ name: 'tellers', from: [{ principals: ['spiffe://cluster.local/ns/bank/sa/teller'] }] }],
    },
  },
];

function published(objects: ReturnType<typeof policyObjects>): PublishedPolicies {
  const options = resolveOptions({});
  const { index } = compilePolicies(objects, options);
  return {
    index,
    options,
    generations: new Map(
      objects.map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o.metadata.generation]),
    ),
  };
}

async function workloadCert(namespace: string, serviceAccount: string): Promise<PemPair> {
  return ca.issue({
    subject: 'CN=w',
    uris: [`spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}`],
    usage: 'both',
  });
}

beforeAll(async () => {
  ca = await createTestCa();
  const serving = await ca.issue({ subject: 'CN=controller', uris: [CONTROLLER], usage: 'both' });
  stream = new PolicyStream({
    trustDomain: 'cluster.local',
    signers: () => [new X509Certificate(ca.certPem)],
    resolver: {
      resolve: (identity, podName) => {
        const pod = pods[podName];
        if (!pod || pod.namespace !== identity.namespace || pod.serviceAccount !== identity.serviceAccount)
          return undefined;
        return { namespace: pod.namespace, labels: pod.labels };
      },
    },
  });
  stream.publish(published(policyObjects('shop-callers')));
  ({ server, address } = await startTlsGrpcServer(
    { definition: stream.definition, implementation: stream.implementation() },
    ca.certPem,
    serving,
  ));
});

afterAll(() => {
  server.forceShutdown();
});

function connect(cert: PemPair, podName: string, serverId = CONTROLLER) {
  const received: { policy: WorkloadPolicy; version: string }[] = [];
  const errors: string[] = [];
  const client = new PolicyClient({
    address,
    serverId,
    trustDomain: 'cluster.local',
    podName,
    tls: () => ({ certChainPem: cert.certPem, keyPem: cert.keyPem, bundlePem: ca.certPem }),
    onPolicy: (policy, version) => received.push({ policy, version }),
    log: {
      debug: () => {},
      info: () => {},
      error: () => {},
      warn: (fields) => errors.push(String(fields.reason)),
    },
  });
  client.start();
  return { client, received, errors };
}

async function eventually<T>(check: () => T | undefined, what: string | (() => string)): Promise<T> {
  const deadline = Date.now() + 4_000;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const request = (peer: string) => ({ method: 'GET', host: 'h', port: 80, path: normalizePath('/'), peer });

describe('policy stream', () => {
  it('delivers the policies selecting the caller pod, and counts the ACK as delivery', async () => {
    const { client, received } = connect(await workloadCert('shop', 'orders'), 'orders-1');
    try {
      const first = await eventually(() => received[0], 'a snapshot');
      expect(first.policy.allow.map((p) => p.key)).toEqual(['shop/orders']);
      expect(evaluate(first.policy, request('spiffe://cluster.local/ns/shop/sa/web')).decidedBy?.rule).toBe(
        'shop-callers',
      );
      await eventually(
        () => (stream.delivery('shop/orders', 1).acknowledged === 1 ? true : undefined),
        'the ACK',
      );
      expect(stream.delivery('bank/vault', 7)).toEqual({ connected: 0, acknowledged: 0 });

      stream.publish(published(policyObjects('renamed-rule')));
      const second = await eventually(() => received[1], 'the updated snapshot');
      expect(evaluate(second.policy, request('spiffe://cluster.local/ns/shop/sa/web')).decidedBy?.rule).toBe(
        'renamed-rule',
      );
      expect(second.version).not.toBe(first.version);
    } finally {
      client.stop();
    }
  });

  it('counts a new generation once ACKed, and stops counting a sidecar that left', async () => {
    stream.publish(published(policyObjects('shop-callers')));
    const { client } = connect(await workloadCert('shop', 'orders'), 'orders-1');
    try {
      await eventually(
        () => (stream.delivery('shop/orders', 1).acknowledged === 1 ? true : undefined),
        'the ACK of generation 1',
      );
      expect(stream.delivery('shop/orders', 2)).toEqual({ connected: 1, acknowledged: 0 });
      const next = policyObjects('generation-two');
      next[0]!.metadata.generation = 2;
      stream.publish(published(next));
      await eventually(
        () => (stream.delivery('shop/orders', 2).acknowledged === 1 ? true : undefined),
        'the ACK of generation 2',
      );
    } finally {
      client.stop();
    }
    await eventually(
      () => (stream.delivery('shop/orders', 1).connected === 0 ? true : undefined),
      'the departure',
    );
    expect(stream.delivery('shop/orders', 1)).toEqual({ connected: 0, acknowledged: 0 });
  });

  it('never gives a workload of namespace A the policies of namespace B', async () => {
    const { client, received } = connect(await workloadCert('shop', 'orders'), 'orders-1');
    try {
      const snapshot = await eventually(() => received[0], 'a snapshot');
      const all = [
        ...snapshot.policy.allow,
        ...snapshot.policy.deny,
        ...snapshot.policy.audit,
        ...snapshot.policy.dryRun,
      ];
      expect(all.every((p) => p.ref.namespace === 'shop')).toBe(true);
    } finally {
      client.stop();
    }
  });

  it('refuses a caller naming a pod of another identity (no borrowing bank policies)', async () => {
    const { client, received, errors } = connect(await workloadCert('shop', 'orders'), 'vault-1');
    try {
      await eventually(() => errors.find((e) => /PERMISSION_DENIED|no pod "vault-1"/.test(e)), 'a refusal');
      expect(received).toEqual([]);
    } finally {
      client.stop();
    }
  });

  // The port takes client certificates without verifying them (as the CA's does, for bootstrap
  // callers): the stream must check the chain itself.
  it('refuses a client whose certificate is not from the mesh CA', async () => {
    const stranger = await (
      await createTestCa('stranger')
    ).issue({
      subject: 'CN=x',
      uris: ['spiffe://cluster.local/ns/shop/sa/orders'],
      usage: 'both',
    });
    const { client, received, errors } = connect(stranger, 'orders-1');
    try {
      await eventually(
        () => errors.find((e) => /UNAUTHENTICATED|SVID/.test(e)),
        () => `an UNAUTHENTICATED refusal, got: ${errors.join(' | ')}`,
      );
      expect(received).toEqual([]);
    } finally {
      client.stop();
    }
  });

  it('the sidecar refuses a control plane with another SPIFFE ID', async () => {
    const { client, received, errors } = connect(
      await workloadCert('shop', 'orders'),
      'orders-1',
      'spiffe://cluster.local/ns/lanyard-system/sa/someone-else',
    );
    try {
      await eventually(() => errors[0], 'a failure');
      expect(received).toEqual([]);
    } finally {
      client.stop();
    }
  });
});
