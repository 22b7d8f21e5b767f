import Database from 'better-sqlite3';
import { dialectSql, type Migration, type SqlDriver, type SqlStatement } from './driver.ts';
import { SqlStore } from './sql-store.ts';

/**
 * The embedded default. better-sqlite3 is synchronous, so every statement, and every batch in
 * its transaction, runs without interleaving inside this process; across processes SQLite's
 * file lock (WAL, busy timeout) serializes writers.
 */
export function sqliteDriver(path: string): SqlDriver {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const cache = new Map<string, Database.Statement>();
  const prepare = (sql: string): Database.Statement => {
    let statement = cache.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      if (cache.size < 200) cache.set(sql, statement);
    }
    return statement;
  };
  const changes = (statement: SqlStatement): number =>
    prepare(statement.sql).run(...(statement.params ?? [])).changes;

  return {
    dialect: 'sqlite',
    query: <Row extends object>(sql: string, params: readonly unknown[] = []) =>
      Promise.resolve(prepare(sql).all(...params) as Row[]),
    run: (sql, params = []) => Promise.resolve(changes({ sql, params })),
    batch: (statements) => Promise.resolve(db.transaction(() => statements.map(changes)).immediate()),
    migrate: (migrations: readonly Migration[]) => {
      db.exec(
        'CREATE TABLE IF NOT EXISTS idp_schema (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)',
      );
      for (const migration of migrations) {
        db.transaction(() => {
          const done = db.prepare('SELECT 1 FROM idp_schema WHERE version = ?').get(migration.version);
          if (done) return;
          for (const statement of migration.statements) db.exec(dialectSql(statement, 'sqlite'));
          db.prepare('INSERT INTO idp_schema (version, applied_at) VALUES (?, ?)').run(
            migration.version,
            Date.now(),
          );
        }).immediate();
      }
      return Promise.resolve();
    },
    close: () => {
      db.close();
      return Promise.resolve();
    },
  };
}

export function openSqliteStore(path: string): SqlStore {
  return new SqlStore(sqliteDriver(path));
}
