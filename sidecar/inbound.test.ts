import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../test/helpers/clock.ts';
import { normalizePath } from '../lib/path.ts';
import { compilePolicies, type WorkloadPolicy } from '../lib/policy/index.ts';
import { createInboundPipeline, type InboundOutcome, type InboundRequest } from './inbound.ts';
import { createJwtValidator } from './jwt/index.ts';

const ISSUER = 'https://login.shop.example';
const WEB = 'spiffe://cluster.local/ns/shop/sa/web';
const ADMIN_TOOL = 'spiffe://cluster.local/ns/shop/sa/admin-tool';
const clock = new FakeClock(Date.UTC(2026, 10, 29, 12));
let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
let view: WorkloadPolicy;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  privateKey = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const policy = {
    apiVersion: 'lanyard.dev/v1alpha1',
    kind: 'AuthPolicy',
    metadata: { name: 'orders', namespace: 'shop' },
    spec: {
      selector: { matchLabels: { app: 'orders' } },
      userTokens: [
        {
          issuer: ISSUER,
          jwks: JSON.stringify({ keys: [jwk] }),
          audiences: ['orders'],
          claimsToHeaders: [{ claim: ['email'], header: 'x-user-email' }],
        },
      ],
      permissions: [
        { name: 'read', methods: ['GET'], paths: ['/orders', '/orders/{id}'] },
        { name: 'write', methods: ['POST'], paths: ['/orders/{**}'] },
      ],
      roles: [{ name: 'manager', permissions: ['read', 'write'] }],
      action: 'ALLOW',
      rules: [
        { name: 'web-reads', from: [{ principals: [WEB] }], to: [{ permission: 'read' }] },
        {
          name: 'managers-write',
          from: [{ namespaces: ['shop'] }],
          to: [{ permission: 'write' }],
          when: [{ role: 'manager' }],
          requireMfa: {},
          rateLimit: { requests: 2, per: '1m', by: 'user' },
        },
      ],
    },
  };
  const { index, results } = compilePolicies([policy]);
  expect(results[0]!.errors).toEqual([]);
  view = index.forWorkload({ namespace: 'shop', labels: { app: 'orders' } });
});

function pipeline(policy: () => WorkloadPolicy | undefined = () => view) {
  return createInboundPipeline({
    policy,
    normalizePath,
    validatorFor: (issuers) => createJwtValidator(issuers, { clock }),
    clock,
  });
}

