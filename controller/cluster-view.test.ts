import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { buildClusterView } from './cluster-view.ts';

const pod = (namespace: string, name: string, labels?: Record<string, string>, phase = 'Running'): V1Pod => ({
  metadata: { namespace, name, ...(labels ? { labels } : {}) },
  status: { phase },
});

describe('buildClusterView', () => {
  it('counts the live pods each policy selects: pods without labels, finished pods, other namespaces', () => {
    const view = buildClusterView(
      [
        {
          metadata: { name: 'all', namespace: 'shop', generation: 2 },
          spec: { action: 'DENY', rules: [{ to: [{ paths: ['/x'] }] }] },
        },
        {
          metadata: { name: 'orders', namespace: 'shop', generation: 1 },
          spec: {
            selector: { matchLabels: { app: 'orders' } },
            action: 'ALLOW',
            rules: [{ from: [{ namespaces: ['shop'] }] }],
          },
        },
        {
          metadata: { name: 'nothing', namespace: 'shop', generation: 1 },
          spec: {
            selector: { matchLabels: { app: 'ghost' } },
            action: 'ALLOW',
            rules: [{ from: [{ namespaces: ['shop'] }] }],
          },
        },
      ],
      [
        pod('shop', 'unlabelled'),
        pod('shop', 'orders-1', { app: 'orders' }),
        pod('shop', 'orders-done', { app: 'orders' }, 'Succeeded'),
        pod('bank', 'orders-elsewhere', { app: 'orders' }),
      ],
      {},
    );
    expect(Object.fromEntries(view.selectedWorkloads)).toEqual({
      'shop/all': 2,
      'shop/orders': 1,
      'shop/nothing': 0,
    });
    expect(view.generations.get('shop/all')).toBe(2);
  });

  it('handles 10,000 policies over 200 namespaces', () => {
    const policies = Array.from({ length: 10_000 }, (_, i) => ({
      metadata: { name: `p${i}`, namespace: `ns-${i % 200}`, generation: 1 },
      spec: {
        selector: { matchLabels: { app: `a${i % 50}` } },
        action: 'ALLOW',
        rules: [{ from: [{ namespaces: ['x'] }] }],
      },
    }));
    const pods = Array.from({ length: 2_000 }, (_, i) =>
      pod(`ns-${i % 200}`, `pod-${i}`, { app: `a${i % 50}` }),
    );
    const view = buildClusterView(policies, pods, {});
    expect(view.policySet.results.filter((r) => r.accepted)).toHaveLength(10_000);
    const total = [...view.selectedWorkloads.values()].reduce((sum, n) => sum + n, 0);
    // Namespace k holds 50 policies, all selecting app a(k % 50), the label of every pod there.
    expect(total).toBe(2_000 * 50);
  });
});
