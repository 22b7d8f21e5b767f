import { describe, expect, it } from 'vitest';
import { evaluate } from './engine.ts';
import { orders, policy, request, viewOf, WEB } from '../../test/helpers/policy-fixtures.ts';
import type { AuthPolicySpec } from './types.generated.ts';

const allow = (name: string, spec: Omit<AuthPolicySpec, 'action'>) =>
  policy(name, { ...spec, action: 'ALLOW' });
const deny = (name: string, spec: Omit<AuthPolicySpec, 'action'>) =>
  policy(name, { ...spec, action: 'DENY' });
const decide = (policies: unknown[], req = request('GET', '/orders')) => evaluate(viewOf(policies), req);

describe('path matching', () => {
  const view = viewOf([
    allow('paths', {
      rules: [
        { name: 'exact', to: [{ paths: ['/orders'] }] },
        { name: 'prefix', to: [{ paths: ['/static/*'] }] },
        { name: 'one-segment', to: [{ paths: ['/orders/{id}/items'] }] },
        { name: 'rest', to: [{ paths: ['/files/{**}'] }] },
      ],
    }),
  ]);
  const ruleFor = (path: string) => evaluate(view, request('GET', path)).decidedBy?.rule;

  it('matches exact paths only exactly', () => {
    expect(ruleFor('/orders')).toBe('exact');
    expect(ruleFor('/orders/')).toBeUndefined();
    expect(ruleFor('/ordersx')).toBeUndefined();
  });

  it('matches a prefix pattern on the string prefix', () => {
    expect(ruleFor('/static/app.js')).toBe('prefix');
    expect(ruleFor('/static/')).toBe('prefix');
    expect(ruleFor('/static')).toBeUndefined();
  });

  it('matches {id} against exactly one non-empty segment', () => {
    expect(ruleFor('/orders/42/items')).toBe('one-segment');
    expect(ruleFor('/orders/4/2/items')).toBeUndefined();
  });

  it('matches {**} against the rest of the path, possibly empty, but not the parent', () => {
    expect(ruleFor('/files/a/b/c.txt')).toBe('rest');
    expect(ruleFor('/files/')).toBe('rest');
    expect(ruleFor('/files')).toBeUndefined();
  });

  it('treats regex characters in patterns literally', () => {
    const dotted = viewOf([allow('dots', { rules: [{ to: [{ paths: ['/v1.0/{id}'] }] }] })]);
    expect(evaluate(dotted, request('GET', '/v1.0/7')).decision).toBe('ALLOW');
    expect(evaluate(dotted, request('GET', '/v1x0/7')).decision).toBe('DENY');
  });

  it('matches the normalized path: a dot-segment bypass of a DENY rule does not work', () => {
    const policies = [deny('no-admin', { rules: [{ to: [{ paths: ['/admin', '/admin/{**}'] }] }] })];
    for (const path of ['/admin', '/public/../admin', '//admin', '/%2e/admin/x', '/admin/']) {
      expect(decide(policies, request('GET', path)).decision, path).toBe('DENY');
    }
  });

  it('is case-sensitive: /ADMIN is another path', () => {
    const policies = [deny('no-admin', { rules: [{ to: [{ paths: ['/admin'] }] }] })];
    expect(decide(policies, request('GET', '/ADMIN')).decision).toBe('ALLOW');
  });
});

describe('operation matching', () => {
  it('matches methods, hosts (case-insensitive, exact/prefix/suffix) and ports', () => {
    const view = viewOf([
      allow('ops', {
        rules: [{ to: [{ methods: ['GET'], hosts: ['*.shop.example', 'api.*', 'orders'], ports: [8080] }] }],
      }),
    ]);
    const at = (host: string, method = 'GET', port = 8080) =>
      evaluate(view, request(method, '/x', { peer: WEB, host, port })).decision;
    expect(at('Web.Shop.Example')).toBe('ALLOW');
    expect(at('api.internal')).toBe('ALLOW');
    expect(at('orders')).toBe('ALLOW');
    expect(at('orders.')).toBe('ALLOW');
    expect(at('orders2')).toBe('DENY');
    expect(at('orders', 'POST')).toBe('DENY');
    expect(at('orders', 'get')).toBe('ALLOW');
    expect(at('orders', 'GET', 9090)).toBe('DENY');
  });

  it('applies negations: notMethods, notPaths, notPorts, notHosts', () => {
    const view = viewOf([
      allow('negations', {
        rules: [
          {
            to: [
              {
                notMethods: ['DELETE'],
                notPaths: ['/internal/{**}'],
                notPorts: [9090],
                notHosts: ['admin.*'],
              },
            ],
          },
        ],
      }),
    ]);
    expect(evaluate(view, request('GET', '/orders')).decision).toBe('ALLOW');
    expect(evaluate(view, request('DELETE', '/orders')).decision).toBe('DENY');
    expect(evaluate(view, request('GET', '/internal/x')).decision).toBe('DENY');
    expect(evaluate(view, request('GET', '/orders', { peer: WEB, port: 9090 })).decision).toBe('DENY');
    expect(evaluate(view, request('GET', '/orders', { peer: WEB, host: 'admin.shop' })).decision).toBe(
      'DENY',
    );
  });

  it('resolves named permissions', () => {
    const view = viewOf([
      allow('named', {
        permissions: [{ name: 'read', methods: ['GET', 'HEAD'], paths: ['/orders', '/orders/{id}'] }],
        rules: [{ to: [{ permission: 'read' }] }],
      }),
    ]);
    expect(evaluate(view, request('HEAD', '/orders/1')).decision).toBe('ALLOW');
    expect(evaluate(view, request('POST', '/orders/1')).decision).toBe('DENY');
  });
});

