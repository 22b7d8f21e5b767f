import { describe, expect, it } from 'vitest';
import { compilePolicy } from './compile.ts';
import { findMfaBypasses } from './mfa-bypass.ts';
import { policy } from '../../test/helpers/policy-fixtures.ts';
import type { AuthPolicySpec, Rule } from './types.generated.ts';

const mfa = { requireMfa: {} };
const pairs = (rules: Rule[], extra: Partial<AuthPolicySpec> = {}) =>
  findMfaBypasses({ ...extra, rules }).map(({ guarded, bypass }) => [guarded, bypass]);

describe('findMfaBypasses', () => {
  it('finds the orders-rbac mistake: a role that grants write lets staff-by-role skip MFA', () => {
    const spec: AuthPolicySpec = {
      permissions: [
        { name: 'read', methods: ['GET'], paths: ['/orders', '/orders/{id}'] },
        { name: 'write', methods: ['POST', 'DELETE'], paths: ['/orders/{**}'] },
      ],
      roles: [{ name: 'manager', permissions: ['read', 'write'] }],
      rules: [
        { name: 'managers-write', to: [{ permission: 'write' }], when: [{ role: 'manager' }], ...mfa },
        { name: 'staff-by-role', to: [{ rolePermissions: true }] },
      ],
    };
    const { warnings } = compilePolicy(policy('orders', spec));
    expect(warnings).toEqual([
      expect.objectContaining({
        code: 'WARN_POLICY_MFA_BYPASS',
        path: 'spec.rules[1]',
        message:
          'spec.rules[1]: rule "staff-by-role" may allow without MFA requests that rule "managers-write" ' +
          'allows only with MFA (any matching ALLOW rule allows); add requireMfa to it or narrow its operations',
      }),
    ]);
    // The fix the example took: the role grants read only, which shares no method with write.
    const fixed = { ...spec, roles: [{ name: 'manager', permissions: ['read'] }] };
    expect(compilePolicy(policy('orders', fixed)).warnings).toEqual([]);
  });

  it('treats a rule without operations as matching every operation', () => {
    expect(pairs([{ to: [{ paths: ['/admin/*'] }], ...mfa }, { from: [{ namespaces: ['ops'] }] }])).toEqual([
      [0, 1],
    ]);
  });

  it('compares paths by segments, templates and prefixes', () => {
    const guarded: Rule = { to: [{ paths: ['/admin/{id}/keys'] }], ...mfa };
    const overlapping = ['/admin/7/keys', '/{section}/{id}/keys', '/admin/{**}', '/ad*', '/admin/7/*'];
    for (const path of overlapping)
      expect(pairs([guarded, { to: [{ paths: [path] }] }]), path).toEqual([[0, 1]]);
    const disjoint = ['/admin/7', '/admin/7/keys/x', '/public/{**}', '/pub*', '/admin/7/lock*'];
    for (const path of disjoint) expect(pairs([guarded, { to: [{ paths: [path] }] }]), path).toEqual([]);
  });

  it('needs methods, hosts and ports to overlap too', () => {
    const guarded: Rule = { to: [{ methods: ['POST'], hosts: ['a.example'], ports: [8080] }], ...mfa };
    expect(pairs([guarded, { to: [{ methods: ['GET'] }] }])).toEqual([]);
    expect(pairs([guarded, { to: [{ hosts: ['b.example'] }] }])).toEqual([]);
    expect(pairs([guarded, { to: [{ ports: [9090] }] }])).toEqual([]);
    expect(pairs([guarded, { to: [{ methods: ['GET', 'POST'], ports: [8080] }] }])).toEqual([[0, 1]]);
  });

  it('ignores rules that require MFA themselves, and policies that do not allow', () => {
    expect(
      pairs([
        { to: [{ paths: ['/a'] }], ...mfa },
        { to: [{ paths: ['/a'] }], ...mfa },
      ]),
    ).toEqual([]);
    expect(
      pairs([{ to: [{ paths: ['/a'] }], ...mfa }, { to: [{ paths: ['/a'] }] }], { action: 'AUDIT' }),
    ).toEqual([]);
  });
});

describe('findMfaBypasses on the largest policy the schema allows', () => {
  it('stops at its comparison budget instead of comparing every pair of paths', () => {
    // 64 rules of 16 operations of 32 paths, no two rules sharing a path: without the budget,
    // 32 x 32 rule pairs x 16 x 16 operations x 32 x 32 paths is 268 million comparisons.
    const rules: Rule[] = Array.from({ length: 64 }, (_, r) => ({
      to: Array.from({ length: 16 }, (_, o) => ({
        paths: Array.from({ length: 32 }, (_, p) => `/r${r}/o${o}/p${p}`),
      })),
      ...(r % 2 === 0 ? mfa : {}),
    }));
    expect(findMfaBypasses({ rules })).toEqual([]);
  });
});
