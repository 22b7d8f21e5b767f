import { describe, expect, it } from 'vitest';
import { compilePolicies, evaluate } from '../policy/index.ts';
import { normalizePath } from '../path.ts';
import { buildSnapshot, compileSnapshot } from './snapshot.ts';

const options = {
  rootNamespace: 'lanyard-system',
  trustDomain: 'cluster.local',
  defaultAction: 'ALLOW',
  defaultMtls: 'STRICT',
} as const;

const policies = [
  {
    metadata: { name: 'orders', namespace: 'shop', generation: 4 },
    spec: {
      selector: { matchLabels: { app: 'orders' } },
      action: 'ALLOW',
      rules: [{ from: [{ namespaces: ['shop'] }] }],
    },
  },
  {
    metadata: { name: 'secret', namespace: 'bank', generation: 1 },
    spec: { action: 'DENY', rules: [{ to: [{ paths: ['/vault'] }] }] },
  },
  {
    metadata: { name: 'no-admin', namespace: 'lanyard-system', generation: 2 },
    spec: { action: 'DENY', rules: [{ to: [{ paths: ['/admin'] }] }] },
  },
];
const { index } = compilePolicies(policies, options);
const generation = (p: { ref: { namespace: string; name: string } }) =>
  policies.find((x) => x.metadata.name === p.ref.name)!.metadata.generation;
const orders = { namespace: 'shop', labels: { app: 'orders' } };

describe('policy snapshots', () => {
  it('holds only the policies that select the workload: its own and mesh-wide, never another namespace', () => {
    const snapshot = buildSnapshot(index, options, orders, generation);
    expect(
      snapshot.policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}@${p.metadata.generation}`),
    ).toEqual(['shop/orders@4', 'lanyard-system/no-admin@2']);
  });

  it('has a version that changes with content and not with property order', () => {
    const a = buildSnapshot(index, options, orders, generation);
    const b = buildSnapshot(index, { ...options }, orders, generation);
    expect(a.version).toBe(b.version);
    const other = buildSnapshot(index, options, { namespace: 'shop', labels: { app: 'web' } }, generation);
    expect(other.version).not.toBe(a.version);
  });

  it('compiles on the receiving side to the same decisions', () => {
    const snapshot = buildSnapshot(index, options, orders, generation);
    const received = compileSnapshot(JSON.parse(JSON.stringify(snapshot)) as typeof snapshot, orders);
    expect(received.ok).toBe(true);
    if (!received.ok) return;
    const request = {
      method: 'GET',
      host: 'orders',
      port: 80,
      path: normalizePath('/admin'),
      peer: 'spiffe://cluster.local/ns/shop/sa/web',
    };
    expect(evaluate(received.policy, request)).toMatchObject({
      decision: 'DENY',
      decidedBy: { rule: 'rules[0]' },
    });
    expect(evaluate(received.policy, { ...request, path: normalizePath('/orders') }).decision).toBe('ALLOW');
  });

  it('refuses (NACKs) a snapshot with a policy that does not compile, or of another namespace', () => {
    const snapshot = buildSnapshot(index, options, orders, generation);
    const broken = structuredClone(snapshot);
    (broken.policies[0]!.spec as { rules: unknown }).rules = [{ to: [{ permission: 'nope' }] }];
    expect(compileSnapshot(broken, orders)).toMatchObject({ ok: false, error: /does not compile/ });
    const foreign = structuredClone(snapshot);
    foreign.policies[0]!.metadata.namespace = 'bank';
    expect(compileSnapshot(foreign, orders)).toMatchObject({ ok: false, error: /another namespace/ });
  });
});
