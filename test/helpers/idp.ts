// An identity provider for tests: a fresh SQLite store in a temporary folder, migrated, and
// createIdp with test defaults (issuer, random secret key, silent logger, own registry) that
// `config` may override. close() stops the server and removes the folder.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createIdp, type Idp, type IdpConfig } from '../../idp/app.ts';
import type { SqlStore } from '../../idp/store/sql-store.ts';
import { openSqliteStore } from '../../idp/store/sqlite.ts';
import { silentLogger } from '../../lib/logger.ts';

export interface TestIdp {
  store: SqlStore;
  idp: Idp;
  close(): Promise<void>;
}

export async function openTestIdp(
  config: Pick<IdpConfig, 'clock'> & Partial<Omit<IdpConfig, 'store'>>,
): Promise<TestIdp> {
  const dir = mkdtempSync(join(tmpdir(), 'lanyard-test-idp-'));
  const store = openSqliteStore(join(dir, 'idp.db'));
  await store.migrate();
  const idp = await createIdp({
    issuer: 'https://login.test.example',
    secretKey: randomBytes(32),
    logger: silentLogger,
    registry: new Registry(),
    ...config,
    store,
  });
  return {
    store,
    idp,
    async close() {
      await idp.server.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