describe('source matching', () => {
  const view = viewOf(
    [
      allow('sources', {
        mtls: 'PERMISSIVE',
        rules: [
          { name: 'exact', from: [{ principals: [WEB] }], to: [{ paths: ['/a'] }] },
          {
            name: 'prefix',
            from: [{ principals: ['spiffe://cluster.local/ns/team-*'] }],
            to: [{ paths: ['/b'] }],
          },
          { name: 'suffix', from: [{ principals: ['*/sa/batch'] }], to: [{ paths: ['/c'] }] },
          { name: 'namespaces', from: [{ namespaces: ['shop', 'ops-*'] }], to: [{ paths: ['/d'] }] },
          { name: 'not-ns', from: [{ notNamespaces: ['shop'] }], to: [{ paths: ['/e'] }] },
          { name: 'not-principal', from: [{ notPrincipals: [WEB] }], to: [{ paths: ['/f'] }] },
          { name: 'any-mesh', from: [{ principals: ['*'] }], to: [{ paths: ['/g'] }] },
        ],
      }),
    ],
    orders,
  );
  const allowed = (path: string, peer?: string) =>
    evaluate(view, request('GET', path, { peer })).decision === 'ALLOW';

  it('matches principals exactly, by prefix and by suffix', () => {
    expect(allowed('/a', WEB)).toBe(true);
    expect(allowed('/a', `${WEB}2`)).toBe(false);
    expect(allowed('/b', 'spiffe://cluster.local/ns/team-x/sa/a')).toBe(true);
    expect(allowed('/b', 'spiffe://cluster.local/ns/other/sa/a')).toBe(false);
    expect(allowed('/c', 'spiffe://cluster.local/ns/any/sa/batch')).toBe(true);
  });

  it('matches namespaces only for peers of the mesh trust domain', () => {
    expect(allowed('/d', WEB)).toBe(true);
    expect(allowed('/d', 'spiffe://cluster.local/ns/ops-eu/sa/x')).toBe(true);
    expect(allowed('/d', 'spiffe://other.domain/ns/shop/sa/web')).toBe(false);
  });

  it('applies notNamespaces and notPrincipals', () => {
    expect(allowed('/e', WEB)).toBe(false);
    expect(allowed('/e', 'spiffe://cluster.local/ns/ops/sa/x')).toBe(true);
    expect(allowed('/f', WEB)).toBe(false);
    expect(allowed('/f', 'spiffe://cluster.local/ns/ops/sa/x')).toBe(true);
  });

  it('plaintext (no peer) never matches principals or namespaces, and always matches their negations', () => {
    expect(allowed('/a')).toBe(false);
    expect(allowed('/d')).toBe(false);
    expect(allowed('/g')).toBe(false);
    expect(allowed('/e')).toBe(true);
    expect(allowed('/f')).toBe(true);
  });
});

