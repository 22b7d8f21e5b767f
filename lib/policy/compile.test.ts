import { describe, expect, it } from 'vitest';
import { compilePolicies } from './compile-all.ts';
import { compilePolicy } from './compile.ts';
import { policy } from '../../test/helpers/policy-fixtures.ts';
import type { AuthPolicySpec } from './types.generated.ts';

const messagesOf = (spec: unknown) =>
  compilePolicy(policy('p', spec as AuthPolicySpec)).errors.map((e) => e.message);
const warningsOf = (spec: AuthPolicySpec) => compilePolicy(policy('p', spec)).warnings.map((w) => w.message);

describe('compilePolicy: references, templates and names', () => {
  it('names the field of an unknown permission', () => {
    const spec = {
      permissions: [{ name: 'write', methods: ['POST'] }],
      rules: [{ to: [{ permission: 'write' }] }, { to: [{ permission: 'wrte' }] }],
    };
    expect(messagesOf(spec)).toEqual(['spec.rules[1].to[0].permission: unknown permission "wrte"']);
    expect(compilePolicy(policy('p', spec)).errors[0]).toMatchObject({
      code: 'ERR_POLICY_REFERENCE',
      path: 'spec.rules[1].to[0].permission',
    });
  });

  it('refuses a role granting an unknown permission, and an unknown role in a condition', () => {
    const spec = {
      permissions: [{ name: 'read', methods: ['GET'] }],
      roles: [{ name: 'viewer', permissions: ['read', 'reed'] }],
      rules: [{ to: [{ rolePermissions: true }], when: [{ role: 'veiwer' }] }],
    };
    expect(messagesOf(spec)).toEqual([
      'spec.roles[0].permissions[1]: unknown permission "reed"',
      'spec.rules[0].when[0].role: unknown role "veiwer" (spec.roles defines "viewer")',
    ]);
  });

  it('refuses rolePermissions without spec.roles', () => {
    expect(messagesOf({ rules: [{ to: [{ rolePermissions: true }] }] })).toEqual([
      'spec.rules[0].to[0].rolePermissions: no roles are defined in spec.roles',
    ]);
  });

  it.each([
    ['/orders/{id', 'segment "{id" must be a whole {name}, {*} or {**}'],
    ['/orders/x{id}', 'segment "x{id}" must be a whole {name}, {*} or {**}'],
    ['/orders/{**}/items', '{**} is allowed only as the last segment'],
    ['/orders/{id}/{id}', 'template variable {id} is used twice'],
    ['/a*/b', '"*" is allowed only at the end (a prefix)'],
    ['/orders/{id}*', 'a prefix pattern ("...*") may not also be a template'],
    ['/a/../admin', 'is not in normalized form (it would be matched as "/admin")'],
    ['//admin', 'is not in normalized form (it would be matched as "/admin")'],
    ['/%61dmin', 'is not in normalized form (it would be matched as "/admin")'],
    ['/a%2Fb', 'invalid request path: percent-encoded slash or backslash'],
  ])('refuses the bad path pattern %s', (pattern, reason) => {
    expect(messagesOf({ rules: [{ to: [{ paths: ['/ok', pattern] }] }] })).toEqual([
      `spec.rules[0].to[0].paths[1]: bad path pattern "${pattern}": ${reason}`,
    ]);
  });

  it('refuses duplicate rule names, and duplicate permission names from a file', () => {
    const spec = {
      permissions: [
        { name: 'read', methods: ['GET'] },
        { name: 'read', methods: ['HEAD'] },
      ],
      rules: [
        { name: 'a', to: [{ permission: 'read' }] },
        { name: 'a', to: [{ paths: ['/x'] }] },
      ],
    };
    expect(messagesOf(spec)).toEqual(['spec.permissions[1]: Duplicate value: "read"']);
    const rules = [
      { name: 'a', to: [{ paths: ['/x'] }] },
      { name: 'a', to: [{ paths: ['/y'] }] },
    ];
    expect(messagesOf({ rules })).toEqual(['spec.rules[1].name: duplicate rule name "a" (also at index 0)']);
  });

  it('refuses an inline JWKS that is not JSON, is empty, or holds a private key', () => {
    const token = (jwks: string) => ({
      userTokens: [{ issuer: 'https://idp.example', jwks, audiences: ['api'] }],
      rules: [{ from: [{ namespaces: ['shop'] }] }],
    });
    expect(messagesOf(token('{'))).toEqual(['spec.userTokens[0].jwks: is not JSON']);
    expect(messagesOf(token('{"keys": []}'))).toEqual([
      'spec.userTokens[0].jwks: must be a JWKS document with a non-empty "keys" array',
    ]);
    expect(messagesOf(token('{"keys": [{"kty": "EC", "d": "secret"}]}'))).toEqual([
      'spec.userTokens[0].jwks: may hold public keys only (a key has "d" or "k")',
    ]);
  });
});

