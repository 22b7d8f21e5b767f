import { afterAll, beforeAll } from 'vitest';
import { openPostgresStore } from '../../idp/store/postgres.ts';
import { describeStoreContract } from '../../idp/store/store.contract.ts';
import { describeTokenContract } from '../../idp/tokens.contract.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';

let postgres: TestPostgres;
beforeAll(async () => {
  postgres = await startTestPostgres();
});
afterAll(() => postgres?.stop());

describeStoreContract('PostgreSQL', () => Promise.resolve(openPostgresStore(postgres.url)));
describeTokenContract('PostgreSQL', () => Promise.resolve(openPostgresStore(postgres.url)));