describe('claims conditions', () => {
  const view = viewOf([
    allow('claims', {
      rolesClaim: ['realm_access', 'roles'],
      rules: [
        { name: 'role', when: [{ role: 'admin' }], to: [{ paths: ['/role'] }] },
        { name: 'group', when: [{ group: 'staff' }], to: [{ paths: ['/group'] }] },
        { name: 'scope', when: [{ scope: 'orders:write' }], to: [{ paths: ['/scope'] }] },
        {
          name: 'nested',
          when: [{ claim: ['org', 'tier'], values: ['gold', 'platinum'] }],
          to: [{ paths: ['/nested'] }],
        },
        { name: 'not', when: [{ claim: ['tenant'], notValues: ['blocked'] }], to: [{ paths: ['/not'] }] },
        {
          name: 'present',
          when: [
            { claim: ['email_verified'], present: true },
            { claim: ['email_verified'], values: ['true'] },
          ],
          to: [{ paths: ['/present'] }],
        },
      ],
    }),
  ]);
  const allowed = (path: string, claims?: Record<string, unknown>) =>
    evaluate(view, request('GET', path, { peer: WEB, ...(claims && { claims }) })).decision === 'ALLOW';

  it('reads roles from a configurable nested claim, as an array or a space-delimited string', () => {
    expect(allowed('/role', { realm_access: { roles: ['user', 'admin'] } })).toBe(true);
    expect(allowed('/role', { realm_access: { roles: 'user admin' } })).toBe(true);
    expect(allowed('/role', { roles: ['admin'] })).toBe(false);
    expect(allowed('/role', { realm_access: { roles: ['administrator'] } })).toBe(false);
  });

  it('matches groups', () => {
    expect(allowed('/group', { groups: ['staff', 'eng'] })).toBe(true);
    expect(allowed('/group', { groups: ['eng'] })).toBe(false);
  });

  it('matches scopes in a space-delimited scope string and in an scp array, whole words only', () => {
    expect(allowed('/scope', { scope: 'openid orders:read orders:write' })).toBe(true);
    expect(allowed('/scope', { scp: ['orders:write'] })).toBe(true);
    expect(allowed('/scope', { scope: 'orders:writer' })).toBe(false);
    expect(allowed('/scope', { scope: 'openid  orders:read' })).toBe(false);
  });

  it('reads nested claims by path, including numbers, booleans and arrays', () => {
    expect(allowed('/nested', { org: { tier: 'gold' } })).toBe(true);
    expect(allowed('/nested', { org: { tier: ['silver', 'platinum'] } })).toBe(true);
    expect(allowed('/nested', { org: { tier: 'silver' } })).toBe(false);
    expect(allowed('/nested', { 'org.tier': 'gold' })).toBe(false);
    expect(allowed('/present', { email_verified: true })).toBe(true);
    expect(allowed('/present', { email_verified: false })).toBe(false);
    expect(allowed('/present', {})).toBe(false);
  });

  it('does not follow inherited properties of the claims object', () => {
    expect(allowed('/nested', JSON.parse('{"__proto__": {"tier": "gold"}}') as Record<string, unknown>)).toBe(
      false,
    );
    expect(allowed('/role', { realm_access: { roles: 'constructor' } })).toBe(false);
  });

  it('notValues matches a missing claim, but no condition matches a request without a token', () => {
    expect(allowed('/not', { tenant: 'acme' })).toBe(true);
    expect(allowed('/not', { tenant: 'blocked' })).toBe(false);
    expect(allowed('/not', {})).toBe(true);
    expect(allowed('/not')).toBe(false);
  });
});

describe('roles mapped to permissions', () => {
  const view = viewOf([
    allow('rbac', {
      permissions: [
        { name: 'read', methods: ['GET'], paths: ['/orders', '/orders/{id}'] },
        { name: 'write', methods: ['POST', 'DELETE'], paths: ['/orders/{**}'] },
      ],
      roles: [
        { name: 'viewer', permissions: ['read'] },
        { name: 'manager', permissions: ['read', 'write'] },
      ],
      rules: [{ name: 'by-role', from: [{ namespaces: ['shop'] }], to: [{ rolePermissions: true }] }],
    }),
  ]);
  const as = (roles: string[], method: string, path: string) =>
    evaluate(view, request(method, path, { peer: WEB, claims: { sub: 'u1', roles } })).decision;

  it('grants each role exactly its permissions', () => {
    expect(as(['viewer'], 'GET', '/orders/1')).toBe('ALLOW');
    expect(as(['viewer'], 'POST', '/orders/1')).toBe('DENY');
    expect(as(['manager'], 'POST', '/orders/1')).toBe('ALLOW');
    expect(as(['viewer', 'manager'], 'DELETE', '/orders/1')).toBe('ALLOW');
    expect(as(['unknown'], 'GET', '/orders')).toBe('DENY');
    expect(as([], 'GET', '/orders')).toBe('DENY');
  });

  it('grants nothing without a token', () => {
    expect(evaluate(view, request('GET', '/orders')).decision).toBe('DENY');
  });
});

