// A decision record as the sidecar makes one, for the tests of what consumes records.
import type { DecisionRecord } from '../../sidecar/app-forwarder.ts';

/** A deny by a named policy and rule, with a latency that rounds. */
export const DENY_RECORD: DecisionRecord = Object.freeze({
  peer: 'spiffe://cluster.local/ns/shop/sa/web',
  user: 'alice',
  method: 'GET',
  path: '/admin',
  status: 403,
  decision: 'DENY',
  reason: 'DENY_RULE',
  policy: 'shop/no-admin',
  rule: 'outsiders',
  latencyMs: 1.23456,
});
