import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeJwt, jwtVerify, SignJWT } from 'jose';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../lib/logger.ts';
import { parseSpiffeId } from '../lib/spiffe.ts';
import { FakeClock } from '../test/helpers/clock.ts';
import { createTestCa, type PemPair, type TestCa } from '../test/helpers/pki.ts';
import { createTestKey, jwksOf, signToken, type TestKey } from '../test/helpers/sidecar-jwt.ts';
import { addClient, addUser } from './admin.ts';
import { createIdp, type Idp } from './app.ts';
import { openSqliteStore } from './store/sqlite.ts';
import type { SqlStore } from './store/sql-store.ts';
import {
  ACCESS_TOKEN_TYPE,
  authorizeExchange,
  compileAllowList,
  JWT_TOKEN_TYPE,
  TOKEN_EXCHANGE_GRANT,
} from './token-exchange.ts';
import { JWT_BEARER_ASSERTION } from './workload-auth.ts';

const ISSUER = 'https://login.test.example';
const MESH_ISSUER = 'https://ca.mesh.test';
const ORDERS = 'spiffe://mesh.test/ns/shop/sa/orders';
const PAYMENTS = 'spiffe://mesh.test/ns/shop/sa/payments';
const STRANGER = 'spiffe://mesh.test/ns/other/sa/stranger';
const dir = mkdtempSync(join(tmpdir(), 'lanyard-idp-exchange-'));
const clock = new FakeClock(Date.now());
let store: SqlStore;
let idp: Idp;
let meshCa: TestCa;
let meshKey: TestKey;
let port: number;
let aliceId: string;
const certs: Record<string, PemPair> = {};

beforeAll(async () => {
  meshCa = await createTestCa('mesh-ca');
  const foreignCa = await createTestCa('foreign-ca');
  const server = await meshCa.issue({
    subject: 'CN=login',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    usage: 'server',
  });
  const leaf = (uri: string) => meshCa.issue({ subject: 'CN=svid', uris: [uri], usage: 'client' });
  certs.orders = await leaf(ORDERS);
  certs.stranger = await leaf(STRANGER);
  certs.otherDomain = await leaf('spiffe://other.test/ns/shop/sa/orders');
  certs.foreignCa = await foreignCa.issue({ subject: 'CN=svid', uris: [ORDERS], usage: 'client' });
  meshKey = await createTestKey('ES256', 'mesh-jwt-1');
  const jwksFile = join(dir, 'mesh-jwks.json');
  writeFileSync(jwksFile, JSON.stringify(jwksOf(meshKey)));

  store = openSqliteStore(join(dir, 'idp.db'));
  await store.migrate();
  idp = await createIdp({
    issuer: ISSUER,
    store,
    secretKey: randomBytes(32),
    clock,
    logger: silentLogger,
    registry: new Registry(),
    https: { cert: server.certPem, key: server.keyPem, ca: meshCa.certPem },
    tokenExchange: {
      trustDomain: 'mesh.test',
      jwks: { file: jwksFile },
      jwtIssuer: MESH_ISSUER,
      allow: [
        { workload: ORDERS, audiences: ['payments'] },
        { workload: 'spiffe://mesh.test/ns/shop/*', audiences: ['ledger'] },
      ],
    },
  });
  await addClient(store, clock, {
    id: 'web',
    name: 'Web',
    redirectUris: ['https://app.test/cb'],
    confidential: false,
  });
  aliceId = (
    await addUser(store, clock, {
      username: 'alice',
      password: 'alice password 1',
      roles: ['manager'],
      groups: ['shop'],
    })
  ).id;
  await idp.server.listen({ host: '127.0.0.1', port: 0 });
  port = (idp.server.server.address() as AddressInfo).port;
});
afterAll(async () => {
  await idp.server.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function userToken(): Promise<string> {
  const response = await idp.tokens.forCode({
    userId: aliceId,
    clientId: 'web',
    scope: 'openid profile',
    nonce: null,
    auth: { amr: ['pwd', 'otp', 'mfa'], authTime: clock.now() },
  });
  return response.access_token;
}

function assertion(claims: Record<string, unknown> = {}, key = meshKey): Promise<string> {
  const now = Math.floor(clock.now() / 1000);
  return signToken(
    key,
    {
      iss: MESH_ISSUER,
      sub: ORDERS,
      aud: `${ISSUER}/token`,
      iat: now,
      exp: now + 120,
      jti: randomUUID(),
      ...claims,
    },
    { typ: 'JWT' },
  );
}

function exchangeForm(subjectToken: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    grant_type: TOKEN_EXCHANGE_GRANT,
    subject_token: subjectToken,
    subject_token_type: ACCESS_TOKEN_TYPE,
    audience: 'payments',
    ...extra,
  };
}

/** A real HTTPS request, with the client certificate if given. */
function post(
  fields: Record<string, string>,
  cert?: PemPair,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const payload = new URLSearchParams(fields).toString();
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: '127.0.0.1',
        port,
        path: '/token',
        method: 'POST',
        ca: meshCa.certPem,
        agent: false,
        ...(cert && { cert: cert.certPem, key: cert.keyPem }),
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () =>
          resolve({
            status: response.statusCode!,
            body: JSON.parse(text || '{}') as Record<string, unknown>,
          }),
        );
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

/** In-process: no TLS socket, so only the JWT-SVID can authenticate. */
async function inject(
  fields: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await idp.server.inject({
    method: 'POST',
    url: '/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(fields).toString(),
  });
  return { status: response.statusCode, body: response.json() };
}

async function verifyIssued(token: string) {
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(idp.keys.jwks()), {
    issuer: ISSUER,
    algorithms: ['ES256'],
    currentDate: new Date(clock.now()),
  });
  expect(protectedHeader.typ).toBe('at+jwt');
  return payload;
}

