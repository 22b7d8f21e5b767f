// The engine's shortcuts (rules looked up by the peer's principal and namespace, sources taken
// as matched when they are nothing but those keys, merged candidate lists remembered per peer,
// rules passed over when the path lacks the prefix all their paths share)
// against the plain reading of the policy: every rule in order, every part tested. Same
// decision and same deciding rule, for random sources, paths and peers.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluate } from './engine.ts';
import type { RuleTable } from './rule-table.ts';
import type { EvalContext } from './rules.ts';
import { policy, request, viewOf } from '../../test/helpers/policy-fixtures.ts';

const PEERS = [
  'spiffe://cluster.local/ns/shop/sa/web',
  'spiffe://cluster.local/ns/shop/sa/api',
  'spiffe://cluster.local/ns/ops/sa/tool',
  'spiffe://other.domain/ns/shop/sa/web',
];
const principal = fc.constantFrom(...PEERS, 'spiffe://cluster.local/ns/shop/*', '*');
const namespace = fc.constantFrom('shop', 'ops', 'billing');
const source = fc
  .record(
    {
      principals: fc.array(principal, { minLength: 1, maxLength: 2 }),
      notPrincipals: fc.array(principal, { minLength: 1, maxLength: 2 }),
      namespaces: fc.array(namespace, { minLength: 1, maxLength: 2 }),
      notNamespaces: fc.array(namespace, { minLength: 1, maxLength: 2 }),
    },
    { requiredKeys: [] },
  )
  .filter((fields) => Object.keys(fields).length > 0);
const rule = fc.record(
  {
    from: fc.array(source, { minLength: 1, maxLength: 3 }),
    to: fc.constantFrom(
      [{ paths: ['/a'] }],
      [{ paths: ['/b/{id}'] }],
      [{ methods: ['POST'] }],
      [{ paths: ['/b/*'] }],
      [{ paths: ['/a'] }, { paths: ['/b/{id}', '/c'] }],
      [{ paths: ['/a', '/ab'] }, { methods: ['GET'] }],
      [{ paths: ['/x/y/{id}'] }],
      [{ paths: ['/x/y/z'] }],
      [{ paths: ['/x/*'] }],
      [{ paths: ['/x/y/{**}'] }],
    ),
  },
  { requiredKeys: ['to'] },
);
// Up to 40 rules, so that candidate lists are long enough for the path index too.
const rules = fc.array(rule, { minLength: 1, maxLength: 40, size: 'max' });

/** The first rule of the table that matches, testing from, to and when of every rule. */
function plainFirstMatch(table: RuleTable, ctx: EvalContext): string | undefined {
  for (const { rule } of table.all) {
    const from = rule.from?.(ctx) ?? true;
    const to = rule.to?.(ctx) ?? true;
    if (from && to && rule.when.every((condition) => condition.test(ctx))) return rule.name;
  }
  return undefined;
}

describe('rule index shortcuts', () => {
  it('decide as the plain reading of the rules does', () => {
    fc.assert(
      fc.property(
        rules,
        rules,
        fc.constantFrom(...PEERS),
        fc.constantFrom('/a', '/ab', '/b/1', '/b/', '/c', '/x/y/z', '/x/y/1', '/x/', '/x/y'),
        fc.constantFrom('GET', 'POST'),
        (denyRules, allowRules, peer, path, method) => {
          const named = (list: typeof denyRules, prefix: string) =>
            list.map((r, i) => ({ ...r, name: `${prefix}${i}` }));
          const view = viewOf([
            policy('deny', { action: 'DENY', rules: named(denyRules, 'd') }),
            policy('allow', { action: 'ALLOW', rules: named(allowRules, 'a') }),
          ]);
          const req = request(method, path, { peer });
          // Twice: the second time the merged candidate lists and peer namespaces are remembered.
          for (let round = 0; round < 2; round++) {
            const decision = evaluate(view, req);
            const ctx: EvalContext = {
              method,
              host: req.host,
              port: req.port,
              path: req.path,
              peer,
              namespace: /^spiffe:\/\/cluster\.local\/ns\/([^/]+)\//.exec(peer)?.[1],
              claims: undefined,
              roles: new Map(),
            };
            const denied = plainFirstMatch(view.tables.deny, ctx);
            const allowed = denied === undefined ? plainFirstMatch(view.tables.allow, ctx) : undefined;
            expect(decision.decidedBy?.rule).toBe(denied ?? allowed);
            expect(decision.decision).toBe(denied === undefined && allowed !== undefined ? 'ALLOW' : 'DENY');
            const looked = (table: RuleTable, matched: string | undefined) => {
              const list = table.candidates(peer, ctx.namespace);
              const at = list.findIndex((entry) => entry.rule.name === matched);
              return at >= 0 ? at + 1 : list.length;
            };
            expect(decision.rulesEvaluated).toBe(
              looked(view.tables.deny, denied) +
                (denied === undefined ? looked(view.tables.allow, allowed) : 0),
            );
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
