import { PassThrough } from 'node:stream';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { normalizePath } from '../lib/path.ts';
import { compilePolicies } from '../lib/policy/index.ts';
import { H2_PREFACE, sniffPreface, type Protocol } from './http2-front.ts';
import { encodeGrpcMessage, grpcRefusal, grpcStatusFor, isGrpc } from './http2-grpc.ts';
import { createInboundPipeline } from './inbound.ts';
import { createJwtValidator } from './jwt/index.ts';

describe('gRPC refusals', () => {
  it.each([
    ['application/grpc', true],
    ['application/grpc+proto', true],
    ['Application/GRPC; charset=utf-8', true],
    ['application/grpc-web', false],
    ['application/grpc-web+proto', false],
    ['application/json', false],
    [undefined, false],
  ])('isGrpc(%s) is %s', (contentType, expected) => {
    expect(isGrpc(contentType)).toBe(expected);
  });

  it('maps the pipeline statuses to gRPC codes', () => {
    expect(grpcStatusFor(403)).toBe(7); // PERMISSION_DENIED
    expect(grpcStatusFor(403, true)).toBe(16); // no token, and one might have helped
    expect(grpcStatusFor(401)).toBe(16); // UNAUTHENTICATED
    expect(grpcStatusFor(429)).toBe(8); // RESOURCE_EXHAUSTED
    expect(grpcStatusFor(400)).toBe(3);
    expect(grpcStatusFor(500)).toBe(13);
    expect(grpcStatusFor(502)).toBe(14);
    expect(grpcStatusFor(503)).toBe(14);
    expect(grpcStatusFor(418)).toBe(2);
  });

  it('percent-encodes grpc-message outside printable ASCII, and % itself', () => {
    expect(encodeGrpcMessage('rate limit exceeded')).toBe('rate limit exceeded');
    expect(encodeGrpcMessage('100% sûr\r\n')).toBe('100%25 s%C3%BBr%0D%0A');
  });

  it('builds a trailers-only refusal that keeps the challenge as metadata', () => {
    expect(
      grpcRefusal(401, 'invalid user token', { 'www-authenticate': 'Bearer error="invalid_token"' }),
    ).toEqual({
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': '16',
      'grpc-message': 'invalid user token',
      'www-authenticate': 'Bearer error="invalid_token"',
    });
  });
});

describe('tokenMissing: when a gRPC refusal says UNAUTHENTICATED rather than PERMISSION_DENIED', () => {
  const WEB = 'spiffe://cluster.local/ns/shop/sa/web';
  const jwks = JSON.stringify({
    keys: [
      {
        kty: 'EC',
        crv: 'P-256',
        x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
        y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
        kid: 'k1',
        alg: 'ES256',
        use: 'sig',
      },
    ],
  });
  const decide = (userTokens: boolean, path: string, headers: [string, string][] = []) => {
    const { index, results } = compilePolicies([
      {
        metadata: { name: 'p', namespace: 'shop' },
        spec: {
          ...(userTokens && {
            userTokens: [{ issuer: 'https://login.shop.example', jwks, audiences: ['orders'] }],
          }),
          action: 'ALLOW',
          rules: [{ from: [{ principals: [WEB] }], to: [{ paths: ['/pkg.Svc/Open'] }] }],
        },
      },
      {
        metadata: { name: 'd', namespace: 'shop' },
        spec: { action: 'DENY', rules: [{ to: [{ paths: ['/pkg.Svc/Admin'] }] }] },
      },
    ]);
    expect(results.flatMap((result) => result.errors)).toEqual([]);
    const view = index.forWorkload({ namespace: 'shop', labels: {} });
    return createInboundPipeline({
      policy: () => view,
      normalizePath,
      validatorFor: (issuers) => createJwtValidator(issuers),
    }).decide({ method: 'POST', url: path, host: 'orders', port: 8080, headers, peer: WEB });
  };

  it('is set when no rule allowed, no token came and the workload accepts tokens', async () => {
    expect(await decide(true, '/pkg.Svc/Other')).toMatchObject({ status: 403, tokenMissing: true });
  });

  it('is not set without token issuers, for a DENY rule, or when a token came', async () => {
    expect((await decide(false, '/pkg.Svc/Other')).kind).toBe('reject');
    expect(await decide(false, '/pkg.Svc/Other')).not.toHaveProperty('tokenMissing');
    expect(await decide(true, '/pkg.Svc/Admin')).not.toHaveProperty('tokenMissing');
    expect(await decide(true, '/pkg.Svc/Other', [['authorization', 'Bearer x.y.z']])).toMatchObject({
      status: 401,
    });
  });
});

describe('sniffPreface', () => {
  /** Feeds the chunks to a stream standing in for a paused socket; returns what it decided and what is left to read. */
  async function sniff(chunks: Buffer[], end = false) {
    const socket = new PassThrough();
    const decided = new Promise<Protocol | undefined>((resolve) =>
      sniffPreface(socket as unknown as Socket, resolve),
    );
    for (const chunk of chunks) socket.write(chunk);
    if (end) socket.end();
    const protocol = await decided;
    return { protocol, unread: (socket.read() as Buffer | null)?.toString('latin1') ?? '' };
  }

  it('recognizes the HTTP/2 preface even when it arrives byte by byte, and puts it back', async () => {
    const bytes = [...Buffer.concat([H2_PREFACE, Buffer.from('x')])].map((byte) => Buffer.from([byte]));
    const { protocol, unread } = await sniff(bytes);
    expect(protocol).toBe('h2');
    expect(unread.startsWith(H2_PREFACE.toString('latin1'))).toBe(true);
  });

  it('sends HTTP/1.1 methods that start like the preface to HTTP/1.1', async () => {
    expect(await sniff([Buffer.from('POST / HTTP/1.1\r\n')])).toEqual({
      protocol: 'http1',
      unread: 'POST / HTTP/1.1\r\n',
    });
    expect((await sniff([Buffer.from('P'), Buffer.from('UT / HTTP/1.1\r\n')])).protocol).toBe('http1');
  });

  it('gives up on a connection that ends inside the preface', async () => {
    expect((await sniff([Buffer.from('PRI * HTTP/2')], true)).protocol).toBeUndefined();
  });
});
