// The responses of LoginDefences other than the defaults exercised in defences.server.test.ts:
// travel `block` (this account from that address only, for a while) and stuffing `mfa`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GeoResolver, type GeoLocation } from '../lib/geo.ts';
import { silentLogger } from '../lib/logger.ts';
import { FakeClock } from '../test/helpers/clock.ts';
import { Auditor } from './audit.ts';
import { defenceConfig, LoginDefences } from './defences.ts';
import type { Notifier, SecurityNotice } from './notify.ts';
import { openSqliteStore } from './store/sqlite.ts';
import type { SqlStore } from './store/sql-store.ts';
import type { UserRecord } from './store/types.ts';

const PLACES: Record<string, GeoLocation> = {
  '81.2.69.160': { country: 'GB', latitude: 51.4, longitude: -0.76 },
  '2001:218::1': { country: 'JP', latitude: 35.69, longitude: 139.69 },
};
const dir = mkdtempSync(join(tmpdir(), 'lanyard-idp-defences-unit-'));
const clock = new FakeClock(Date.UTC(2026, 5, 1));
const sent: SecurityNotice[] = [];
const notifier: Notifier = { notify: (notice) => void sent.push(notice), close: () => Promise.resolve() };
let store: SqlStore;

beforeAll(async () => {
  store = openSqliteStore(join(dir, 'idp.db'));
  await store.migrate();
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function user(username: string): Promise<UserRecord> {
  const record: UserRecord = {
    id: `id-${username}`,
    username,
    passwordHash: 'x',
    roles: [],
    groups: [],
    disabled: false,
    createdAt: 0,
  };
  await store.createUser(record);
  return record;
}

function defences(overrides: Parameters<typeof defenceConfig>[0]): LoginDefences {
  const registry = new Registry();
  return new LoginDefences({
    store,
    clock,
    audit: new Auditor(store, clock, silentLogger, registry),
    notifier,
    registry,
    config: defenceConfig(overrides),
    geo: new GeoResolver((address) => PLACES[address]),
  });
}

describe('login defence responses', () => {
  it('travel block refuses the far sign-in and blocks that account from that address only, briefly', async () => {
    const guard = defences({ travel: { actions: ['block'], blockMs: 60_000 } });
    const victim = await user('victim');
    const home = await guard.assess(victim, '81.2.69.160', 'device-home-000000000000000000000000000000');
    expect(home.refuse).toBeNull();
    await guard.completed(victim, home.pending);
    clock.advance(5 * 60_000);
    const far = await guard.assess(victim, '2001:218::1', 'device-far-0000000000000000000000000000000');
    expect(far.refuse).toBe('impossible_travel');
    expect(guard.blocked('2001:218::1', 'Victim')).toMatchObject({ reason: 'travel_blocked' });
    // The owner, at home, is not locked out; another account from the far address is not either.
    expect(guard.blocked('81.2.69.160', 'victim')).toBeNull();
    expect(guard.blocked('2001:218::1', 'someone-else')).toBeNull();
    clock.advance(60_001);
    expect(guard.blocked('2001:218::1', 'victim')).toBeNull();
    expect(sent.filter((n) => n.kind === 'impossible_travel')).toHaveLength(0); // no notify configured
    expect((await store.listAudit({ limit: 1, username: 'victim' }))[0]).toMatchObject({
      event: 'impossible_travel',
      reason: 'block',
    });
  });

  it('stuffing mfa steps up sign-ins from the detected address instead of blocking it', async () => {
    const guard = defences({ stuffing: { accounts: 3, actions: ['mfa', 'notify'] } });
    const target = await user('target');
    for (const name of ['a', 'b', 'c']) await guard.failed('45.0.0.9', name);
    expect(guard.blocked('45.0.0.9', 'target')).toBeNull();
    const assessment = await guard.assess(target, '45.0.0.9', 'device-x-00000000000000000000000000000000000');
    expect(assessment).toMatchObject({ refuse: null, stepUp: ['credential_stuffing'] });
    expect(
      (await guard.assess(target, '45.0.0.10', 'device-x-00000000000000000000000000000000000')).stepUp,
    ).toEqual([]);
    expect(sent.filter((n) => n.kind === 'credential_stuffing')).toEqual([
      expect.objectContaining({ source: '45.0.0.9', actions: ['mfa'], username: 'c' }),
    ]);
  });
});