async function token(claims: Record<string, unknown>, expiresInS = 300) {
  const now = Math.floor(clock.now() / 1000);
  return new SignJWT({ aud: 'orders', ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(ISSUER)
    .setSubject(typeof claims.sub === 'string' ? claims.sub : 'alice')
    .setIssuedAt(now)
    .setExpirationTime(now + expiresInS)
    .sign(privateKey);
}

function request(overrides: Partial<InboundRequest> = {}): InboundRequest {
  return {
    method: 'GET',
    url: '/orders/42',
    host: 'orders.shop',
    port: 8080,
    headers: [],
    peer: WEB,
    ...overrides,
  };
}

function status(outcome: InboundOutcome): number {
  return outcome.kind === 'forward' ? 200 : outcome.status;
}

describe('inbound pipeline', () => {
  it('forwards an allowed call, naming the policy and rule that decided', async () => {
    const outcome = await pipeline().decide(request({ url: '/orders/42?expand=items' }));
    expect(outcome.kind).toBe('forward');
    if (outcome.kind !== 'forward') return;
    expect(outcome.target).toBe('/orders/42?expand=items');
    expect(outcome.decision.decidedBy).toEqual({
      policy: { namespace: 'shop', name: 'orders' },
      rule: 'web-reads',
    });
    expect(outcome.headers).toContainEqual(['x-lanyard-peer-id', WEB]);
  });

  it('answers 503 until a policy snapshot is loaded', async () => {
    expect(status(await pipeline(() => undefined).decide(request()))).toBe(503);
  });

  it('denies what no rule allows with 403', async () => {
    const outcome = await pipeline().decide(request({ peer: ADMIN_TOOL }));
    expect(outcome).toMatchObject({ kind: 'reject', status: 403, reason: 'NO_ALLOW_MATCH' });
  });

  it('authorizes the normalized path and forwards that same path (no ../ bypass)', async () => {
    const outcome = await pipeline().decide(request({ url: '/orders/42/../../admin' }));
    expect(status(outcome)).toBe(403);
    const encoded = await pipeline().decide(request({ url: '/orders%2F..%2Fadmin' }));
    expect(encoded).toMatchObject({ kind: 'reject', status: 400 });
  });

  it('rejects an invalid token with 401 invalid_token, never treating it as anonymous', async () => {
    const good = await token({ roles: ['manager'] });
    const tampered = `${good.slice(0, -6)}AAAAAA`;
    const outcome = await pipeline().decide(request({ headers: [['authorization', `Bearer ${tampered}`]] }));
    expect(outcome).toMatchObject({ kind: 'reject', status: 401, reason: 'ERR_JWT_SIGNATURE' });
    expect(outcome.kind === 'reject' && outcome.headers['www-authenticate']).toMatch(/error="invalid_token"/);
  });

  it('rejects an expired token with 401', async () => {
    const expired = await token({}, -120);
    const outcome = await pipeline().decide(request({ headers: [['authorization', `Bearer ${expired}`]] }));
    expect(outcome).toMatchObject({ kind: 'reject', status: 401, reason: 'ERR_JWT_EXPIRED' });
  });

  it('refuses two Authorization headers', async () => {
    const t = await token({});
    const outcome = await pipeline().decide(
      request({
        headers: [
          ['authorization', `Bearer ${t}`],
          ['Authorization', 'Bearer other'],
        ],
      }),
    );
    expect(outcome).toMatchObject({ kind: 'reject', status: 400 });
  });

  it('sends a manager without MFA back for step-up (RFC 9470)', async () => {
    const t = await token({ roles: ['manager'], amr: ['pwd'] });
    const outcome = await pipeline().decide(
      request({ method: 'POST', url: '/orders/42/cancel', headers: [['authorization', `Bearer ${t}`]] }),
    );
    expect(outcome).toMatchObject({ kind: 'reject', status: 401, reason: 'MFA_REQUIRED' });
    expect(outcome.kind === 'reject' && outcome.headers['www-authenticate']).toMatch(
      /error="insufficient_user_authentication"/,
    );
  });

  it('allows a manager with MFA, strips spoofed headers and sets verified ones', async () => {
    const t = await token({ roles: ['manager'], amr: ['pwd', 'otp', 'mfa'], email: 'alice@shop.example' });
    const outcome = await pipeline().decide(
      request({
        method: 'POST',
        url: '/orders/42/cancel',
        headers: [
          ['authorization', `Bearer ${t}`],
          ['X-Lanyard-User', 'mallory'],
          ['x-user-email', 'mallory@evil.example'],
          ['x-forwarded-client-cert', 'By=spiffe://cluster.local/ns/ops/sa/admin'],
        ],
      }),
    );
    expect(outcome.kind).toBe('forward');
    if (outcome.kind !== 'forward') return;
    expect(outcome.decision.decidedBy?.rule).toBe('managers-write');
    const names = outcome.headers.map(([name, value]) => `${name.toLowerCase()}: ${value}`);
    expect(names).toContain('x-lanyard-user: alice');
    expect(names).toContain('x-user-email: alice@shop.example');
    expect(names.join('\n')).not.toMatch(/mallory|x-forwarded-client-cert/);
  });

  it('rate-limits per user with 429 and Retry-After', async () => {
    const p = pipeline();
    const t = await token({ sub: 'bob', roles: ['manager'], amr: ['mfa'] });
    const call = () =>
      p.decide(request({ method: 'POST', url: '/orders/1/x', headers: [['authorization', `Bearer ${t}`]] }));
    expect(status(await call())).toBe(200);
    expect(status(await call())).toBe(200);
    const limited = await call();
    expect(limited).toMatchObject({ kind: 'reject', status: 429 });
    expect(Number(limited.kind === 'reject' && limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    const other = await token({ sub: 'carol', roles: ['manager'], amr: ['mfa'] });
    const carol = await p.decide(
      request({ method: 'POST', url: '/orders/1/x', headers: [['authorization', `Bearer ${other}`]] }),
    );
    expect(status(carol)).toBe(200);
  });
});

describe('inbound pipeline validators', () => {
  it('makes one token validator per policy snapshot, not per request', async () => {
    let made = 0;
    const p = createInboundPipeline({
      policy: () => view,
      normalizePath,
      validatorFor: (issuers) => {
        made += 1;
        return createJwtValidator(issuers, { clock });
      },
      clock,
    });
    const t = await token({});
    for (let i = 0; i < 3; i += 1) await p.decide(request({ headers: [['authorization', `Bearer ${t}`]] }));
    expect(made).toBe(1);
  });
});
