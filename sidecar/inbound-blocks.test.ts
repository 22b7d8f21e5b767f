// Blocks in the inbound pipeline: each type refuses with 403 BLOCKED before any policy (dry-run,
// AUDIT and ALLOW alike), only verified values match, and a block ends at its expiry.
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../test/helpers/clock.ts';
import { normalizePath } from '../lib/path.ts';
import { compilePolicies, type WorkloadPolicy } from '../lib/policy/index.ts';
import { BlockSet, type BlockKind } from './block-set.ts';
import { createInboundPipeline, type InboundOutcome, type InboundRequest } from './inbound.ts';
import { createJwtValidator } from './jwt/index.ts';
import { tokenId } from './token-facts.ts';

const ISSUER = 'https://login.shop.example';
const WEB = 'spiffe://cluster.local/ns/shop/sa/web';
const OTHER = 'spiffe://cluster.local/ns/shop/sa/other';
const T0 = Date.UTC(2026, 10, 29, 12);
let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
let otherKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
let jwks: string;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  privateKey = pair.privateKey;
  otherKey = (await generateKeyPair('ES256')).privateKey;
  jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] });
});

/** The workload's view of one policy with the given action and dry-run switch. */
function view(action: 'ALLOW' | 'DENY' | 'AUDIT', dryRun = false): WorkloadPolicy {
  const { index, results } = compilePolicies([
    {
      apiVersion: 'lanyard.dev/v1alpha1',
      kind: 'AuthPolicy',
      metadata: { name: 'orders', namespace: 'shop' },
      spec: {
        selector: { matchLabels: { app: 'orders' } },
        userTokens: [{ issuer: ISSUER, jwks, audiences: ['orders'] }],
        action,
        dryRun,
        rules: [{ name: 'everyone', to: [{ paths: ['/{**}'] }] }],
      },
    },
  ]);
  expect(results[0]!.errors).toEqual([]);
  return index.forWorkload({ namespace: 'shop', labels: { app: 'orders' } });
}

function setup(policy: WorkloadPolicy = view('ALLOW')) {
  const clock = new FakeClock(T0);
  const blocks = new BlockSet(clock);
  const pipeline = createInboundPipeline({
    policy: () => policy,
    normalizePath,
    validatorFor: (issuers) => createJwtValidator(issuers, { clock }),
    blocks,
    clock,
  });
  const block = (type: BlockKind, value: string, ttlMs = 60_000, id = `id-${type}`) =>
    blocks.replace({
      version: `v-${id}`,
      sentMs: clock.now(),
      blocks: [{ id, type, value, expiresMs: clock.now() + ttlMs }],
    });
  return { clock, blocks, pipeline, block };
}

