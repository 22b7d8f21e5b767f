// Mutated policies (seeded, so failures reproduce) must be refused or accepted, never crash the
// compiler: one bad policy must not stop the others from being delivered.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { compilePolicies } from './compile-all.ts';
import { evaluate } from './engine.ts';
import { request } from '../../test/helpers/policy-fixtures.ts';

const dir = new URL('../../docs/examples/', import.meta.url);
const examples = readdirSync(dir)
  .filter((name) => name.endsWith('.yaml'))
  .map((name) => ({
    ...(parse(readFileSync(new URL(name, dir), 'utf8')) as object),
    metadata: { name, namespace: 'shop' },
  }));

const REPLACEMENTS: unknown[] = [
  null,
  0,
  -1,
  1.5,
  '',
  'x',
  '*',
  '/{**}',
  true,
  [],
  [null],
  {},
  { a: 1 },
  'A'.repeat(5000),
];

function mutate(value: unknown, pick: () => number): unknown {
  if (Array.isArray(value)) {
    return (value as unknown[]).map((item) => (pick() % 4 === 0 ? mutate(item, pick) : item));
  }
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    const keys = Object.keys(out);
    const key = keys[pick() % Math.max(keys.length, 1)];
    if (key !== undefined && key !== 'metadata') {
      out[key] = pick() % 3 === 0 ? REPLACEMENTS[pick() % REPLACEMENTS.length] : mutate(out[key], pick);
    }
    return out;
  }
  return REPLACEMENTS[pick() % REPLACEMENTS.length];
}

describe('compiling mutated policies', () => {
  it('never throws, and what it accepts can be evaluated', () => {
    let state = 7;
    const pick = (): number => (state = (state * 1103515245 + 12345) & 0x7fffffff);
    let accepted = 0;
    for (let round = 0; round < 200; round++) {
      const inputs = examples.map((example) => mutate(example, pick));
      const { index, results } = compilePolicies(inputs);
      accepted += results.filter((r) => r.accepted).length;
      const view = index.forWorkload({ namespace: 'shop', labels: { app: 'orders' } });
      const claims = { sub: 'u', roles: 'manager', scope: 'orders:read', amr: ['mfa'] };
      expect(() =>
        evaluate(
          view,
          request('GET', '/orders/1', { peer: 'spiffe://cluster.local/ns/shop/sa/web', claims }),
        ),
      ).not.toThrow();
    }
    expect(accepted).toBeGreaterThan(0);
    // 3,400 compilations: seconds on a busy 2-core CI machine.
  }, 60_000);
});
