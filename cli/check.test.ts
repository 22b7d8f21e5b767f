import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run.ts';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lanyard-check-'));
  writeFileSync(
    join(dir, 'orders.yaml'),
    `apiVersion: lanyard.dev/v1alpha1
kind: AuthPolicy
metadata: {name: orders, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  permissions:
    - {name: read, methods: [GET], paths: [/orders, '/orders/{id}']}
    - {name: write, methods: [POST], paths: ['/orders/{**}']}
  roles:
    - {name: manager, permissions: [read, write]}
  action: ALLOW
  rules:
    - name: web-reads
      from: [{principals: [spiffe://cluster.local/ns/shop/sa/web]}]
      to: [{permission: read}]
    - name: managers-write
      from: [{namespaces: [shop]}]
      to: [{permission: write}]
      when: [{role: manager}]
      requireMfa: {}
`,
  );
  writeFileSync(join(dir, 'claims.json'), JSON.stringify({ sub: 'alice', roles: ['manager'], amr: ['pwd'] }));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

const base = () => ['check', '--policies', dir, '--to', 'shop/app=orders'];

describe('lanyard check', () => {
  it('explains an ALLOW with the policy and rule, exit 0', async () => {
    const { code, out } = await run(
      ...base(),
      '--from',
      'spiffe://cluster.local/ns/shop/sa/web',
      '--path',
      '/orders/7',
    );
    expect(code).toBe(0);
    expect(out).toMatch(/^ALLOW \(ALLOW_RULE\) by shop\/orders rule web-reads$/m);
  });

  it('explains a DENY with the nearest rule and what differed, exit 1', async () => {
    const { code, out } = await run(
      ...base(),
      '--from',
      'spiffe://cluster.local/ns/ops/sa/tool',
      '--path',
      '/orders/7',
    );
    expect(code).toBe(1);
    expect(out).toMatch(/^DENY \(NO_ALLOW_MATCH\)/m);
    expect(out).toMatch(/nearest rule: shop\/orders rule web-reads/);
    expect(out).toMatch(/from: caller spiffe:\/\/cluster\.local\/ns\/ops\/sa\/tool matches no source/);
  });

  it('reports a missing MFA from a claims file', async () => {
    const { code, out } = await run(
      ...base(),
      '--from',
      'spiffe://cluster.local/ns/shop/sa/web',
      '--method',
      'POST',
      '--path',
      '/orders/7/cancel',
      '--token',
      join(dir, 'claims.json'),
    );
    expect(code).toBe(1);
    expect(out).toMatch(/MFA_REQUIRED/);
    expect(out).toMatch(/needs multi-factor authentication/);
  });

  it('refuses bad input with exit 2 and a clear message', async () => {
    expect((await run('check', '--to', 'shop')).err).toMatch(/--policies and --to are required/);
    const bad = await run(...base(), '--from', 'spiffe://cluster.local/ns/../sa/x');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--from:/);
    const path = await run(...base(), '--path', '/a/%2e%2e/%2fadmin');
    expect(path.code).toBe(2);
    expect(path.err).toMatch(/path is refused/);
    expect((await run('check', '--policies', join(dir, 'missing'), '--to', 'shop')).code).toBe(2);
  });
});

describe('lanyard dev', () => {
  it('names a missing policy folder and exits 2 without starting anything', async () => {
    const { code, err } = await run('dev', '--policies', join(dir, 'no-such-folder'));
    expect(code).toBe(2);
    expect(err).toMatch(/--policies .*no-such-folder is not a folder of AuthPolicy YAML files/);
  });

  it('refuses unknown options with its usage', async () => {
    const { code, err } = await run('dev', '--frobnicate');
    expect(code).toBe(2);
    expect(err).toMatch(/Usage: lanyard dev/);
  });
});

describe('lanyard test', () => {
  it('runs table-driven cases and reports each, exit 0 when all pass', async () => {
    const cases = join(dir, 'cases.yaml');
    writeFileSync(
      cases,
      `cases:
  - name: web reads orders
    to: shop/app=orders
    from: spiffe://cluster.local/ns/shop/sa/web
    path: /orders/1
    expect: ALLOW
    rule: web-reads
  - name: managers need MFA to write
    to: shop/app=orders
    from: spiffe://cluster.local/ns/shop/sa/web
    method: POST
    path: /orders/1/cancel
    claims: {sub: bob, roles: [manager]}
    expect: DENY
    stepUp: true
`,
    );
    const { code, out } = await run('test', dir, cases);
    expect(out).toContain('✓ web reads orders');
    expect(out).toMatch(/^2 passed, 0 failed$/m);
    expect(code).toBe(0);
  });

  it('fails with exit 1 and explains a case that does not hold', async () => {
    const cases = join(dir, 'failing.yaml');
    writeFileSync(
      cases,
      `cases:
  - name: ops can write (wrong)
    to: shop/app=orders
    from: spiffe://cluster.local/ns/ops/sa/tool
    method: POST
    path: /orders/1/x
    expect: ALLOW
`,
    );
    const { code, out } = await run('test', dir, cases);
    expect(code).toBe(1);
    expect(out).toMatch(/✗ ops can write \(wrong\): expected ALLOW, got DENY/);
    expect(out).toMatch(/^0 passed, 1 failed$/m);
  });

  it('refuses a malformed cases file with exit 2', async () => {
    const cases = join(dir, 'bad.yaml');
    writeFileSync(cases, 'cases:\n  - {to: shop, expect: MAYBE}\n');
    const { code, err } = await run('test', dir, cases);
    expect(code).toBe(2);
    expect(err).toMatch(/expect must be ALLOW or DENY/);
  });
});

describe('lanyard check without a deciding rule', () => {
  it('names the DENY policies it checked when the mesh default decides', async () => {
    const denyOnly = join(dir, 'deny-only');
    mkdirSync(denyOnly);
    writeFileSync(
      join(denyOnly, 'no-admin.yaml'),
      'apiVersion: lanyard.dev/v1alpha1\nkind: AuthPolicy\nmetadata: {name: no-admin, namespace: shop}\nspec:\n  action: DENY\n  rules: [{to: [{paths: [/admin]}]}]\n',
    );
    const { code, out } = await run(
      'check',
      '--policies',
      denyOnly,
      '--to',
      'shop',
      '--path',
      '/orders',
      '--from',
      'spiffe://cluster.local/ns/shop/sa/web',
    );
    expect(code).toBe(0);
    expect(out).toMatch(/^ALLOW \(MESH_DEFAULT\)/);
    expect(out).toMatch(/no ALLOW policy selects this workload, so the mesh default decides/);
    expect(out).toMatch(/DENY policies that select it, none matching: shop\/no-admin/);
  });
});