describe('compilePolicy: schema and CEL rules, as the API server words them', () => {
  it.each(
    [
      [
        { action: 'PERMIT' },
        'spec.action: Unsupported value: "PERMIT": supported values: "ALLOW", "DENY", "AUDIT"',
      ],
      [
        { rules: [{}] },
        'spec.rules[0]: Invalid value: "object": a rule needs at least one of from, to or when',
      ],
      [
        { rules: [{ to: [{ paths: ['orders'] }] }] },
        `spec.rules[0].to[0].paths[0]: Invalid value: "orders": spec.rules[0].to[0].paths[0] in body should match '^/[^?#\\s]*$'`,
      ],
      [
        { rules: [{ to: [{ ports: [0] }] }] },
        'spec.rules[0].to[0].ports[0]: Invalid value: 0: spec.rules[0].to[0].ports[0] in body should be greater than or equal to 1',
      ],
      [
        { rules: [{ from: [{ namespaces: ['shop'] }], bogus: 1 }] },
        'spec.rules[0].bogus: unknown field "spec.rules[0].bogus"',
      ],
      [
        { rules: Array.from({ length: 65 }, () => ({ to: [{ paths: ['/x'] }] })) },
        'spec.rules: Too many: 65: must have at most 64 items',
      ],
      [
        { rules: [{ name: 'x'.repeat(64), to: [{ paths: ['/x'] }] }] },
        'spec.rules[0].name: Too long: may not be more than 63 bytes',
      ],
      [
        { userTokens: [{ issuer: 'https://a.example', jwksUri: 'http://a.example/jwks', audiences: ['x'] }] },
        'spec.userTokens[0].jwksUri: Invalid value: "string": jwksUri must be an https URL',
      ],
      [
        { userTokens: [{ issuer: 'https://a.example', audiences: ['x'] }] },
        'spec.userTokens[0]: Invalid value: "object": exactly one of jwksUri or jwks must be set',
      ],
      [
        { rules: [{ to: [{ permission: 'read', methods: ['GET'] }] }] },
        'spec.rules[0].to[0]: Invalid value: "object": set exactly one of permission, rolePermissions, or inline operation fields',
      ],
      [
        { rules: [{ when: [{ role: 'a', claim: ['b'], values: ['c'] }] }] },
        'spec.rules[0].when[0]: Invalid value: "object": set exactly one of role, group, scope or claim',
      ],
      [
        { rules: [{ when: [{ claim: ['tenant'] }] }] },
        'spec.rules[0].when[0]: Invalid value: "object": values, notValues and present go with claim, and claim needs one of them',
      ],
      [
        { rules: [{ to: [{ paths: ['/x'] }], rateLimit: { requests: 1, per: '25h', by: 'user' } }] },
        'spec.rules[0].rateLimit.per: Invalid value: "string": per must be a duration from 1s to 24h',
      ],
      [
        { rules: [{ to: [{ paths: ['/x'] }], rateLimit: { requests: 1, per: '1m', by: 'claim' } }] },
        'spec.rules[0]: Invalid value: "object": rateLimit.claim must be set exactly when rateLimit.by is claim',
      ],
      [
        { action: 'DENY', rules: [{ to: [{ paths: ['/x'] }], requireMfa: {} }] },
        'spec.rules: Invalid value: "object": requireMfa and rateLimit are allowed only in rules of an ALLOW policy',
      ],
      [
        { selector: { matchExpressions: [{ key: 'app', operator: 'In' }] } },
        'spec.selector.matchExpressions[0]: Invalid value: "object": values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist',
      ],
    ].map(([spec, message]) => ({ spec, message })),
  )('refuses with "$message"', ({ spec, message }) => {
    expect(messagesOf(spec)).toContain(message);
  });

  it('refuses a policy without a name, namespace or spec', () => {
    expect(compilePolicy({ metadata: {} }).errors.map((e) => e.message)).toEqual([
      'metadata.namespace: Required value',
      'metadata.name: Required value',
      'spec: Required value',
    ]);
  });

  it('applies the schema defaults before compiling', () => {
    const result = compilePolicy(
      policy('p', {
        userTokens: [{ issuer: 'https://a.example', jwksUri: 'https://a.example/k', audiences: ['x'] }],
      }),
    );
    expect(result.policy?.spec).toMatchObject({
      action: 'ALLOW',
      dryRun: false,
      rolesClaim: ['roles'],
      userTokens: [{ forward: true }],
    });
  });
});

