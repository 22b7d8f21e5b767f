import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJwksServer, type JwksServer } from '../../test/helpers/sidecar-jwt.ts';
import { createHttpJwksFetcher, maxAgeOf } from './fetch.ts';

let server: JwksServer;
const fetcher = createHttpJwksFetcher({
  allowInsecureHttpForTests: true,
  totalTimeoutMs: 2_000,
  maxBytes: 2048,
});
const failsWith = (reason: RegExp, uri = server.url, using = fetcher) =>
  expect(using.fetchJwks(new URL(uri))).rejects.toMatchObject({
    code: 'ERR_JWKS_FETCH_FAILED',
    detail: { reason: expect.stringMatching(reason) as string },
  });

beforeAll(async () => {
  server = await startJwksServer();
});

afterAll(() => server.close());

describe('createHttpJwksFetcher', () => {
  it('returns the document and its max-age', async () => {
    server.serve({ keys: [] }, { 'cache-control': 'public, max-age=600' });
    await expect(fetcher.fetchJwks(new URL(server.url))).resolves.toEqual({
      body: { keys: [] },
      maxAgeSeconds: 600,
    });
    server.serve({ keys: [] });
    await expect(fetcher.fetchJwks(new URL(server.url))).resolves.toEqual({ body: { keys: [] } });
  });

  it('refuses plain http unless the test option is set', async () => {
    await failsWith(/https/, server.url, createHttpJwksFetcher());
    expect(createHttpJwksFetcher().allowsInsecureHttp).toBe(false);
  });

  it('fails on a status other than 200 and does not follow redirects', async () => {
    server.reply.status = 500;
    await failsWith(/status 500/);
    server.reply.status = 302;
    server.reply.headers = { location: 'http://127.0.0.1:1/elsewhere' };
    await failsWith(/status 302/);
  });

  it('fails on a body over the size limit, declared or streamed', async () => {
    server.serve({ keys: [], padding: 'x'.repeat(4096) });
    await failsWith(/larger than the limit/);
    const chunked = http.createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"keys":[],"p":"');
      response.write('x'.repeat(4096));
      response.end('"}');
    });
    await new Promise<void>((resolve) => chunked.listen(0, '127.0.0.1', resolve));
    try {
      await failsWith(
        /larger than the limit/,
        `http://127.0.0.1:${(chunked.address() as AddressInfo).port}/`,
      );
    } finally {
      chunked.closeAllConnections();
      await new Promise((resolve) => chunked.close(resolve));
    }
  });

  it('fails on a body that is not a JSON object, or has duplicate members', async () => {
    server.serve({ keys: [] });
    server.reply.body = '<html>';
    await failsWith(/not a JSON object/);
    server.reply.body = '[]';
    await failsWith(/not a JSON object/);
    server.reply.body = '{"keys":[],"keys":[{"kty":"oct"}]}';
    await failsWith(/duplicate/);
  });

  it('fails when the server never answers (total timeout)', async () => {
    server.reply.hang = true;
    await failsWith(
      /timed out/,
      server.url,
      createHttpJwksFetcher({ allowInsecureHttpForTests: true, totalTimeoutMs: 50 }),
    );
    server.reply.hang = false;
  });

  it('fails when nothing listens', async () => {
    await failsWith(/request failed/, 'http://127.0.0.1:1/jwks');
  });

  it('refuses out-of-range options', () => {
    expect(() => createHttpJwksFetcher({ totalTimeoutMs: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }) as Error,
    );
    expect(() => createHttpJwksFetcher({ maxBytes: 1e9 })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }) as Error,
    );
  });
});

describe('maxAgeOf', () => {
  it('reads max-age, and no-cache or no-store as 0', () => {
    expect(maxAgeOf(undefined)).toBeUndefined();
    expect(maxAgeOf('public')).toBeUndefined();
    expect(maxAgeOf('public, max-age=3600, must-revalidate')).toBe(3600);
    expect(maxAgeOf('Max-Age=60')).toBe(60);
    expect(maxAgeOf('no-store')).toBe(0);
    expect(maxAgeOf('max-age=60, no-cache')).toBe(0);
    expect(maxAgeOf('max-age=-5')).toBeUndefined();
    expect(maxAgeOf('max-age=99999999999999')).toBeUndefined();
  });
});
