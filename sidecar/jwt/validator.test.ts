import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/helpers/clock.ts';
import { createTestCa } from '../../test/helpers/pki.ts';
import {
  b64url,
  createTestKey,
  FakeJwksFetcher,
  jwksOf,
  publicPem,
  rawSigningInput,
  signHs256,
  signRawEs256,
  signToken,
  startJwksServer,
  type JwksServer,
  type TestKey,
} from '../../test/helpers/sidecar-jwt.ts';
import { createHttpJwksFetcher } from './fetch.ts';
import {
  createJwtValidator,
  type IssuerConfig,
  type JwtValidator,
  type JwtValidatorOptions,
} from './validator.ts';

const ISSUER_A = 'https://login.a.example';
const ISSUER_B = 'https://login.b.example';

let es256: TestKey;
let rs256: TestKey;
let ps256: TestKey;
let eddsa: TestKey;
let otherIssuerKey: TestKey;
let attacker: TestKey;
let serverA: JwksServer;
let serverB: JwksServer;
let clock: FakeClock;
let validator: JwtValidator;
let issuerA: IssuerConfig;

const settled = () => new Promise((resolve) => setImmediate(resolve));
const nowSeconds = () => Math.floor(clock.now() / 1000);
const claims = (extra: Record<string, unknown> = {}) => ({
  iss: ISSUER_A,
  sub: 'alice',
  aud: 'orders',
  iat: nowSeconds(),
  exp: nowSeconds() + 300,
  ...extra,
});

function build(issuers: IssuerConfig[], options: JwtValidatorOptions = {}): JwtValidator {
  return createJwtValidator(issuers, {
    clock,
    fetcher: createHttpJwksFetcher({ allowInsecureHttpForTests: true, totalTimeoutMs: 2_000 }),
    ...options,
  });
}

async function rejectsWith(token: string, code: string, on: JwtValidator = validator): Promise<void> {
  await expect(on.verify(token)).rejects.toMatchObject({ name: 'LanyardError', code });
}

beforeAll(async () => {
  [es256, rs256, ps256, eddsa, otherIssuerKey, attacker] = await Promise.all([
    createTestKey('ES256', 'es-1'),
    createTestKey('RS256', 'rs-1'),
    createTestKey('PS256', 'ps-1'),
    createTestKey('EdDSA', 'ed-1'),
    createTestKey('ES256', 'b-1'),
    createTestKey('ES256', 'attacker'),
  ]);
  [serverA, serverB] = await Promise.all([startJwksServer(), startJwksServer()]);
});

afterAll(async () => {
  await Promise.all([serverA.close(), serverB.close()]);
});

beforeEach(() => {
  clock = new FakeClock();
  serverA.serve(jwksOf(es256, rs256, ps256, eddsa));
  serverB.serve(jwksOf(otherIssuerKey));
  issuerA = { issuer: ISSUER_A, jwksUri: serverA.url, audiences: ['orders', 'payments'] };
  validator = build([issuerA, { issuer: ISSUER_B, jwksUri: serverB.url, audiences: ['orders'] }]);
});

describe('valid tokens', () => {
  it.each(['ES256', 'RS256', 'PS256', 'EdDSA'])(
    'accepts a %s token and returns its verified claims and issuer',
    async (alg) => {
      const key = { ES256: es256, RS256: rs256, PS256: ps256, EdDSA: eddsa }[alg]!;
      const verified = await validator.verify(await signToken(key, claims({ roles: ['viewer'] })));
      expect(verified.issuer).toBe(issuerA);
      expect(verified.subject).toBe('alice');
      expect(verified.algorithm).toBe(alg);
      expect(verified.keyId).toBe(key.kid);
      expect(verified.claims.roles).toEqual(['viewer']);
      expect(Object.isFrozen(verified.claims.roles)).toBe(true);
    },
  );

  it('accepts an aud list that holds one accepted audience', async () => {
    await expect(
      validator.verify(await signToken(es256, claims({ aud: ['other', 'payments'] }))),
    ).resolves.toBeDefined();
  });

  it('accepts keys given inline in the policy, with no fetch', async () => {
    const inline = build([{ issuer: ISSUER_A, jwks: jwksOf(es256), audiences: ['orders'] }]);
    const before = serverA.requests;
    await expect(inline.verify(await signToken(es256, claims()))).resolves.toBeDefined();
    expect(serverA.requests).toBe(before);
  });

  it('accepts exp, nbf and iat within the clock skew', async () => {
    const token = await signToken(
      es256,
      claims({ exp: nowSeconds() - 29, nbf: nowSeconds() + 29, iat: nowSeconds() + 29 }),
    );
    await expect(validator.verify(token)).resolves.toBeDefined();
  });
});