describe('DENY precedence and default modes', () => {
  const allowAll = allow('allow-all', { rules: [{ name: 'everyone', from: [{ principals: ['*'] }] }] });
  const denyAdmin = deny('deny-admin', { rules: [{ name: 'admin', to: [{ paths: ['/admin'] }] }] });

  it('DENY wins over a matching ALLOW, and the decision names the policy and rule', () => {
    const decision = decide([allowAll, denyAdmin], request('GET', '/admin'));
    expect(decision).toMatchObject({
      decision: 'DENY',
      reason: 'DENY_RULE',
      decidedBy: { policy: { namespace: 'shop', name: 'deny-admin' }, rule: 'admin' },
    });
  });

  it('an ALLOW names the rule that allowed; an unnamed rule is named by its index', () => {
    expect(decide([allowAll]).decidedBy).toEqual({
      policy: { namespace: 'shop', name: 'allow-all' },
      rule: 'everyone',
    });
    const unnamed = allow('unnamed', {
      rules: [{ to: [{ paths: ['/x'] }] }, { to: [{ paths: ['/orders'] }] }],
    });
    expect(decide([unnamed]).decidedBy?.rule).toBe('rules[1]');
  });

  it('a workload selected by an ALLOW policy denies what no rule allows', () => {
    const decision = decide([allow('narrow', { rules: [{ to: [{ paths: ['/health'] }] }] })]);
    expect(decision).toMatchObject({ decision: 'DENY', reason: 'NO_ALLOW_MATCH' });
    expect(decision.decidedBy).toBeUndefined();
  });

  it('an ALLOW policy without rules denies everything', () => {
    expect(decide([allow('deny-all', {})])).toMatchObject({ decision: 'DENY', reason: 'NO_ALLOW_MATCH' });
  });

  it('with only DENY policies, what they do not deny follows the mesh default', () => {
    expect(decide([denyAdmin])).toMatchObject({ decision: 'ALLOW', reason: 'MESH_DEFAULT' });
  });

  it('with no policy the mesh default applies: ALLOW by default, DENY for zero trust', () => {
    expect(evaluate(viewOf([]), request('GET', '/x'))).toMatchObject({
      decision: 'ALLOW',
      reason: 'MESH_DEFAULT',
    });
    const zeroTrust = viewOf([], orders, { defaultAction: 'DENY' });
    expect(evaluate(zeroTrust, request('GET', '/x'))).toMatchObject({
      decision: 'DENY',
      reason: 'MESH_DEFAULT',
    });
  });
});

describe('mTLS mode', () => {
  it('STRICT (the default) refuses a plaintext request whatever the rules say', () => {
    expect(evaluate(viewOf([]), request('GET', '/x', {}))).toMatchObject({
      decision: 'DENY',
      reason: 'MTLS_REQUIRED',
    });
  });

  it('PERMISSIVE lets plaintext reach the rules; STRICT wins when policies disagree', () => {
    const permissive = policy('permissive', {
      mtls: 'PERMISSIVE',
      action: 'DENY',
      rules: [{ to: [{ paths: ['/x'] }] }],
    });
    expect(evaluate(viewOf([permissive]), request('GET', '/y', {})).decision).toBe('ALLOW');
    const strict = policy('strict', { mtls: 'STRICT', action: 'DENY', rules: [{ to: [{ paths: ['/x'] }] }] });
    expect(viewOf([permissive, strict]).mtls).toBe('STRICT');
  });

  it('the mesh default mode is configurable', () => {
    expect(viewOf([], orders, { defaultMtls: 'PERMISSIVE' }).mtls).toBe('PERMISSIVE');
  });
});

describe('MFA step-up', () => {
  const policies = [
    allow('mfa', {
      rules: [
        { name: 'admin', to: [{ paths: ['/admin'] }], requireMfa: {} },
        { name: 'payments', to: [{ paths: ['/pay'] }], requireMfa: { acr: ['urn:example:loa:3'] } },
      ],
    }),
  ];
  const call = (path: string, claims?: Record<string, unknown>) =>
    decide(policies, request('GET', path, { peer: WEB, ...(claims && { claims }) }));

  it('allows with amr containing mfa', () => {
    expect(call('/admin', { sub: 'u', amr: ['pwd', 'mfa'] })).toMatchObject({
      decision: 'ALLOW',
      decidedBy: { rule: 'admin' },
    });
  });

  it('asks for step-up when the rule matches without MFA, naming the rule', () => {
    expect(call('/admin', { sub: 'u', amr: ['pwd'] })).toMatchObject({
      decision: 'DENY',
      reason: 'MFA_REQUIRED',
      decidedBy: { rule: 'admin' },
      stepUp: { amrValues: ['mfa'], acrValues: [] },
    });
    expect(call('/admin')).toMatchObject({ reason: 'MFA_REQUIRED' });
  });

  it('checks acr when the rule names acr values, and sends them in the challenge', () => {
    expect(call('/pay', { acr: 'urn:example:loa:3' }).decision).toBe('ALLOW');
    expect(call('/pay', { acr: 'urn:example:loa:1', amr: ['mfa'] })).toMatchObject({
      reason: 'MFA_REQUIRED',
      stepUp: { acrValues: ['urn:example:loa:3'], amrValues: [] },
    });
  });

  it('prefers another ALLOW rule that needs no MFA', () => {
    const open = allow('open', { rules: [{ name: 'public-admin', to: [{ paths: ['/admin'] }] }] });
    expect(decide([...policies, open], request('GET', '/admin')).decidedBy?.rule).toBe('public-admin');
  });
});