describe('token exchange (RFC 8693)', () => {
  it('exchanges a user token for a workload authenticated by its X.509-SVID over mTLS', async () => {
    const subjectToken = await userToken();
    const subject = decodeJwt(subjectToken);
    const { status, body } = await post(exchangeForm(subjectToken), certs.orders);
    expect(status).toBe(200);
    expect(body).toMatchObject({ issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer' });
    expect(body.refresh_token).toBeUndefined();
    const claims = await verifyIssued(String(body.access_token));
    expect(claims).toMatchObject({
      sub: aliceId,
      aud: 'payments',
      act: { sub: ORDERS },
      roles: ['manager'],
      groups: ['shop'],
      amr: ['pwd', 'otp', 'mfa'],
      acr: 'urn:lanyard:acr:mfa',
      preferred_username: 'alice',
    });
    expect(claims.exp!).toBeLessThanOrEqual(subject.exp!);
    const audit = await store.listAudit({ limit: 5, username: 'alice' });
    expect(audit[0]).toMatchObject({
      event: 'token_exchange',
      outcome: 'success',
      source: ORDERS,
      reason: 'audience=payments',
    });
  });

  it('exchanges with a JWT-SVID client assertion, and never issues past the subject token expiry', async () => {
    const subjectToken = await userToken();
    clock.advance(8 * 60_000); // 2 minutes left on the subject token: the new one gets no more.
    const { status, body } = await inject(
      exchangeForm(subjectToken, {
        client_assertion_type: JWT_BEARER_ASSERTION,
        client_assertion: await assertion(),
      }),
    );
    expect(status).toBe(200);
    const claims = await verifyIssued(String(body.access_token));
    expect(claims.act).toEqual({ sub: ORDERS });
    expect(claims.exp).toBe(decodeJwt(subjectToken).exp);
    expect(body.expires_in).toBeLessThanOrEqual(120);
  });

  it('nests the previous actor when an exchanged token is exchanged again', async () => {
    const first = await post(exchangeForm(await userToken()), certs.orders);
    const second = await inject(
      exchangeForm(String(first.body.access_token), {
        audience: 'ledger',
        client_assertion_type: JWT_BEARER_ASSERTION,
        client_assertion: await assertion({ sub: PAYMENTS }),
      }),
    );
    expect(second.status).toBe(200);
    const claims = await verifyIssued(String(second.body.access_token));
    expect(claims.act).toEqual({ sub: PAYMENTS, act: { sub: ORDERS } });
    expect(claims.client_id).toBe(PAYMENTS);
  });

  it('refuses to extend an actor chain past its bound', async () => {
    let token = String((await post(exchangeForm(await userToken()), certs.orders)).body.access_token);
    const again = async () =>
      inject(
        exchangeForm(token, {
          audience: 'ledger',
          client_assertion_type: JWT_BEARER_ASSERTION,
          client_assertion: await assertion({ sub: PAYMENTS }),
        }),
      );
    for (let depth = 2; depth <= 4; depth++) {
      const response = await again();
      expect(response.status).toBe(200);
      token = String(response.body.access_token);
    }
    let act = decodeJwt(token).act as { act?: unknown } | undefined;
    let depth = 0;
    for (; act; act = act.act as { act?: unknown } | undefined) depth++;
    expect(depth).toBe(4);
    expect(await again()).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('names the authenticated workload in act, whatever the body claims', async () => {
    const subjectToken = await userToken();
    const mine = await assertion();
    const same = await inject(
      exchangeForm(subjectToken, {
        client_assertion_type: JWT_BEARER_ASSERTION,
        client_assertion: mine,
        actor_token: mine,
        actor_token_type: JWT_TOKEN_TYPE,
      }),
    );
    expect(same.status).toBe(200);
    expect(decodeJwt(String(same.body.access_token)).act).toEqual({ sub: ORDERS });

    const claimsOther = await post(exchangeForm(subjectToken, { client_id: PAYMENTS }), certs.orders);
    expect(claimsOther).toMatchObject({ status: 401, body: { error: 'invalid_client' } });

    const otherActor = await post(
      exchangeForm(subjectToken, {
        actor_token: await assertion({ sub: PAYMENTS }),
        actor_token_type: JWT_TOKEN_TYPE,
      }),
      certs.orders,
    );
    expect(otherActor).toMatchObject({ status: 400, body: { error: 'invalid_request' } });

    const mixed = await post(
      exchangeForm(subjectToken, {
        client_assertion_type: JWT_BEARER_ASSERTION,
        client_assertion: await assertion({ sub: PAYMENTS }),
      }),
      certs.orders,
    );
    expect(mixed).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  it('refuses a caller without client authentication, or with a certificate outside the bundle or trust domain', async () => {
    const subjectToken = await userToken();
    expect(await post(exchangeForm(subjectToken))).toMatchObject({
      status: 401,
      body: { error: 'invalid_client' },
    });
    expect(await inject(exchangeForm(subjectToken, { client_id: ORDERS }))).toMatchObject({
      status: 401,
      body: { error: 'invalid_client' },
    });
    expect(await post(exchangeForm(subjectToken), certs.foreignCa)).toMatchObject({ status: 401 });
    expect(await post(exchangeForm(subjectToken), certs.otherDomain)).toMatchObject({
      status: 401,
      body: { error: 'invalid_client' },
    });
    const foreignJwt = await inject(
      exchangeForm(subjectToken, {
        client_assertion_type: JWT_BEARER_ASSERTION,
        client_assertion: await assertion({ sub: 'spiffe://other.test/ns/shop/sa/orders' }),
      }),
    );
    expect(foreignJwt).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  it('refuses an unknown workload (unauthorized_client) and an audience it may not have (invalid_target)', async () => {
    const subjectToken = await userToken();
    expect(await post(exchangeForm(subjectToken), certs.stranger)).toMatchObject({
      status: 400,
      body: { error: 'unauthorized_client' },
    });
    expect(await post(exchangeForm(subjectToken, { audience: 'vault' }), certs.orders)).toMatchObject({
      status: 400,
      body: { error: 'invalid_target' },
    });
    const noAudience = exchangeForm(subjectToken);
    delete noAudience.audience;
    expect(await post(noAudience, certs.orders)).toMatchObject({
      status: 400,
      body: { error: 'invalid_target' },
    });
    const audit = await store.listAudit({ limit: 3 });
    expect(audit[0]).toMatchObject({
      event: 'token_exchange',
      outcome: 'failure',
      reason: 'ERR_IDP_TARGET_INVALID',
    });
  });

  it('refuses an expired, forged or foreign subject token', async () => {
    const expired = await userToken();
    clock.advance(11 * 60_000);
    expect(await post(exchangeForm(expired), certs.orders)).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant' },
    });

    const genuine = decodeJwt(await userToken());
    const forger = await createTestKey('ES256', String(idp.keys.jwks().keys[0]!.kid));
    const forged = await signToken(forger, genuine, { typ: 'at+jwt' });
    expect(await post(exchangeForm(forged), certs.orders)).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant' },
    });

    const now = Math.floor(clock.now() / 1000);
    const foreign = await new SignJWT({ ...genuine, iss: 'https://elsewhere.example', exp: now + 300 })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: forger.kid })
      .sign(forger.privateKey);
    expect(await post(exchangeForm(foreign), certs.orders)).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant' },
    });
    expect(
      await post(exchangeForm(foreign, { subject_token_type: JWT_TOKEN_TYPE }), certs.orders),
    ).toMatchObject({
      status: 400,
      body: { error: 'invalid_request' },
    });
  });

  it('refuses a replayed, mis-addressed, long-lived or forged JWT-SVID assertion', async () => {
    const subjectToken = await userToken();
    const once = await assertion();
    const fields = (client_assertion: string) =>
      exchangeForm(subjectToken, { client_assertion_type: JWT_BEARER_ASSERTION, client_assertion });
    expect((await inject(fields(once))).status).toBe(200);
    expect(await inject(fields(once))).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(
      await inject(fields(await assertion({ aud: 'https://someone-else.example/token' }))),
    ).toMatchObject({
      status: 401,
    });
    const now = Math.floor(clock.now() / 1000);
    expect(await inject(fields(await assertion({ exp: now + 3600 })))).toMatchObject({ status: 401 });
    expect(await inject(fields(await assertion({ exp: now - 120 })))).toMatchObject({ status: 401 });
    expect(await inject(fields(await assertion({ iss: 'https://ca.elsewhere' })))).toMatchObject({
      status: 401,
    });
    const impostor = await createTestKey('ES256', meshKey.kid);
    expect(await inject(fields(await assertion({}, impostor)))).toMatchObject({ status: 401 });
    // Our own access token is not a workload assertion, even though it is signed by a key we trust.
    expect(await inject(fields(subjectToken))).toMatchObject({ status: 401 });
  });

  it('advertises the grant in discovery', async () => {
    const discovery = await idp.server.inject({ method: 'GET', url: '/.well-known/openid-configuration' });
    expect(discovery.json<{ grant_types_supported: string[] }>().grant_types_supported).toContain(
      TOKEN_EXCHANGE_GRANT,
    );
  });
});

