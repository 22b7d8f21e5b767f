import { describe, expect, it } from 'vitest';
import { normalizePath } from '../path.ts';
import { evaluate } from './engine.ts';
import { LastGoodPolicies } from './last-good.ts';

const orders = (rules: unknown[]) => ({
  metadata: { name: 'orders', namespace: 'shop' },
  spec: { action: 'ALLOW', rules },
});
const good = orders([{ name: 'web', from: [{ principals: ['spiffe://cluster.local/ns/shop/sa/web'] }] }]);
const broken = orders([{ name: 'web', to: [{ permission: 'missing' }] }]);
const request = (peer: string) => ({ method: 'GET', host: 'h', port: 80, path: normalizePath('/'), peer });
const workload = { namespace: 'shop', labels: {} };

describe('LastGoodPolicies', () => {
  it('keeps the last accepted version in force when a new version is refused (no fail-open)', () => {
    const policies = new LastGoodPolicies();
    policies.compile([good]);
    const after = policies.compile([broken]);
    expect(after.results[0]?.accepted).toBe(false);
    expect(after.retained).toEqual(new Set(['shop/orders']));
    const view = after.set.index.forWorkload(workload);
    expect(evaluate(view, request('spiffe://cluster.local/ns/shop/sa/web')).decision).toBe('ALLOW');
    expect(evaluate(view, request('spiffe://cluster.local/ns/ops/sa/x')).decision).toBe('DENY');
  });

  it('never enforces a policy that has not compiled once', () => {
    const first = new LastGoodPolicies().compile([broken]);
    expect(first.retained.size).toBe(0);
    expect(first.set.index.get({ namespace: 'shop', name: 'orders' })).toBeUndefined();
  });

  it('forgets a deleted policy, so that a refused re-creation is not replaced by its old self', () => {
    const policies = new LastGoodPolicies();
    policies.compile([good]);
    policies.compile([]);
    const recreated = policies.compile([broken]);
    expect(recreated.retained.size).toBe(0);
    expect(recreated.set.index.get({ namespace: 'shop', name: 'orders' })).toBeUndefined();
  });

  it('reuses the compile result of an unchanged policy object', () => {
    const policies = new LastGoodPolicies();
    const ops = () => ({
      metadata: { name: 'ops', namespace: 'shop' },
      spec: { action: 'ALLOW', rules: [{ from: [{ namespaces: ['ops'] }] }] },
    });
    const first = policies.compile([good, ops()]);
    const second = policies.compile([good, ops()]);
    // The same input object compiles to the very same result; a new object is compiled afresh.
    expect(second.results[0]).toBe(first.results[0]);
    expect(second.results[1]).not.toBe(first.results[1]);
    expect(second.results[1]?.accepted).toBe(true);
  });

  it('enforces the fixed version once it compiles again', () => {
    const policies = new LastGoodPolicies();
    policies.compile([good]);
    policies.compile([broken]);
    const fixed = orders([{ name: 'ops', from: [{ namespaces: ['ops'] }] }]);
    const after = policies.compile([fixed]);
    expect(after.retained.size).toBe(0);
    expect(
      evaluate(after.set.index.forWorkload(workload), request('spiffe://cluster.local/ns/ops/sa/x')).decision,
    ).toBe('ALLOW');
  });
});
