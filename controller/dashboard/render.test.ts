import { describe, expect, it } from 'vitest';
import { DashboardModel } from './model.ts';
import { escapeHtml, renderDashboard, renderLogin } from './render.ts';
import { buildView, formatRelative, layoutGraph, MAX_DRAWN_EDGES, shortName } from './view.ts';

const T0 = Date.UTC(2026, 10, 29, 12);
const WEB = 'spiffe://cluster.local/ns/demo/sa/web';
const ORDERS = 'spiffe://cluster.local/ns/demo/sa/orders';
const HOSTILE_PEER = 'spiffe://cluster.local/ns/demo/sa/<script>alert(1)</script>';

function hostileView() {
  const model = new DashboardModel();
  model.recordEvent({
    reporter: ORDERS,
    peer: HOSTILE_PEER,
    timeMs: T0,
    method: 'GET',
    path: '/orders/"><script>alert(2)</script>',
    decision: 'DENY',
    reason: 'DENIED',
    policy: 'demo/<b>orders</b>',
    rule: "it's <img src=x onerror=alert(3)>",
    user: '<svg onload=alert(4)>',
    latencyMs: 1,
    status: 403,
  });
  return buildView({
    model: model.snapshot(),
    sidecars: [{ spiffeId: WEB, podName: 'web<i>', connectedMs: T0, certificateExpiresMs: T0 + 3600_000 }],
    policies: [],
    blocks: [
      {
        id: 'b1',
        type: 'user',
        value: '<script>alert(5)</script>',
        reason: 'operator & "friends"',
        by: 'operator',
        createdMs: T0,
        expiresMs: T0 + 60_000,
      },
    ],
    now: T0 + 1000,
  });
}

describe('rendering', () => {
  it('escapes every hostile string: no markup from data reaches the page', () => {
    const html = renderDashboard(hostileView());
    expect(html).not.toMatch(/<script>alert|<img|<svg onload|<b>orders|<i>/);
    expect(html).toContain('/orders/&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('it&#39;s &lt;img src=x onerror=alert(3)&gt;');
    expect(html).toContain('operator &amp; &quot;friends&quot;');
    // The only script is the file the CSP allows.
    expect(html.match(/<script/g)).toEqual(['<script']);
    expect(html).toContain('<script src="/assets/dashboard.js" defer></script>');
    expect(html).not.toMatch(/<[^>]*\s(style|on[a-z]+)=/);
  });

  it('escapes the login page error and form token', () => {
    const html = renderLogin({ csrf: '"><x', error: '<b>bad</b>' });
    expect(html).toContain('value="&quot;&gt;&lt;x"');
    expect(html).toContain('&lt;b&gt;bad&lt;/b&gt;');
    expect(html).not.toContain('<script');
  });

  it('is accessible: a language, headings, table headers and a text alternative for the graph', () => {
    const html = renderDashboard(hostileView());
    expect(html).toMatch(/<html lang="en">/);
    expect(html).toContain('<h1>Lanyard dashboard</h1>');
    for (const title of [
      'Workloads',
      'AuthPolicies',
      'Calls',
      'Recent denials',
      'Active blocks',
      'Recent anomalies',
    ]) {
      expect(html).toContain(`>${title} <span`);
    }
    expect(html).toContain('<th scope="col">Decided by</th>');
    expect(html).toMatch(/<svg id="graph" role="img" aria-labelledby="graph-title graph-desc"/);
  });

  it('escapes the characters that matter', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
    );
  });
});

describe('view', () => {
  it('names the rule that decided a denial and formats expiry of certificates and blocks', () => {
    const view = hostileView();
    expect(view.tables.denials.rows[0]![5]).toBe("demo/<b>orders</b> rule it's <img src=x onerror=alert(3)>");
    expect(view.tables.workloads.rows[0]).toEqual([
      WEB,
      'web<i>',
      '2026-11-29T13:00:00Z (in 60 min)',
      '2026-11-29T12:00:00Z',
    ]);
    expect(view.tables.blocks.rows[0]![4]).toBe('2026-11-29T12:01:00Z (in 59 s)');
    expect(view.totals).toEqual({ allow: 0, deny: 1, sidecars: 1, blocks: 1 });
  });

  it('leaves expired blocks out', () => {
    const view = buildView({
      model: new DashboardModel().snapshot(),
      sidecars: [],
      policies: [],
      blocks: [
        { id: 'b', type: 'user', value: 'u', reason: 'r', by: 'operator', createdMs: T0, expiresMs: T0 },
      ],
      now: T0,
    });
    expect(view.tables.blocks.total).toBe(0);
  });

  it('lays out the busiest edges between distinct nodes, with their counts', () => {
    const edges = Array.from({ length: MAX_DRAWN_EDGES + 5 }, (_, i) => ({
      from: `spiffe://cluster.local/ns/demo/sa/c${i}`,
      to: ORDERS,
      allow: i,
      deny: 1,
      lastMs: T0,
    }));
    edges.push({ from: WEB, to: WEB, allow: 1000, deny: 0, lastMs: T0 });
    const graph = layoutGraph(edges);
    expect(graph.edges).toHaveLength(MAX_DRAWN_EDGES);
    expect(graph.omitted).toBe(5);
    expect(graph.edges[0]).toMatchObject({ allow: MAX_DRAWN_EDGES + 4, deny: 1 });
    expect(graph.edges.some((e) => e.from === e.to)).toBe(false);
    expect(graph.nodes).toHaveLength(MAX_DRAWN_EDGES + 1);
    for (const node of graph.nodes) {
      expect(node.x).toBeGreaterThanOrEqual(0);
      expect(node.x).toBeLessThanOrEqual(graph.width);
    }
  });

  it('shortens SPIFFE IDs and times', () => {
    expect(shortName(WEB)).toBe('demo/web');
    expect(shortName('spiffe://x/other')).toBe('spiffe://x/other');
    expect(formatRelative(T0 + 90 * 60_000, T0)).toBe('in 90 min');
    expect(formatRelative(T0 - 5000, T0)).toBe('5 s ago');
  });
});