describe('CVE classes', () => {
  it('alg none: an unsigned token is refused whatever the casing', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const input = rawSigningInput(JSON.stringify({ alg, kid: 'es-1' }), JSON.stringify(claims()));
      await rejectsWith(`${input}.`, 'ERR_JWT_ALG_NOT_ALLOWED');
    }
  });

  it('alg confusion RS->HS: an HS256 token keyed with the public RSA key (PEM or JWK) is refused', async () => {
    const input = rawSigningInput(JSON.stringify({ alg: 'HS256', kid: 'rs-1' }), JSON.stringify(claims()));
    await rejectsWith(signHs256(publicPem(rs256), input), 'ERR_JWT_ALG_NOT_ALLOWED');
    await rejectsWith(signHs256(JSON.stringify(rs256.publicJwk), input), 'ERR_JWT_ALG_NOT_ALLOWED');
    for (const alg of ['HS384', 'HS512']) {
      const other = rawSigningInput(JSON.stringify({ alg, kid: 'rs-1' }), JSON.stringify(claims()));
      await rejectsWith(signHs256(publicPem(rs256), other), 'ERR_JWT_ALG_NOT_ALLOWED');
    }
  });

  it('alg confusion across key types: the header alg must agree with the kty and alg of the kid it names', async () => {
    // An ES256 signature presented as ES384, and an RSA kid with an EC alg.
    const asEs384 = signRawEs256(
      es256,
      rawSigningInput(JSON.stringify({ alg: 'ES384', kid: 'es-1' }), JSON.stringify(claims())),
    );
    await rejectsWith(asEs384, 'ERR_JWT_ALG_NOT_ALLOWED');
    const ecAlgRsaKid = signRawEs256(
      es256,
      rawSigningInput(JSON.stringify({ alg: 'ES256', kid: 'rs-1' }), JSON.stringify(claims())),
    );
    await rejectsWith(ecAlgRsaKid, 'ERR_JWT_ALG_NOT_ALLOWED');
    // The JWKS pins rs-1 to RS256: a PS256 token under that kid is refused.
    await rejectsWith(await signToken({ ...ps256, kid: 'rs-1' }, claims()), 'ERR_JWT_ALG_NOT_ALLOWED');
  });

  it('kid injection and path traversal: the kid is only ever compared, never used as a path or property', async () => {
    for (const kid of [
      '../../../../dev/null',
      '/etc/passwd',
      '__proto__',
      'constructor',
      "x'OR'1'='1",
      'es-1/../es-1',
    ]) {
      await rejectsWith(await signToken({ ...attacker, kid }, claims()), 'ERR_JWT_KEY_NOT_FOUND');
    }
    for (const kid of ["x' OR '1'='1", 'es-1\u0000', 'es-1\r\nx', 'a b', '', 'k'.repeat(257), 42]) {
      const input = rawSigningInput(JSON.stringify({ alg: 'ES256', kid }), JSON.stringify(claims()));
      await rejectsWith(signRawEs256(attacker, input), 'ERR_JWT_MALFORMED');
    }
  });

  it('a token without a kid is refused: no key is guessed', async () => {
    const input = rawSigningInput(JSON.stringify({ alg: 'ES256' }), JSON.stringify(claims()));
    await rejectsWith(signRawEs256(es256, input), 'ERR_JWT_KEY_NOT_FOUND');
  });

  it('jku, x5u, jwk and x5c headers are never trusted or fetched', async () => {
    const lure = await startJwksServer();
    try {
      lure.serve(jwksOf(attacker));
      const header = { jku: lure.url, x5u: lure.url, jwk: attacker.publicJwk, x5c: ['MIIB'] };
      await rejectsWith(await signToken(attacker, claims(), header), 'ERR_JWT_KEY_NOT_FOUND');
      // Naming a real kid but signing with the embedded key does not help either.
      await rejectsWith(await signToken({ ...attacker, kid: 'es-1' }, claims(), header), 'ERR_JWT_SIGNATURE');
      expect(lure.requests).toBe(0);
    } finally {
      await lure.close();
    }
  });

  it('expired: exp past the clock skew is refused', async () => {
    await rejectsWith(await signToken(es256, claims({ exp: nowSeconds() - 31 })), 'ERR_JWT_EXPIRED');
    const token = await signToken(es256, claims());
    clock.advance(330_000);
    await rejectsWith(token, 'ERR_JWT_EXPIRED');
  });

  it('missing or non-numeric exp is refused', async () => {
    await rejectsWith(await signToken(es256, claims({ exp: undefined })), 'ERR_JWT_CLAIM_INVALID');
    await rejectsWith(
      await signToken(es256, claims({ exp: String(nowSeconds() + 300) })),
      'ERR_JWT_CLAIM_INVALID',
    );
    await rejectsWith(await signToken(es256, claims({ nbf: 'soon' })), 'ERR_JWT_CLAIM_INVALID');
    await rejectsWith(await signToken(es256, claims({ sub: 42 })), 'ERR_JWT_CLAIM_INVALID');
  });

  it('not yet valid: nbf or iat past the clock skew in the future is refused', async () => {
    await rejectsWith(await signToken(es256, claims({ nbf: nowSeconds() + 31 })), 'ERR_JWT_NOT_YET_VALID');
    await rejectsWith(await signToken(es256, claims({ iat: nowSeconds() + 31 })), 'ERR_JWT_NOT_YET_VALID');
  });

  it('wrong aud is refused', async () => {
    await rejectsWith(await signToken(es256, claims({ aud: 'inventory' })), 'ERR_JWT_AUDIENCE');
    await rejectsWith(await signToken(es256, claims({ aud: ['inventory', 'Orders'] })), 'ERR_JWT_AUDIENCE');
  });

  it('missing or malformed aud is refused', async () => {
    await rejectsWith(await signToken(es256, claims({ aud: undefined })), 'ERR_JWT_AUDIENCE');
    await rejectsWith(await signToken(es256, claims({ aud: [] })), 'ERR_JWT_AUDIENCE');
    await rejectsWith(await signToken(es256, claims({ aud: ['orders', 7] })), 'ERR_JWT_AUDIENCE');
  });

  it('wrong or missing iss is refused, with no near match', async () => {
    for (const iss of ['https://evil.example', `${ISSUER_A}/`, ISSUER_A.toUpperCase(), ` ${ISSUER_A}`]) {
      await rejectsWith(await signToken(es256, claims({ iss })), 'ERR_JWT_ISSUER_UNKNOWN');
    }
    await rejectsWith(await signToken(es256, claims({ iss: undefined })), 'ERR_JWT_ISSUER_UNKNOWN');
    await rejectsWith(await signToken(es256, claims({ iss: [ISSUER_A] })), 'ERR_JWT_ISSUER_UNKNOWN');
  });

  it('a token for another issuer signed by a key of the first is refused', async () => {
    // iss = B, signed with A's key: B's keys are the only ones tried.
    await rejectsWith(await signToken(es256, claims({ iss: ISSUER_B })), 'ERR_JWT_KEY_NOT_FOUND');
    // Even when B publishes a key under the same kid as A's.
    serverB.serve(jwksOf({ ...otherIssuerKey, publicJwk: { ...otherIssuerKey.publicJwk, kid: 'es-1' } }));
    const fresh = build([issuerA, { issuer: ISSUER_B, jwksUri: serverB.url, audiences: ['orders'] }]);
    await rejectsWith(await signToken(es256, claims({ iss: ISSUER_B })), 'ERR_JWT_SIGNATURE', fresh);
  });

  it('an oversize token is refused before any key is fetched', async () => {
    const before = serverA.requests;
    const token = await signToken(es256, claims({ padding: 'x'.repeat(17 * 1024) }));
    await rejectsWith(token, 'ERR_JWT_TOO_LARGE');
    expect(serverA.requests).toBe(before);
  });

  it('malformed base64url or structure is refused', async () => {
    const good = await signToken(es256, claims());
    const [header, payload, signature] = good.split('.') as [string, string, string];
    const cases = [
      `${header}.${payload}`,
      `${header}.${payload}.${signature}.x`,
      `${header}.x.${payload}.y.${signature}`,
      `${header}..${signature}`,
      `${header}=.${payload}.${signature}`,
      `${header}.${payload}.${signature}==`,
      `${header}.${payload.replace(/-/g, '+').replace(/_/g, '/')}+/.${signature}`,
      `${header}.${payload}.${signature.slice(0, -1)}`,
      `${header}.${b64url(Buffer.from([0xff, 0xfe]))}.${signature}`,
      `${b64url('[1]')}.${payload}.${signature}`,
      `${b64url('not json')}.${payload}.${signature}`,
      '',
      '...',
    ];
    for (const token of cases) await rejectsWith(token, 'ERR_JWT_MALFORMED');
  });

  it('non-canonical base64url (non-zero trailing bits) is refused', async () => {
    const good = await signToken(es256, claims());
    const [header, payload, signature] = good.split('.') as [string, string, string];
    // An ES256 signature is 64 bytes: 86 characters whose last one carries 2 unused bits.
    const last = signature.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = alphabet[alphabet.indexOf(last) ^ 1]!;
    await rejectsWith(`${header}.${payload}.${signature.slice(0, -1)}${twin}`, 'ERR_JWT_MALFORMED');
  });

  it('duplicate JSON member names are refused (payload and header)', async () => {
    const dupIss = `{"iss":"${ISSUER_B}","iss":"${ISSUER_A}","aud":"orders","exp":${nowSeconds() + 300}}`;
    await rejectsWith(
      signRawEs256(es256, rawSigningInput('{"alg":"ES256","kid":"es-1"}', dupIss)),
      'ERR_JWT_MALFORMED',
    );
    const escaped = `{"iss":"${ISSUER_A}","aud":"orders","\\u0061ud":"x","exp":${nowSeconds() + 300}}`;
    await rejectsWith(
      signRawEs256(es256, rawSigningInput('{"alg":"ES256","kid":"es-1"}', escaped)),
      'ERR_JWT_MALFORMED',
    );
    const dupAlg = rawSigningInput('{"alg":"HS256","alg":"ES256","kid":"es-1"}', JSON.stringify(claims()));
    await rejectsWith(signRawEs256(es256, dupAlg), 'ERR_JWT_MALFORMED');
  });

  it('too many claims or too deep nesting is refused', async () => {
    const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`c${i}`, i]));
    await rejectsWith(await signToken(es256, claims(many)), 'ERR_JWT_MALFORMED');
    let deep: unknown = 'x';
    for (let i = 0; i < 20; i++) deep = [deep];
    await rejectsWith(await signToken(es256, claims({ deep })), 'ERR_JWT_MALFORMED');
  });

  it('crit, b64 and zip headers are refused: none is understood', async () => {
    const crit = signRawEs256(
      es256,
      rawSigningInput('{"alg":"ES256","kid":"es-1","crit":["exp"],"exp":1}', JSON.stringify(claims())),
    );
    await rejectsWith(crit, 'ERR_JWT_HEADER_UNSUPPORTED');
    const b64 = signRawEs256(
      es256,
      rawSigningInput('{"alg":"ES256","kid":"es-1","b64":false}', JSON.stringify(claims())),
    );
    await rejectsWith(b64, 'ERR_JWT_HEADER_UNSUPPORTED');
    await rejectsWith(await signToken(es256, claims(), { zip: 'DEF' }), 'ERR_JWT_HEADER_UNSUPPORTED');
  });

  it('a tampered payload is refused', async () => {
    const [header, , signature] = (await signToken(es256, claims())).split('.') as [string, string, string];
    const forged = b64url(JSON.stringify(claims({ sub: 'admin' })));
    await rejectsWith(`${header}.${forged}.${signature}`, 'ERR_JWT_SIGNATURE');
  });

  it('an algorithm not enabled for the issuer is refused', async () => {
    const strict = build([{ ...issuerA, algorithms: ['RS256'] }]);
    await rejectsWith(await signToken(es256, claims()), 'ERR_JWT_ALG_NOT_ALLOWED', strict);
  });

  it('errors never carry the token', async () => {
    const token = await signToken(es256, claims({ aud: 'inventory' }));
    const error = await validator.verify(token).catch((caught: unknown) => caught);
    const [, payload, signature] = token.split('.') as [string, string, string];
    const text = JSON.stringify(error, Object.getOwnPropertyNames(error)) + String(error);
    expect(text).not.toContain(payload);
    expect(text).not.toContain(signature);
  });
});