describe('the token-exchange allow list', () => {
  const rules = compileAllowList(
    [
      { workload: ORDERS, audiences: ['payments'] },
      { workload: 'spiffe://mesh.test/ns/shop/*', audiences: ['ledger'] },
    ],
    'mesh.test',
  );

  it('matches exact IDs and path prefixes on segment boundaries only', () => {
    expect(authorizeExchange(rules, parseSpiffeId(ORDERS), 'payments')).toBeNull();
    expect(authorizeExchange(rules, parseSpiffeId(PAYMENTS), 'ledger')).toBeNull();
    expect(authorizeExchange(rules, parseSpiffeId(PAYMENTS), 'payments')).toBe('audience_not_allowed');
    expect(authorizeExchange(rules, parseSpiffeId('spiffe://mesh.test/ns/shopping/sa/x'), 'ledger')).toBe(
      'unknown_workload',
    );
  });

  it('refuses malformed rules and rules of another trust domain at start', () => {
    expect(() =>
      compileAllowList([{ workload: 'spiffe://mesh.test/ns/../x', audiences: ['a'] }], 'mesh.test'),
    ).toThrow(/not a SPIFFE ID/);
    expect(() =>
      compileAllowList([{ workload: 'spiffe://other.test/ns/a/sa/b', audiences: ['a'] }], 'mesh.test'),
    ).toThrow(/outside trust domain/);
    expect(() => compileAllowList([{ workload: ORDERS, audiences: [] }], 'mesh.test')).toThrow(/audiences/);
  });
});
