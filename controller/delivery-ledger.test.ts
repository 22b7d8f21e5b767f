import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeliveryLedger, type SnapshotPolicies } from './delivery-ledger.ts';

const snapshot = (entries: Record<string, number>): SnapshotPolicies => new Map(Object.entries(entries));

/** The count the stream used to make: visit every sidecar for every question. */
function bruteForce(
  sidecars: ReadonlyMap<number, { sent?: SnapshotPolicies; acked?: SnapshotPolicies }>,
  key: string,
  generation: number,
) {
  let connected = 0;
  let acknowledged = 0;
  for (const { sent, acked } of sidecars.values()) {
    if (!sent?.has(key)) continue;
    connected += 1;
    const ackedGeneration = acked?.get(key);
    if (ackedGeneration !== undefined && ackedGeneration >= generation) acknowledged += 1;
  }
  return { connected, acknowledged };
}

describe('DeliveryLedger', () => {
  it('counts sidecars sent a policy and those that ACKed its generation or a newer one', () => {
    const ledger = new DeliveryLedger<object>();
    const [a, b, c] = [{}, {}, {}];
    ledger.update(a, snapshot({ 'shop/p': 2, 'shop/q': 1 }), snapshot({ 'shop/p': 2, 'shop/q': 1 }));
    ledger.update(b, snapshot({ 'shop/p': 2 }), snapshot({ 'shop/p': 1 }));
    ledger.update(c, snapshot({ 'shop/p': 2 }), undefined);
    expect(ledger.delivery('shop/p', 2)).toEqual({ connected: 3, acknowledged: 1 });
    expect(ledger.delivery('shop/p', 1)).toEqual({ connected: 3, acknowledged: 2 });
    expect(ledger.delivery('shop/q', 1)).toEqual({ connected: 1, acknowledged: 1 });
    expect(ledger.delivery('shop/none', 1)).toEqual({ connected: 0, acknowledged: 0 });
  });

  it('does not count an ACK of a policy the sidecar is no longer sent (its labels changed)', () => {
    const ledger = new DeliveryLedger<object>();
    const sidecar = {};
    ledger.update(sidecar, snapshot({ 'shop/p': 1 }), snapshot({ 'shop/p': 1 }));
    ledger.update(sidecar, snapshot({ 'shop/q': 1 }), snapshot({ 'shop/p': 1 }));
    expect(ledger.delivery('shop/p', 1)).toEqual({ connected: 0, acknowledged: 0 });
    expect(ledger.delivery('shop/q', 1)).toEqual({ connected: 1, acknowledged: 0 });
  });

  it('forgets a sidecar that left, once, however often it is removed', () => {
    const ledger = new DeliveryLedger<object>();
    const [a, b] = [{}, {}];
    ledger.update(a, snapshot({ 'shop/p': 1 }), snapshot({ 'shop/p': 1 }));
    ledger.update(b, snapshot({ 'shop/p': 1 }), snapshot({ 'shop/p': 1 }));
    ledger.remove(a);
    ledger.remove(a);
    expect(ledger.delivery('shop/p', 1)).toEqual({ connected: 1, acknowledged: 1 });
    ledger.remove(b);
    expect(ledger.delivery('shop/p', 1)).toEqual({ connected: 0, acknowledged: 0 });
  });

  it('agrees with visiting every sidecar, whatever the sequence of sends, ACKs and departures', () => {
    const keys = ['ns/a', 'ns/b', 'ns/c', 'root/m'];
    const policies = fc
      .dictionary(fc.constantFrom(...keys), fc.integer({ min: 1, max: 4 }))
      .map((entries) => snapshot(entries));
    const step = fc.oneof(
      fc.record({ kind: fc.constant('send' as const), sidecar: fc.nat(5), policies }),
      fc.record({ kind: fc.constant('ack' as const), sidecar: fc.nat(5) }),
      fc.record({ kind: fc.constant('leave' as const), sidecar: fc.nat(5) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const ledger = new DeliveryLedger<{ id: number }>();
        const handles = Array.from({ length: 6 }, (_, id) => ({ id }));
        const model = new Map<number, { sent?: SnapshotPolicies; acked?: SnapshotPolicies }>();
        for (const s of steps) {
          const handle = handles[s.sidecar]!;
          if (s.kind === 'leave') {
            model.delete(s.sidecar);
            ledger.remove(handle);
            continue;
          }
          const state = model.get(s.sidecar) ?? {};
          if (s.kind === 'send') state.sent = s.policies;
          else state.acked = state.sent;
          model.set(s.sidecar, state);
          ledger.update(handle, state.sent, state.acked);
        }
        for (const key of keys) {
          for (let generation = 1; generation <= 5; generation += 1) {
            expect(ledger.delivery(key, generation)).toEqual(bruteForce(model, key, generation));
          }
        }
      }),
    );
  });
});
