import { describe, expect, it } from 'vitest';
import { compilePolicies } from './compile-all.ts';
import { evaluate } from './engine.ts';
import { policy, request } from '../../test/helpers/policy-fixtures.ts';
import type { AuthPolicySpec } from './types.generated.ts';

const deny = (path: string): AuthPolicySpec => ({ action: 'DENY', rules: [{ to: [{ paths: [path] }] }] });
const names = (policies: { key: string }[]) => policies.map((p) => p.key);

describe('PolicyIndex selection', () => {
  const { index } = compilePolicies([
    policy('whole-namespace', deny('/a')),
    policy('orders-only', { ...deny('/b'), selector: { matchLabels: { app: 'orders' } } }),
    policy('not-canary', {
      ...deny('/c'),
      selector: { matchExpressions: [{ key: 'track', operator: 'NotIn', values: ['canary'] }] },
    }),
    policy('has-tier', {
      ...deny('/d'),
      selector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] },
    }),
    policy('empty-selector', { ...deny('/e'), selector: {} }),
    policy('other-namespace', deny('/f'), 'billing'),
    policy('mesh-wide', deny('/g'), 'lanyard-system'),
  ]);

  it('selects by namespace and labels; no selector and an empty selector select the whole namespace', () => {
    expect(names(index.policiesFor({ namespace: 'shop', labels: { app: 'orders' } }))).toEqual([
      'shop/empty-selector',
      'shop/not-canary',
      'shop/orders-only',
      'shop/whole-namespace',
      'lanyard-system/mesh-wide',
    ]);
    expect(
      names(index.policiesFor({ namespace: 'shop', labels: { app: 'web', track: 'canary', tier: 'front' } })),
    ).toEqual(['shop/empty-selector', 'shop/has-tier', 'shop/whole-namespace', 'lanyard-system/mesh-wide']);
  });

  it('applies root-namespace policies to every workload of the mesh, once', () => {
    expect(names(index.policiesFor({ namespace: 'billing', labels: {} }))).toEqual([
      'billing/other-namespace',
      'lanyard-system/mesh-wide',
    ]);
    expect(names(index.policiesFor({ namespace: 'lanyard-system', labels: {} }))).toEqual([
      'lanyard-system/mesh-wide',
    ]);
    expect(names(index.policiesFor({ namespace: 'empty', labels: {} }))).toEqual([
      'lanyard-system/mesh-wide',
    ]);
  });

  it('the root namespace is configurable', () => {
    const { index: custom } = compilePolicies([policy('mesh', deny('/g'), 'mesh-root')], {
      rootNamespace: 'mesh-root',
    });
    expect(names(custom.policiesFor({ namespace: 'shop', labels: {} }))).toEqual(['mesh-root/mesh']);
  });

  it('a pod without labels is selected only by policies without label requirements', () => {
    expect(names(index.policiesFor({ namespace: 'shop', labels: {} }))).toEqual([
      'shop/empty-selector',
      'shop/not-canary',
      'shop/whole-namespace',
      'lanyard-system/mesh-wide',
    ]);
  });

  it('does not read labels inherited from Object.prototype', () => {
    const { index: proto } = compilePolicies([
      policy('p', {
        ...deny('/x'),
        selector: { matchExpressions: [{ key: 'constructor', operator: 'Exists' }] },
      }),
    ]);
    expect(proto.policiesFor({ namespace: 'shop', labels: {} })).toEqual([]);
  });

  it('selects() agrees with policiesFor(), for counting selected workloads', () => {
    const ordersOnly = index.get({ namespace: 'shop', name: 'orders-only' })!;
    expect(index.selects(ordersOnly, { namespace: 'shop', labels: { app: 'orders' } })).toBe(true);
    expect(index.selects(ordersOnly, { namespace: 'billing', labels: { app: 'orders' } })).toBe(false);
  });
});

describe('evaluation looks only at the selected workload policies', () => {
  const workload = { namespace: 'shop', labels: { app: 'orders' } };
  const own = [
    policy('allow-reads', { rules: [{ name: 'reads', to: [{ methods: ['GET'] }] }] }),
    policy('deny-admin', deny('/admin')),
  ];
  // Many policies elsewhere, each of which would deny everything if it were looked at.
  const elsewhere = Array.from({ length: 5000 }, (_, i) =>
    policy(`deny-all-${i}`, { action: 'DENY', rules: [{ from: [{ principals: ['*'] }] }] }, `team-${i}`),
  );
  const unselected = Array.from({ length: 500 }, (_, i) =>
    policy(`deny-web-${i}`, { ...deny('/{**}'), selector: { matchLabels: { app: `web-${i}` } } }),
  );

  it('gives the same decision and visits the same number of rules however many other policies exist', () => {
    const small = compilePolicies(own).index.forWorkload(workload);
    const large = compilePolicies([...elsewhere, ...own, ...unselected]).index.forWorkload(workload);
    for (const req of [request('GET', '/orders'), request('POST', '/orders'), request('GET', '/admin')]) {
      const a = evaluate(small, req);
      const b = evaluate(large, req);
      expect(b).toEqual(a);
      expect(b.rulesEvaluated).toBeLessThanOrEqual(2);
    }
    expect([...large.allow, ...large.deny].map((p) => p.key).sort()).toEqual([
      'shop/allow-reads',
      'shop/deny-admin',
    ]);
  });
});

describe('WorkloadPolicy.userTokens', () => {
  const issuer = (name: string, audience: string) => ({
    issuer: `https://${name}.example`,
    jwksUri: `https://${name}.example/jwks`,
    audiences: [audience],
  });
  const rules = [{ from: [{ principals: ['*'] }] }];

  it('collects the issuers of enforced policies, one per issuer, own namespace first, with defaults', () => {
    const { index } = compilePolicies([
      policy(
        'mesh',
        { userTokens: [issuer('corp', 'mesh'), issuer('shared', 'mesh')], rules },
        'lanyard-system',
      ),
      policy('own', { userTokens: [issuer('shared', 'orders')], rules }),
      policy('trial', { dryRun: true, userTokens: [issuer('trial', 'x')], rules }),
    ]);
    const tokens = index.forWorkload({ namespace: 'shop', labels: {} }).userTokens;
    expect(tokens.map((t) => [t.issuer, t.audiences[0]])).toEqual([
      ['https://shared.example', 'orders'],
      ['https://corp.example', 'mesh'],
    ]);
    expect(tokens[0]).toMatchObject({
      forward: true,
      from: [{ header: 'authorization', prefix: 'Bearer ' }],
    });
  });
});
