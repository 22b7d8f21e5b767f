import pg from 'pg';
import { dialectSql, type Migration, type SqlDriver } from './driver.ts';
import { SqlStore } from './sql-store.ts';

/** An arbitrary constant: the advisory lock that serializes migrations across replicas. */
const MIGRATION_LOCK = 0x4c414e59;
const INT8_OID = 20;

// Times are BIGINT milliseconds; they fit a double, so read them as numbers, not strings.
function bigintAsNumber(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
  if (oid === INT8_OID) return (value) => Number(value);
  return pg.types.getTypeParser(oid, format) as (value: string) => unknown;
}

/** `?` placeholders become `$1`, `$2`, ...; the store's SQL has no `?` inside literals. */
function numbered(sql: string): string {
  let index = 0;
  return sql.replace(/\?/g, () => `$${++index}`);
}

/** The HA adapter: a pool of connections; atomicity comes from conditional updates and transactions. */
export function postgresDriver(connectionString: string, options: { max?: number } = {}): SqlDriver {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    types: { getTypeParser: bigintAsNumber },
  });
  // An idle client's error (e.g. the server went away) must not crash the process.
  pool.on('error', () => undefined);

  async function inTransaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  return {
    dialect: 'postgres',
    query: async <Row extends object>(sql: string, params: readonly unknown[] = []) =>
      (await pool.query(numbered(sql), [...params])).rows as Row[],
    run: async (sql, params = []) => (await pool.query(numbered(sql), [...params])).rowCount ?? 0,
    batch: (statements) =>
      inTransaction(async (client) => {
        const counts: number[] = [];
        for (const statement of statements) {
          counts.push(
            (await client.query(numbered(statement.sql), [...(statement.params ?? [])])).rowCount ?? 0,
          );
        }
        return counts;
      }),
    migrate: async (migrations: readonly Migration[]) => {
      for (const migration of migrations) {
        await inTransaction(async (client) => {
          await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
          await client.query(
            'CREATE TABLE IF NOT EXISTS idp_schema (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)',
          );
          const done = await client.query('SELECT 1 FROM idp_schema WHERE version = $1', [migration.version]);
          if (done.rowCount) return;
          for (const statement of migration.statements) await client.query(dialectSql(statement, 'postgres'));
          await client.query('INSERT INTO idp_schema (version, applied_at) VALUES ($1, $2)', [
            migration.version,
            Date.now(),
          ]);
        });
      }
    },
    close: () => pool.end(),
  };
}

export function openPostgresStore(connectionString: string, options: { max?: number } = {}): SqlStore {
  return new SqlStore(postgresDriver(connectionString, options));
}