describe('JWKS', () => {
  it('unknown kid: refetched at most once per 30 s per issuer', async () => {
    const rotated = await createTestKey('ES256', 'es-2');
    const base = serverA.requests;
    const fetches = () => serverA.requests - base;
    await validator.verify(await signToken(es256, claims()));
    expect(fetches()).toBe(1);
    serverA.serve(jwksOf(es256, rotated));
    const token = await signToken(rotated, claims());
    for (let i = 0; i < 5; i++) await rejectsWith(token, 'ERR_JWT_KEY_NOT_FOUND');
    await rejectsWith(await signToken(attacker, claims()), 'ERR_JWT_KEY_NOT_FOUND');
    expect(fetches()).toBe(1);
    clock.advance(30_000);
    await expect(validator.verify(token)).resolves.toMatchObject({ keyId: 'es-2' });
    expect(fetches()).toBe(2);
    for (let i = 0; i < 5; i++)
      await rejectsWith(await signToken(attacker, claims()), 'ERR_JWT_KEY_NOT_FOUND');
    expect(fetches()).toBe(2);
  });

  it('a key removed from the JWKS is no longer accepted after the refresh', async () => {
    const base = serverA.requests;
    const token = await signToken(rs256, claims({ exp: nowSeconds() + 3600 }));
    await validator.verify(token);
    serverA.serve(jwksOf(es256));
    clock.advance(10 * 60_000); // the default max-age: this verify serves stale and revalidates
    await validator.verify(token);
    await expect.poll(() => serverA.requests - base).toBe(2);
    await expect
      .poll(() => validator.verify(token).catch((error: { code: string }) => error.code))
      .toBe('ERR_JWT_KEY_NOT_FOUND');
  });

  it('JWKS endpoint down with nothing cached: fail closed', async () => {
    serverA.reply.status = 503;
    await rejectsWith(await signToken(es256, claims()), 'ERR_JWKS_UNAVAILABLE');
    const unreachable = build([
      { issuer: ISSUER_A, jwksUri: 'http://127.0.0.1:1/jwks', audiences: ['orders'] },
    ]);
    await rejectsWith(await signToken(es256, claims()), 'ERR_JWKS_UNAVAILABLE', unreachable);
  });

  it('JWKS endpoint that never answers: fail closed after the timeout', async () => {
    serverA.reply.hang = true;
    const impatient = createJwtValidator([issuerA], {
      clock,
      fetcher: createHttpJwksFetcher({ allowInsecureHttpForTests: true, totalTimeoutMs: 50 }),
    });
    await rejectsWith(await signToken(es256, claims()), 'ERR_JWKS_UNAVAILABLE', impatient);
  });

  it('JWKS served stale while revalidating, then fail closed once past the stale window', async () => {
    const fetcher = new FakeJwksFetcher();
    const cached = createJwtValidator([issuerA], { clock, fetcher });
    const first = cached.verify(await signToken(es256, claims()));
    await expect.poll(() => fetcher.waiting).toBe(1);
    fetcher.answer({ body: jwksOf(es256), maxAgeSeconds: 300 });
    await first;

    clock.advance(301_000);
    // Stale: answered at once from the cache while one refresh is in flight.
    await expect(cached.verify(await signToken(es256, claims()))).resolves.toBeDefined();
    await expect(cached.verify(await signToken(es256, claims()))).resolves.toBeDefined();
    expect(fetcher.calls).toBe(2);
    fetcher.fail();
    await settled();

    // Still inside the stale window (1 h): the old keys keep serving while the IdP is down.
    clock.advance(30 * 60_000);
    await expect(cached.verify(await signToken(es256, claims()))).resolves.toBeDefined();
    fetcher.fail();
    await settled();

    // Past it: fail closed, no fallback.
    clock.advance(31 * 60_000);
    const late = cached.verify(await signToken(es256, claims()));
    await expect.poll(() => fetcher.waiting).toBe(1);
    fetcher.fail();
    await expect(late).rejects.toMatchObject({ code: 'ERR_JWKS_UNAVAILABLE' });
  });

  it('JWKS over real https with a test CA; refused without that CA', async () => {
    const ca = await createTestCa();
    const leaf = await ca.issue({ subject: 'CN=jwks', ipAddresses: ['127.0.0.1'], usage: 'server' });
    const secure = await startJwksServer(leaf);
    try {
      secure.serve(jwksOf(es256));
      const config = { issuer: ISSUER_A, jwksUri: secure.url, audiences: ['orders'] };
      const trusting = createJwtValidator([config], {
        clock,
        fetcher: createHttpJwksFetcher({ ca: ca.certPem }),
      });
      await expect(trusting.verify(await signToken(es256, claims()))).resolves.toBeDefined();
      const untrusting = createJwtValidator([config], { clock, fetcher: createHttpJwksFetcher() });
      await rejectsWith(await signToken(es256, claims()), 'ERR_JWKS_UNAVAILABLE', untrusting);
    } finally {
      await secure.close();
    }
  });
});

