// Test-only: keys, tokens (well-formed and hostile), JWKS servers and a fake JWKS fetcher for sidecar/jwt.
import { createHmac, createPublicKey, KeyObject, sign } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { JwksFetcher, JwksResponse } from '../../sidecar/jwt/key-source.ts';

export interface TestKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: CryptoKey;
  /** The public JWK with kid and alg, as a JWKS would publish it. */
  readonly publicJwk: JWK;
}

export async function createTestKey(alg = 'ES256', kid = `key-${alg}`): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

export function jwksOf(...keys: TestKey[]): { keys: JWK[] } {
  return { keys: keys.map((key) => key.publicJwk) };
}

/** Signs a JWT the ordinary way (jose), with extra protected-header members if given. */
export function signToken(
  key: TestKey,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...header })
    .sign(key.privateKey);
}

export function b64url(text: string | Buffer): string {
  return Buffer.from(text).toString('base64url');
}

/** Builds a token from raw JSON texts, so tests can send what no honest signer produces. */
export function rawSigningInput(headerJson: string, payloadJson: string): string {
  return `${b64url(headerJson)}.${b64url(payloadJson)}`;
}

/** Signs a raw signing input with an ES256 test key (JWS signature format: r || s). */
export function signRawEs256(key: TestKey, signingInput: string): string {
  const signature = sign('sha256', Buffer.from(signingInput), {
    key: keyObject(key),
    dsaEncoding: 'ieee-p1363',
  });
  return `${signingInput}.${signature.toString('base64url')}`;
}

/** An HMAC-SHA256 "signature" made with a public value as the secret: the alg-confusion attack. */
export function signHs256(secret: string | Buffer, signingInput: string): string {
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
}

/** The public key of a test key as SPKI PEM: what an RS→HS attacker uses as the HMAC secret. */
export function publicPem(key: TestKey): string {
  return createPublicKey(keyObject(key)).export({ type: 'spki', format: 'pem' }) as string;
}

function keyObject(key: TestKey): KeyObject {
  return KeyObject.from(key.privateKey);
}

/** What a JWKS test server answers; tests change it between requests. */
export interface JwksReply {
  status: number;
  body: string;
  headers: Record<string, string>;
  /** Never answer: the client must time out. */
  hang: boolean;
}

export interface JwksServer {
  readonly url: string;
  readonly reply: JwksReply;
  /** Requests received so far. */
  readonly requests: number;
  serve(document: unknown, headers?: Record<string, string>): void;
  close(): Promise<void>;
}

/** Starts a JWKS server on 127.0.0.1, port 0: plain http, or https when given a certificate. */
export async function startJwksServer(tls?: { certPem: string; keyPem: string }): Promise<JwksServer> {
  const reply: JwksReply = { status: 200, body: '{"keys":[]}', headers: {}, hang: false };
  let requests = 0;
  const handler: http.RequestListener = (_request, response) => {
    requests++;
    if (reply.hang) return;
    response.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    response.end(reply.body);
  };
  const server = tls
    ? https.createServer({ cert: tls.certPem, key: tls.keyPem }, handler)
    : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}/jwks`,
    reply,
    get requests() {
      return requests;
    },
    serve(document, headers = {}) {
      reply.status = 200;
      reply.body = JSON.stringify(document);
      reply.headers = headers;
      reply.hang = false;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

/** A JwksFetcher whose answers the test decides, one at a time. */
export class FakeJwksFetcher implements JwksFetcher {
  readonly allowsInsecureHttp = true;
  calls = 0;
  private pending: { resolve(value: JwksResponse): void; reject(error: unknown): void }[] = [];
  /** When set, every call answers at once with this; otherwise calls wait for answer()/fail(). */
  immediate: (() => JwksResponse) | undefined;

  fetchJwks(): Promise<JwksResponse> {
    this.calls++;
    const { immediate } = this;
    if (immediate) return Promise.resolve().then(immediate);
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }

  get waiting(): number {
    return this.pending.length;
  }

  answer(response: JwksResponse): void {
    this.next().resolve(response);
  }

  fail(error: unknown = new Error('down')): void {
    this.next().reject(error);
  }

  private next() {
    const next = this.pending.shift();
    if (!next) throw new Error('no JWKS fetch is waiting');
    return next;
  }
}
