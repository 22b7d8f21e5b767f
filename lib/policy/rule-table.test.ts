import { describe, expect, it } from 'vitest';
import { evaluate } from './engine.ts';
import { policy, request, viewOf, WEB } from '../../test/helpers/policy-fixtures.ts';

const OTHER = 'spiffe://cluster.local/ns/ops/sa/tool';

describe('RuleTable: rules indexed by the peer they require', () => {
  const view = viewOf([
    policy('a', {
      rules: [
        { name: 'web-first', from: [{ principals: [WEB] }], to: [{ paths: ['/shared'] }] },
        { name: 'open', from: [{ principals: ['*'] }], to: [{ paths: ['/shared', '/open'] }] },
        {
          name: 'shop-ns',
          from: [{ namespaces: ['shop'] }, { principals: [WEB] }],
          to: [{ paths: ['/ns'] }],
        },
        { name: 'web-later', from: [{ principals: [WEB] }], to: [{ paths: ['/open'] }] },
      ],
    }),
  ]);
  const decidedBy = (path: string, peer: string) =>
    evaluate(view, request('GET', path, { peer })).decidedBy?.rule;

  it('keeps evaluation order across indexed and open rules: the first matching rule decides', () => {
    expect(decidedBy('/shared', WEB)).toBe('web-first');
    expect(decidedBy('/shared', OTHER)).toBe('open');
    expect(decidedBy('/open', WEB)).toBe('open');
  });

  it('finds a rule under its namespace key as well as its principal key, once', () => {
    expect(decidedBy('/ns', WEB)).toBe('shop-ns');
    expect(decidedBy('/ns', 'spiffe://cluster.local/ns/shop/sa/other')).toBe('shop-ns');
    expect(decidedBy('/ns', OTHER)).toBeUndefined();
    expect(evaluate(view, request('GET', '/nothing', { peer: WEB })).rulesEvaluated).toBe(4);
  });

  it('does not index a rule whose sources also accept other peers', () => {
    const mixed = viewOf([
      policy('m', {
        rules: [
          { name: 'm', from: [{ principals: [WEB] }, { notNamespaces: ['ops'] }], to: [{ paths: ['/m'] }] },
        ],
      }),
    ]);
    const peer = 'spiffe://cluster.local/ns/billing/sa/x';
    expect(evaluate(mixed, request('GET', '/m', { peer })).decidedBy?.rule).toBe('m');
  });

  it('looks at a number of rules that does not grow with the rules for other callers', () => {
    const perCaller = (n: number) =>
      viewOf([
        policy('callers', {
          rules: Array.from({ length: 64 }, (_, i) => ({
            from: [{ principals: [`spiffe://cluster.local/ns/n${i}/sa/s`] }],
            to: [{ paths: ['/x'] }],
          })).slice(0, n),
        }),
      ]);
    const peer = 'spiffe://cluster.local/ns/n3/sa/s';
    expect(evaluate(perCaller(4), request('GET', '/x', { peer })).rulesEvaluated).toBe(1);
    expect(evaluate(perCaller(64), request('GET', '/x', { peer })).rulesEvaluated).toBe(1);
  });
});