describe('verified-token cache', () => {
  // A hit returns the very object the first verification made; a full check makes a new one.
  it('serves a repeated token from the cache until exp, then checks it in full', async () => {
    const token = await signToken(es256, claims({ exp: nowSeconds() + 60 }));
    const first = await validator.verify(token);
    await expect(validator.verify(token)).resolves.toBe(first);
    clock.advance(59_999 - (clock.now() % 1000));
    await expect(validator.verify(token)).resolves.toBe(first);
    clock.advance(1);
    // At exp: no longer from the cache; the full check still allows the clock skew...
    const checked = await validator.verify(token);
    expect(checked).not.toBe(first);
    expect(checked.claims).toEqual(first.claims);
    // ...and past it refuses.
    clock.advance(30_000);
    await rejectsWith(token, 'ERR_JWT_EXPIRED');
  });

  it('keeps at most tokenCacheSize entries, least recently used first out', async () => {
    const small = build([issuerA], { tokenCacheSize: 2 });
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((sub) => signToken(es256, claims({ sub }))));
    const first = { a: await small.verify(a!), b: await small.verify(b!) };
    await expect(small.verify(a!)).resolves.toBe(first.a); // a is now the most recent
    const third = await small.verify(c!); // evicts b
    await expect(small.verify(a!)).resolves.toBe(first.a);
    await expect(small.verify(c!)).resolves.toBe(third);
    const again = await small.verify(b!);
    expect(again).not.toBe(first.b);
    expect(again.subject).toBe('b');
  });

  it('tokenCacheSize 0 turns the cache off', async () => {
    const off = build([issuerA], { tokenCacheSize: 0 });
    const token = await signToken(es256, claims());
    expect(await off.verify(token)).not.toBe(await off.verify(token));
    expect(() => build([issuerA], { tokenCacheSize: -1 })).toThrow(/tokenCacheSize/);
    expect(() => build([issuerA], { tokenCacheSize: 100_001 })).toThrow(/tokenCacheSize/);
  });

  it('a token verified under a key that was rotated away is checked again, and refused', async () => {
    const fetcher = new FakeJwksFetcher();
    const cached = createJwtValidator([issuerA], { clock, fetcher });
    const token = await signToken(es256, claims({ exp: nowSeconds() + 3600 }));
    const pending = cached.verify(token);
    await expect.poll(() => fetcher.waiting).toBe(1);
    fetcher.answer({ body: jwksOf(es256), maxAgeSeconds: 300 });
    const first = await pending;

    // A refresh that returns the same document keeps the entry.
    clock.advance(301_000);
    await expect(cached.verify(token)).resolves.toBe(first); // stale, revalidating
    fetcher.answer({ body: jwksOf(es256), maxAgeSeconds: 300 });
    await settled();
    await expect(cached.verify(token)).resolves.toBe(first);

    // A refresh that drops the key: the cached verification is not served any more.
    clock.advance(301_000);
    await expect(cached.verify(token)).resolves.toBe(first);
    fetcher.answer({ body: jwksOf(rs256), maxAgeSeconds: 300 });
    await settled();
    await expect(cached.verify(token)).rejects.toMatchObject({ code: 'ERR_JWT_KEY_NOT_FOUND' });
  });

  it('a key set that is no longer usable (stale window over) is never bypassed by the cache', async () => {
    const fetcher = new FakeJwksFetcher();
    const cached = createJwtValidator([issuerA], { clock, fetcher });
    const token = await signToken(es256, claims({ exp: nowSeconds() + 3 * 3600 }));
    const pending = cached.verify(token);
    await expect.poll(() => fetcher.waiting).toBe(1);
    fetcher.answer({ body: jwksOf(es256), maxAgeSeconds: 300 });
    await pending;
    clock.advance(301_000 + 3600_000);
    const late = cached.verify(token);
    await expect.poll(() => fetcher.waiting).toBe(1);
    fetcher.fail();
    await expect(late).rejects.toMatchObject({ code: 'ERR_JWKS_UNAVAILABLE' });
  });

  it('a forged token (same header and payload, other signature) is never served from the cache', async () => {
    const good = await signToken(es256, claims());
    await validator.verify(good);
    const [header, payload, signature] = good.split('.') as [string, string, string];
    await rejectsWith(signRawEs256(attacker, `${header}.${payload}`), 'ERR_JWT_SIGNATURE');
    const otherPayload = b64url(JSON.stringify(claims({ sub: 'admin' })));
    await rejectsWith(`${header}.${otherPayload}.${signature}`, 'ERR_JWT_SIGNATURE');
    await expect(validator.verify(good)).resolves.toMatchObject({ subject: 'alice' });
  });

  it('a token that failed a check is not remembered as valid', async () => {
    const wrongAudience = await signToken(es256, claims({ aud: 'elsewhere' }));
    await rejectsWith(wrongAudience, 'ERR_JWT_AUDIENCE');
    await rejectsWith(wrongAudience, 'ERR_JWT_AUDIENCE');
    const early = await signToken(es256, claims({ nbf: nowSeconds() + 120 }));
    await rejectsWith(early, 'ERR_JWT_NOT_YET_VALID');
    await rejectsWith(early, 'ERR_JWT_NOT_YET_VALID');
    clock.advance(120_000);
    await expect(validator.verify(early)).resolves.toMatchObject({ subject: 'alice' });
  });

  it('is not served before nbf less the skew if the clock steps back', async () => {
    const token = await signToken(es256, claims({ nbf: nowSeconds() }));
    const first = await validator.verify(token);
    clock.set(clock.now() - 60_000);
    await rejectsWith(token, 'ERR_JWT_NOT_YET_VALID');
    clock.set(clock.now() + 60_000);
    expect(await validator.verify(token)).not.toBe(first);
  });
});