async function token(claims: Record<string, unknown> = {}, key = privateKey, expiresInS = 300) {
  const now = Math.floor(T0 / 1000);
  return new SignJWT({ aud: 'orders', sub: 'alice', ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(ISSUER)
    .setIssuedAt(now)
    .setExpirationTime(now + expiresInS)
    .sign(key);
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

const bearer = (value: string): InboundRequest['headers'] => [['authorization', `Bearer ${value}`]];

function expectBlocked(outcome: InboundOutcome, id: string, type: BlockKind) {
  expect(outcome).toMatchObject({ kind: 'reject', status: 403, reason: 'BLOCKED', block: { id, type } });
  // No policy decided: the block did, before evaluation.
  expect(outcome.decision).toBeUndefined();
}

describe('blocks in the inbound pipeline', () => {
  it('refuses a blocked peer principal, and only that one', async () => {
    const { pipeline, block } = setup();
    block('principal', WEB);
    expectBlocked(await pipeline.decide(request()), 'id-principal', 'principal');
    expect((await pipeline.decide(request({ peer: OTHER }))).kind).toBe('forward');
  });

  it('refuses a blocked user subject from a verified token, naming the token', async () => {
    const { pipeline, block } = setup();
    block('user', 'alice');
    const alice = await token({ jti: 'jti-1' });
    const outcome = await pipeline.decide(request({ headers: bearer(alice) }));
    expectBlocked(outcome, 'id-user', 'user');
    expect(outcome).toMatchObject({ user: 'alice', token: { id: 'jti-1', issuer: ISSUER } });
    expect((await pipeline.decide(request({ headers: bearer(await token({ sub: 'bob' })) }))).kind).toBe(
      'forward',
    );
  });

  it('refuses a blocked token id: the jti, or the digest of a token without one', async () => {
    const { pipeline, block } = setup();
    block('token', 'jti-stolen');
    expectBlocked(
      await pipeline.decide(request({ headers: bearer(await token({ jti: 'jti-stolen' })) })),
      'id-token',
      'token',
    );
    const noJti = await token({ sub: 'carol' });
    block('token', tokenId(noJti));
    expectBlocked(await pipeline.decide(request({ headers: bearer(noJti) })), 'id-token', 'token');
    expect((await pipeline.decide(request({ headers: bearer(await token({ jti: 'jti-fine' })) }))).kind).toBe(
      'forward',
    );
  });

  it('never matches claims of a token that did not verify: a forged token is refused as invalid', async () => {
    const { pipeline, block } = setup();
    block('user', 'alice');
    const forged = await token({ jti: 'jti-1' }, otherKey);
    const outcome = await pipeline.decide(request({ headers: bearer(forged) }));
    expect(outcome).toMatchObject({
      kind: 'reject',
      status: 401,
      reason: 'ERR_JWT_SIGNATURE',
      token: { id: tokenId(forged), failure: 'BAD_SIGNATURE' },
    });
    // The forged token's claimed jti is never its id.
    expect(outcome.kind === 'reject' && outcome.token?.id).not.toBe('jti-1');
    expect(outcome.kind === 'reject' && outcome.block).toBeUndefined();
  });

  it('does not match a token that no policy can verify, nor a plaintext caller by principal', async () => {
    const noIssuers = compilePolicies([
      {
        apiVersion: 'lanyard.dev/v1alpha1',
        kind: 'AuthPolicy',
        metadata: { name: 'open', namespace: 'shop' },
        spec: {
          selector: { matchLabels: { app: 'orders' } },
          action: 'ALLOW',
          rules: [{ to: [{ paths: ['/{**}'] }] }],
        },
      },
    ]).index.forWorkload({ namespace: 'shop', labels: { app: 'orders' } });
    const { pipeline, block } = setup(noIssuers);
    const unverifiable = await token({ jti: 'jti-x' });
    block('token', 'jti-x');
    const outcome = await pipeline.decide(request({ headers: bearer(unverifiable) }));
    expect(outcome.kind).toBe('forward');
    expect(outcome.token).toEqual({ id: tokenId(unverifiable) });
    // A plaintext caller has no verified principal: whatever policy says of it, no block does.
    block('principal', WEB);
    const plaintext = await pipeline.decide(request({ peer: undefined }));
    expect(plaintext.kind === 'reject' && plaintext.reason).not.toBe('BLOCKED');
  });

  it.each([
    ['a dry-run DENY', 'DENY', true],
    ['an AUDIT policy', 'AUDIT', false],
    ['an ALLOW policy that allows everything', 'ALLOW', false],
  ] as const)('applies under %s', async (_name, action, dryRun) => {
    const { pipeline, block } = setup(view(action, dryRun));
    expect((await pipeline.decide(request())).kind).toBe('forward');
    block('principal', WEB);
    expectBlocked(await pipeline.decide(request()), 'id-principal', 'principal');
  });

  it('allows again once the block expires, by the sidecar clock', async () => {
    const { pipeline, block, clock } = setup();
    block('principal', WEB, 2000);
    expectBlocked(await pipeline.decide(request()), 'id-principal', 'principal');
    clock.advance(2000);
    expect((await pipeline.decide(request())).kind).toBe('forward');
  });

  it('reports the token id, issuer and failure kind of an expired token', async () => {
    const { pipeline, clock } = setup();
    const expiring = await token({ jti: 'jti-old' }, privateKey, 60);
    clock.advance(10 * 60_000);
    expect(await pipeline.decide(request({ headers: bearer(expiring) }))).toMatchObject({
      kind: 'reject',
      status: 401,
      reason: 'ERR_JWT_EXPIRED',
      token: { id: tokenId(expiring), failure: 'EXPIRED' },
    });
  });
});