describe('compilePolicy: warnings', () => {
  it('warns about operations and sources that can never match', () => {
    expect(warningsOf({ rules: [{ to: [{ methods: ['GET', 'POST'], notMethods: ['GET'] }] }] })).toEqual([
      'spec.rules[0].to[0]: "GET" is in both methods and notMethods, so it never matches',
    ]);
    expect(warningsOf({ rules: [{ from: [{ namespaces: ['a'], notNamespaces: ['a'] }] }] })).toEqual([
      'spec.rules[0].from[0]: "a" is both required and excluded, so it never matches',
    ]);
  });

  it('warns about a rule that repeats an earlier one, and about unused permissions and roles', () => {
    const warnings = warningsOf({
      permissions: [{ name: 'spare', methods: ['GET'] }],
      roles: [{ name: 'ghost', permissions: ['spare'] }],
      rules: [
        { name: 'a', to: [{ paths: ['/x'] }] },
        { name: 'b', to: [{ paths: ['/x'] }] },
      ],
    });
    expect(warnings).toEqual([
      'spec.rules[1]: repeats spec.rules[0] and never decides anything',
      'spec.permissions[0]: permission "spare" is not used by any rule or role',
      'spec.roles[0]: role "ghost" is not used: no rule has to[].rolePermissions or when[].role "ghost"',
    ]);
    expect(compilePolicy(policy('p', { rules: [{ to: [{ paths: ['/x'] }] }] })).accepted).toBe(true);
  });
});

describe('compilePolicies', () => {
  it('keeps valid policies when others are invalid, and refuses a duplicate key', () => {
    const good = policy('good', { rules: [{ to: [{ paths: ['/x'] }] }] });
    const bad = policy('bad', { rules: [{}] });
    const { index, results } = compilePolicies([good, bad, good]);
    expect(results.map((r) => r.accepted)).toEqual([true, false, false]);
    expect(results[2]?.errors[0]?.message).toBe(
      'metadata.name: duplicate policy "shop/good": another policy has the same namespace and name',
    );
    expect(index.policiesFor({ namespace: 'shop', labels: {} }).map((p) => p.key)).toEqual(['shop/good']);
  });

  it('checks its options', () => {
    expect(() => compilePolicies([], { defaultAction: 'MAYBE' as 'ALLOW' })).toThrow(TypeError);
    expect(() => compilePolicies([], { rootNamespace: 'Not A Namespace' })).toThrow(TypeError);
  });
});

describe('compilePolicy: hostile input', () => {
  it.each([
    [
      { rules: [{ to: [{ paths: ['/x'] }], rateLimit: null }] },
      'spec.rules[0].rateLimit: Invalid value: "null"',
    ],
    [{ rules: 'all' }, 'spec.rules: Invalid value: "string"'],
    [{ rules: [{ from: [null] }] }, 'spec.rules[0].from[0]: Invalid value: "null"'],
    [{ selector: { matchLabels: { app: 7 } } }, 'spec.selector.matchLabels.app: Invalid value: "integer"'],
  ])('refuses %j without throwing', (spec, message) => {
    expect(messagesOf(spec).join('\n')).toContain(message);
  });

  it('refuses a spec that is not an object, and input that is not an object', () => {
    expect(messagesOf('spec')).toEqual([
      'spec: Invalid value: "string": spec in body must be of type object: "string"',
    ]);
    expect(compilePolicy(null).accepted).toBe(false);
    expect(compilePolicy([]).accepted).toBe(false);
  });
});
