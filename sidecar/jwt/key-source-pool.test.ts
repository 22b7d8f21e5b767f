// JWKS caches survive policy snapshots: the inbound pipeline builds a validator per snapshot,
// and with a key-source pool an issuer that the new snapshot keeps is not fetched again.
import { beforeAll, describe, expect, it } from 'vitest';
import { normalizePath } from '../../lib/path.ts';
import type { WorkloadPolicy } from '../../lib/policy/index.ts';
import { FakeClock } from '../../test/helpers/clock.ts';
import { policy, viewOf, WEB } from '../../test/helpers/policy-fixtures.ts';
import {
  createTestKey,
  FakeJwksFetcher,
  jwksOf,
  signToken,
  type TestKey,
} from '../../test/helpers/sidecar-jwt.ts';
import { createInboundPipeline } from '../inbound.ts';
import { createJwtValidator, createKeySourcePool, type KeySourcePool } from './index.ts';
import type { RemoteKeySource } from './key-source.ts';

const ISSUER = 'https://login.shop.example';
const OTHER = 'https://login.partner.example';
const clock = new FakeClock(Date.UTC(2026, 10, 29, 12));
let key: TestKey;

beforeAll(async () => {
  key = await createTestKey('ES256', 'k1');
});

/** A snapshot whose only rule lets `path` through for a token of `issuer` at `jwksUri`. */
function snapshot(path: string, issuer = ISSUER, jwksUri = `${issuer}/jwks`): WorkloadPolicy {
  return viewOf([
    policy('orders', {
      selector: { matchLabels: { app: 'orders' } },
      userTokens: [{ issuer, jwksUri, audiences: ['orders'] }],
      action: 'ALLOW',
      rules: [
        {
          name: 'readers',
          from: [{ principals: [WEB] }],
          to: [{ paths: [path] }],
          when: [{ claim: ['sub'], values: ['alice'] }],
        },
      ],
    }),
  ]);
}

function mesh(pool?: KeySourcePool<RemoteKeySource>) {
  const fetcher = new FakeJwksFetcher();
  fetcher.immediate = () => ({ body: jwksOf(key) });
  let view: WorkloadPolicy | undefined;
  const pipeline = createInboundPipeline({
    policy: () => view,
    normalizePath,
    validatorFor: (issuers) =>
      createJwtValidator(issuers, { clock, fetcher, ...(pool ? { keySources: pool } : {}) }),
    clock,
  });
  const call = async (path: string, issuer = ISSUER) => {
    const now = Math.floor(clock.now() / 1000);
    const token = await signToken(key, {
      iss: issuer,
      sub: 'alice',
      aud: 'orders',
      iat: now,
      exp: now + 300,
    });
    const outcome = await pipeline.decide({
      method: 'GET',
      url: path,
      host: 'orders.shop',
      port: 8080,
      headers: [['authorization', `Bearer ${token}`]],
      peer: WEB,
    });
    return outcome.kind === 'forward' ? 200 : outcome.status;
  };
  return { fetcher, call, use: (next: WorkloadPolicy) => (view = next) };
}

describe('key sources kept across policy snapshots', () => {
  it('does not refetch the JWKS after a snapshot change that keeps the issuer', async () => {
    const pool = createKeySourcePool<RemoteKeySource>();
    const { fetcher, call, use } = mesh(pool);
    use(snapshot('/a'));
    expect(await call('/a')).toBe(200);
    expect(fetcher.calls).toBe(1);
    use(snapshot('/b'));
    expect(await call('/b')).toBe(200);
    expect(await call('/a')).toBe(403);
    expect(fetcher.calls).toBe(1);
    expect(pool.size).toBe(1);
  });

  it('without the pool, each snapshot fetches the JWKS again (what the pool prevents)', async () => {
    const { fetcher, call, use } = mesh();
    use(snapshot('/a'));
    await call('/a');
    use(snapshot('/b'));
    await call('/b');
    expect(fetcher.calls).toBe(2);
  });

  it('fetches again when the issuer moves its JWKS URI, and drops sources no snapshot uses', async () => {
    const pool = createKeySourcePool<RemoteKeySource>();
    const { fetcher, call, use } = mesh(pool);
    use(snapshot('/a'));
    await call('/a');
    use(snapshot('/a', ISSUER, `${ISSUER}/v2/jwks`));
    expect(await call('/a')).toBe(200);
    expect(fetcher.calls).toBe(2);
    expect(pool.size).toBe(1);
    use(snapshot('/a', OTHER));
    expect(await call('/a', OTHER)).toBe(200);
    expect(pool.size).toBe(1);
    // Back to the first issuer: its source was dropped, so its keys are fetched afresh.
    use(snapshot('/a'));
    await call('/a');
    expect(fetcher.calls).toBe(4);
  });

  it('leaves the pool as it was when a configuration is refused', () => {
    const pool = createKeySourcePool<RemoteKeySource>();
    const fetcher = new FakeJwksFetcher();
    createJwtValidator([{ issuer: ISSUER, jwksUri: `${ISSUER}/jwks`, audiences: ['orders'] }], {
      fetcher,
      keySources: pool,
    });
    expect(pool.size).toBe(1);
    expect(() =>
      createJwtValidator(
        [
          { issuer: OTHER, jwksUri: `${OTHER}/jwks`, audiences: ['orders'] },
          { issuer: 'https://broken.example', jwksUri: 'ftp://broken.example/jwks', audiences: ['orders'] },
        ],
        { fetcher, keySources: pool },
      ),
    ).toThrow(/https URL/);
    expect(pool.size).toBe(1);
  });

  it('reports each JWKS fetch outcome by issuer', async () => {
    const outcomes: string[] = [];
    const fetcher = new FakeJwksFetcher();
    fetcher.immediate = () => {
      throw new Error('connection refused');
    };
    const validator = createJwtValidator(
      [{ issuer: ISSUER, jwksUri: `${ISSUER}/jwks`, audiences: ['orders'] }],
      {
        clock,
        fetcher,
        onJwksFetch: (issuer, outcome) => outcomes.push(`${issuer} ${outcome}`),
      },
    );
    const now = Math.floor(clock.now() / 1000);
    const token = await signToken(key, { iss: ISSUER, sub: 'alice', aud: 'orders', exp: now + 300 });
    await expect(validator.verify(token)).rejects.toMatchObject({ code: 'ERR_JWKS_UNAVAILABLE' });
    clock.advance(5_000);
    fetcher.immediate = () => ({ body: jwksOf(key) });
    await expect(validator.verify(token)).resolves.toMatchObject({ subject: 'alice' });
    expect(outcomes).toEqual([`${ISSUER} error`, `${ISSUER} ok`]);
  });
});