describe('configuration', () => {
  const invalid = (issuers: IssuerConfig[], options: JwtValidatorOptions = {}) =>
    expect(() => createJwtValidator(issuers, { clock, fetcher: new FakeJwksFetcher(), ...options })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }) as Error,
    );

  it('refuses bad issuer configurations at once', () => {
    invalid([{ issuer: ISSUER_A, jwksUri: 'https://a.example/jwks', audiences: [] }]);
    invalid([{ issuer: ISSUER_A, audiences: ['orders'] }]);
    invalid([
      { issuer: ISSUER_A, jwksUri: 'https://a.example/jwks', jwks: jwksOf(es256), audiences: ['orders'] },
    ]);
    invalid([{ issuer: '', jwksUri: 'https://a.example/jwks', audiences: ['orders'] }]);
    invalid([
      { issuer: ISSUER_A, jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'h' }] }, audiences: ['orders'] },
    ]);
    invalid([{ issuer: ISSUER_A, jwksUri: 'https://user:pw@a.example/jwks', audiences: ['orders'] }]);
    invalid([
      {
        issuer: ISSUER_A,
        jwksUri: 'https://a.example/jwks',
        audiences: ['orders'],
        algorithms: ['HS256' as 'RS256'],
      },
    ]);
    invalid([{ issuer: ISSUER_A, jwksUri: 'https://a.example/jwks', audiences: ['orders'], algorithms: [] }]);
    invalid([
      { issuer: ISSUER_A, jwksUri: 'https://a.example/jwks', audiences: ['orders'] },
      { issuer: ISSUER_A, jwksUri: 'https://b.example/jwks', audiences: ['orders'] },
    ]);
    invalid([{ issuer: ISSUER_A, jwksUri: 'https://a.example/jwks', audiences: ['orders'] }], {
      clockSkewMs: 3_600_000,
    });
  });

  it('refuses a plain http JWKS URI unless the test option allows it', () => {
    expect(() =>
      createJwtValidator([{ issuer: ISSUER_A, jwksUri: 'http://a.example/jwks', audiences: ['orders'] }], {
        fetcher: createHttpJwksFetcher(),
      }),
    ).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }) as Error);
  });
});