describe('rate limits', () => {
  const limited = (by: 'source' | 'user' | 'claim') =>
    allow('limited', {
      rules: [
        {
          name: 'calls',
          to: [{ paths: ['/x'] }],
          rateLimit: { requests: 20, per: '1m30s', by, ...(by === 'claim' && { claim: ['tenant'] }) },
        },
      ],
    });

  it('names the bucket by source, user or claim', () => {
    const claims = { sub: 'alice', tenant: 'acme' };
    const bucket = (by: 'source' | 'user' | 'claim') =>
      decide([limited(by)], request('GET', '/x', { peer: WEB, claims })).rateLimit;
    expect(bucket('source')).toEqual({
      bucket: `shop/limited/calls/source=${WEB}`,
      requests: 20,
      periodMs: 90_000,
    });
    expect(bucket('user')?.bucket).toBe('shop/limited/calls/user=alice');
    expect(bucket('claim')?.bucket).toBe('shop/limited/calls/claim=acme');
  });

  it('has no bucket when the decision is not an ALLOW by that rule', () => {
    expect(decide([limited('user')], request('GET', '/y')).rateLimit).toBeUndefined();
  });
});

describe('dry-run and AUDIT', () => {
  const denyDry = policy('deny-dry', {
    action: 'DENY',
    dryRun: true,
    rules: [{ name: 'orders', to: [{ paths: ['/orders'] }] }],
  });
  const audit = policy('audit', {
    action: 'AUDIT',
    rules: [{ name: 'watch', to: [{ paths: ['/orders'] }] }],
  });

  it('a dry-run DENY policy is reported but not enforced', () => {
    const decision = decide([denyDry]);
    expect(decision).toMatchObject({ decision: 'ALLOW', reason: 'MESH_DEFAULT' });
    expect(decision.dryRun).toMatchObject({
      decision: 'DENY',
      reason: 'DENY_RULE',
      decidedBy: { rule: 'orders' },
    });
    expect(decision.audit).toEqual([
      { policy: { namespace: 'shop', name: 'deny-dry' }, rule: 'orders', action: 'DENY', dryRun: true },
    ]);
  });

  it('a dry-run ALLOW policy does not switch the workload to deny-by-default', () => {
    const allowDry = policy('allow-dry', { dryRun: true, rules: [{ to: [{ paths: ['/health'] }] }] });
    const decision = decide([allowDry]);
    expect(decision.decision).toBe('ALLOW');
    expect(decision.dryRun).toMatchObject({ decision: 'DENY', reason: 'NO_ALLOW_MATCH' });
  });

  it('an AUDIT policy logs its matches and changes nothing', () => {
    const decision = decide([audit]);
    expect(decision).toMatchObject({ decision: 'ALLOW', reason: 'MESH_DEFAULT' });
    expect(decision.audit).toEqual([
      { policy: { namespace: 'shop', name: 'audit' }, rule: 'watch', action: 'AUDIT', dryRun: false },
    ]);
    expect(decision.dryRun).toBeUndefined();
  });
});

describe('near miss for a deny', () => {
  it('names the ALLOW rule that came closest and what differed', () => {
    const policies = [
      allow('orders', {
        rules: [
          {
            name: 'far',
            from: [{ principals: ['spiffe://cluster.local/ns/x/sa/y'] }],
            to: [{ methods: ['PUT'] }],
            when: [{ role: 'a' }],
          },
          { name: 'close', from: [{ principals: [WEB] }], to: [{ methods: ['POST'], paths: ['/orders'] }] },
        ],
      }),
    ];
    const decision = decide(policies, request('GET', '/orders'));
    expect(decision.nearMiss).toEqual({
      policy: { namespace: 'shop', name: 'orders' },
      rule: 'close',
      differences: ['to: GET orders.shop:8080/orders matches no operation'],
    });
  });
});
