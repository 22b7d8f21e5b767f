import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { openSqliteStore } from './sqlite.ts';
import { describeTokenContract } from '../tokens.contract.ts';
import { describeStoreContract } from './store.contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'lanyard-idp-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeStoreContract('SQLite', () => Promise.resolve(openSqliteStore(join(dir, 'idp.db'))));
describeTokenContract('SQLite', () => Promise.resolve(openSqliteStore(join(dir, 'tokens.db'))));
