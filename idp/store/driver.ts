/**
 * The little that differs between SQLite and PostgreSQL. SQL is written once with `?`
 * placeholders and the column types below; a driver translates what its database needs.
 */
export interface SqlStatement {
  sql: string;
  params?: readonly unknown[];
}

export interface SqlDriver {
  readonly dialect: 'sqlite' | 'postgres';
  /** Rows of a SELECT or of a statement with RETURNING. */
  query<Row extends object>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** The number of rows a statement changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
  /** Runs the statements in one transaction: all or none. Returns each one's change count. */
  batch(statements: readonly SqlStatement[]): Promise<number[]>;
  /**
   * Runs `apply` for each migration newer than the recorded schema version, each in its own
   * transaction, holding a lock so that replicas starting together migrate once.
   */
  migrate(migrations: readonly Migration[]): Promise<void>;
  close(): Promise<void>;
}

export interface Migration {
  version: number;
  /** DDL with `{bigint}` and `{serial}` (an auto-numbered primary key) for the dialect to fill. */
  statements: readonly string[];
}

export function dialectSql(sql: string, dialect: SqlDriver['dialect']): string {
  return sql
    .replaceAll('{bigint}', dialect === 'postgres' ? 'BIGINT' : 'INTEGER')
    .replaceAll(
      '{serial}',
      dialect === 'postgres' ? 'BIGSERIAL PRIMARY KEY' : 'INTEGER PRIMARY KEY AUTOINCREMENT',
    );
}
