import { describe, expect, it } from 'vitest';
import { LastGoodPolicies } from '../../lib/policy/index.ts';
import { policy } from '../../test/helpers/policy-fixtures.ts';
import { folderPolicyView, policyStates } from './policies.ts';

const ordersOnly = policy('orders', {
  selector: { matchLabels: { app: 'orders' } },
  action: 'ALLOW',
  rules: [{ name: 'any', from: [{ namespaces: ['shop'] }] }],
});
const wholeNamespace = policy('everyone', {
  action: 'ALLOW',
  rules: [{ name: 'any', from: [{ namespaces: ['shop'] }] }],
});
const broken = policy('broken', { action: 'ALLOW', rules: [{ name: 'typo', to: [{ permission: 'wrte' }] }] });

const workloads = [
  { namespace: 'shop', labels: { app: 'orders' } },
  { namespace: 'shop', labels: { app: 'web' } },
  { namespace: 'other', labels: { app: 'orders' } },
];

describe('AuthPolicies on the dashboard', () => {
  it('counts the registered workloads each accepted policy selects and reports the rejected ones', () => {
    const lastGood = new LastGoodPolicies();
    const compiled = lastGood.compile([ordersOnly, wholeNamespace, broken]);
    const generations = new Map([
      ['shop/orders', 1],
      ['shop/everyone', 1],
      ['shop/broken', 1],
    ]);
    const view = folderPolicyView(compiled, generations, workloads);
    expect(Object.fromEntries(view.selectedWorkloads)).toEqual({ 'shop/orders': 1, 'shop/everyone': 2 });

    const delivered = (key: string) =>
      key === 'shop/orders' ? { connected: 1, acknowledged: 1 } : { connected: 0, acknowledged: 0 };
    const states = new Map(policyStates(view, delivered, Date.UTC(2026, 0, 1)).map((s) => [s.key, s.status]));
    const conditions = (key: string) =>
      states.get(key)!.conditions!.map((c) => `${c.type}=${c.status}/${c.reason}`);
    expect(conditions('shop/orders')).toEqual(['Accepted=True/Accepted', 'Ready=True/Delivered']);
    expect(conditions('shop/everyone')).toEqual([
      'Accepted=True/Accepted',
      'Ready=Unknown/NoSidecarsConnected',
    ]);
    expect(conditions('shop/broken')).toEqual(['Accepted=False/Invalid', 'Ready=False/NotAccepted']);
    expect(states.get('shop/broken')!.conditions![0]!.message).toMatch(/wrte/);
  });

  it('lists nothing before the policies are loaded', () => {
    expect(policyStates(undefined, () => ({ connected: 0, acknowledged: 0 }), 0)).toEqual([]);
  });
});
