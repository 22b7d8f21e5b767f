import { describe, expect, it } from 'vitest';
import type { Detection } from '../monitor/detectors.ts';
import type { MonitorEvent } from '../monitor/event.ts';
import { DashboardModel, NO_PEER, OTHER, Ring } from './model.ts';

const T0 = Date.UTC(2026, 10, 29, 12);
const WEB = 'spiffe://cluster.local/ns/demo/sa/web';
const ORDERS = 'spiffe://cluster.local/ns/demo/sa/orders';

function event(overrides: Partial<MonitorEvent> = {}): MonitorEvent {
  return {
    reporter: ORDERS,
    peer: WEB,
    timeMs: T0,
    method: 'GET',
    path: '/orders/17',
    decision: 'ALLOW',
    reason: 'ALLOWED',
    latencyMs: 1,
    status: 200,
    ...overrides,
  };
}

describe('DashboardModel', () => {
  it('counts allows and denies per caller and reporting workload', () => {
    const model = new DashboardModel();
    model.recordEvent(event());
    model.recordEvent(event({ timeMs: T0 + 5 }));
    model.recordEvent(event({ decision: 'DENY', reason: 'DENIED', status: 403, timeMs: T0 + 9 }));
    model.recordEvent(event({ peer: undefined, reporter: WEB }));
    const { edges, totals } = model.snapshot();
    expect(edges).toEqual([
      { from: WEB, to: ORDERS, allow: 2, deny: 1, lastMs: T0 + 9 },
      { from: NO_PEER, to: WEB, allow: 1, deny: 0, lastMs: T0 },
    ]);
    expect(totals).toEqual({ allow: 3, deny: 1 });
  });

  it('keeps at most maxEdges edges, counting the rest in one "other" edge', () => {
    const model = new DashboardModel({ maxEdges: 3 });
    for (let i = 0; i < 10; i += 1) {
      model.recordEvent(event({ peer: `spiffe://cluster.local/ns/demo/sa/caller-${i}` }));
    }
    model.recordEvent(event({ peer: 'spiffe://cluster.local/ns/demo/sa/caller-0', decision: 'DENY' }));
    const { edges } = model.snapshot();
    expect(edges).toHaveLength(3);
    expect(edges.find((e) => e.from.endsWith('caller-0'))).toMatchObject({ allow: 1, deny: 1 });
    expect(edges.find((e) => e.from === OTHER)).toMatchObject({ to: OTHER, allow: 8, deny: 0 });
  });

  it('keeps the last maxDenials denials, newest first, with the policy and rule that decided', () => {
    const model = new DashboardModel({ maxDenials: 3 });
    for (let i = 0; i < 5; i += 1) {
      model.recordEvent(
        event({
          decision: 'DENY',
          reason: 'DENIED',
          status: 403,
          path: `/orders/${i}`,
          policy: 'demo/orders',
          rule: 'web-reads',
          user: 'mallory',
          timeMs: T0 + i,
        }),
      );
    }
    model.recordEvent(event({ path: '/allowed' }));
    const { denials } = model.snapshot();
    expect(denials.map((d) => d.path)).toEqual(['/orders/4', '/orders/3', '/orders/2']);
    expect(denials[0]).toEqual({
      timeMs: T0 + 4,
      reporter: ORDERS,
      peer: WEB,
      user: 'mallory',
      method: 'GET',
      path: '/orders/4',
      reason: 'DENIED',
      policy: 'demo/orders',
      rule: 'web-reads',
      status: 403,
    });
  });

  it('keeps the last maxAnomalies detections with their block', () => {
    const model = new DashboardModel({ maxAnomalies: 2 });
    const detection = (count: number): Detection => ({
      kind: 'denial-spike',
      subject: { type: 'principal', value: WEB },
      windowMs: 60_000,
      threshold: 20,
      count,
      firstMs: T0,
      lastMs: T0 + count,
    });
    model.recordDetection(detection(20), 'first');
    model.recordDetection(detection(21), 'second');
    model.recordDetection(detection(22), 'third', {
      id: 'b1',
      type: 'principal',
      value: WEB,
      createdMs: T0,
      expiresMs: T0 + 60_000,
      reason: 'denial-spike',
      by: 'detector',
    });
    const { anomalies } = model.snapshot();
    expect(anomalies.map((a) => a.message)).toEqual(['third', 'second']);
    expect(anomalies[0]!.block).toEqual({ id: 'b1', expiresMs: T0 + 60_000 });
  });

  it('hands out copies: a snapshot does not change with later events', () => {
    const model = new DashboardModel();
    model.recordEvent(event());
    const before = model.snapshot();
    model.recordEvent(event());
    expect(before.edges[0]!.allow).toBe(1);
    expect(model.snapshot().edges[0]!.allow).toBe(2);
  });

  it('refuses caps out of bounds', () => {
    expect(() => new DashboardModel({ maxEdges: 0 })).toThrow(TypeError);
    expect(() => new DashboardModel({ maxDenials: 1.5 })).toThrow(TypeError);
  });
});

describe('Ring', () => {
  it('keeps the last capacity items, newest first', () => {
    const ring = new Ring<number>(3);
    expect(ring.newestFirst()).toEqual([]);
    for (let i = 1; i <= 7; i += 1) ring.push(i);
    expect(ring.newestFirst()).toEqual([7, 6, 5]);
  });
});
