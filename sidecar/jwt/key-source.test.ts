import { beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/helpers/clock.ts';
import { createTestKey, FakeJwksFetcher, jwksOf, type TestKey } from '../../test/helpers/sidecar-jwt.ts';
import { RemoteKeySource } from './key-source.ts';

const URI = new URL('https://login.example/jwks');
const settled = () => new Promise((resolve) => setImmediate(resolve));
let one: TestKey;
let two: TestKey;

beforeAll(async () => {
  [one, two] = await Promise.all([createTestKey('ES256', 'one'), createTestKey('ES256', 'two')]);
});

function setup() {
  const clock = new FakeClock();
  const fetcher = new FakeJwksFetcher();
  return { clock, fetcher, source: new RemoteKeySource(URI, fetcher, clock) };
}

describe('RemoteKeySource', () => {
  it('makes one fetch for many concurrent first requests', async () => {
    const { fetcher, source } = setup();
    const pending = Array.from({ length: 10 }, () => source.getKey('one', 'ES256'));
    await settled();
    expect(fetcher.calls).toBe(1);
    fetcher.answer({ body: jwksOf(one) });
    await expect(Promise.all(pending)).resolves.toHaveLength(10);
  });

  it('while the JWKS is down, waits retryAfterFailureMs between attempts (no fetch storm)', async () => {
    const { clock, fetcher, source } = setup();
    fetcher.immediate = () => {
      throw new Error('connection refused');
    };
    for (let i = 0; i < 20; i++) {
      await expect(source.getKey('one', 'ES256')).rejects.toMatchObject({ code: 'ERR_JWKS_UNAVAILABLE' });
    }
    expect(fetcher.calls).toBe(1);
    clock.advance(5_000);
    await expect(source.getKey('one', 'ES256')).rejects.toMatchObject({ code: 'ERR_JWKS_UNAVAILABLE' });
    expect(fetcher.calls).toBe(2);
    fetcher.immediate = () => ({ body: jwksOf(one) });
    clock.advance(5_000);
    await expect(source.getKey('one', 'ES256')).resolves.toBeDefined();
  });

  it('a failed refetch for an unknown kid keeps the good keys and adds no fallback', async () => {
    const { clock, fetcher, source } = setup();
    fetcher.immediate = () => ({ body: jwksOf(one) });
    await source.getKey('one', 'ES256');
    clock.advance(30_000);
    fetcher.immediate = () => {
      throw new Error('down');
    };
    await expect(source.getKey('two', 'ES256')).rejects.toMatchObject({ code: 'ERR_JWT_KEY_NOT_FOUND' });
    await expect(source.getKey('one', 'ES256')).resolves.toBeDefined();
    expect(fetcher.calls).toBe(2);
  });

  it('a response that is not a JWKS is a failure, not an empty key set', async () => {
    const { clock, fetcher, source } = setup();
    fetcher.immediate = () => ({ body: jwksOf(one) });
    await source.getKey('one', 'ES256');
    clock.advance(10 * 60_000);
    fetcher.immediate = () => ({ body: { error: 'maintenance' } });
    await source.getKey('one', 'ES256'); // stale, revalidating
    await settled();
    await expect(source.getKey('one', 'ES256')).resolves.toBeDefined();
  });

  it('honours max-age within its bounds', async () => {
    const { clock, fetcher, source } = setup();
    fetcher.immediate = () => ({ body: jwksOf(one), maxAgeSeconds: 0 });
    await source.getKey('one', 'ES256');
    clock.advance(59_000);
    await source.getKey('one', 'ES256');
    expect(fetcher.calls).toBe(1); // no-cache is raised to the 1 min floor
    clock.advance(1_000);
    fetcher.immediate = () => ({ body: jwksOf(one, two), maxAgeSeconds: 10 * 24 * 3600 });
    await source.getKey('one', 'ES256');
    await settled();
    expect(fetcher.calls).toBe(2);
    await expect(source.getKey('two', 'ES256')).resolves.toBeDefined();
    clock.advance(24 * 3600_000); // capped at 24 h
    await source.getKey('one', 'ES256');
    expect(fetcher.calls).toBe(3);
  });
});
