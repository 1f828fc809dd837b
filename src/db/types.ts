import type { QueryResult, QueryResultRow } from 'pg';

/**
 * Anything that runs SQL: a pool, a transaction's client, a PGlite session. Backends depend on
 * this shape, never on a driver.
 */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: readonly unknown[]): Promise<QueryResult<R>>;
}

/** The three drivers behind `storage.backend`. */
export type DriverKind = 'embedded' | 'memory' | 'postgres';

/** Connection counts of a database handle. */
export interface PoolStats {
  /** Connections open now. */
  total: number;
  /** Open connections not lent out. */
  idle: number;
  /** Callers waiting for a connection. */
  waiting: number;
  /** Most connections the pool will open (`storage.postgres.pool_size`; 1 for PGlite). */
  max: number;
}

/** One database, whichever driver is behind it. Every method scopes its connection: nothing leaks. */
export interface Database {
  readonly kind: DriverKind;
  /** Where it points, safe to print: a URL without its password, or a data directory. */
  readonly target: string;
  /** Runs one statement on its own (autocommit). */
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: readonly unknown[]): Promise<QueryResult<R>>;
  /**
   * Lends one connection to `fn` and takes it back afterwards, even when `fn` throws. Do not nest
   * (PGlite has one session), and change no session state in it (a `SET` without `LOCAL`, `SET
   * ROLE`): the connection goes back to the pool and the next caller would inherit it.
   */
  withClient<T>(fn: (client: Queryable) => Promise<T>): Promise<T>;
  /** Runs `fn` inside `BEGIN … COMMIT`; rolls back if `fn` throws. */
  withTransaction<T>(fn: (client: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` in a transaction scoped to one tenant: the id is checked against
   * `storage.postgres.tenant_id_pattern`, the transaction runs as `llmspell_app` and sets
   * `app.current_tenant_id` with `SET LOCAL`, so the context ends with the transaction.
   */
  withTenant<T>(tenantId: string, fn: (client: Queryable) => Promise<T>): Promise<T>;
  /** Connection counts now. */
  stats(): PoolStats;
  /** Closes every connection (and, for the embedded driver, releases the data-directory lock). */
  close(): Promise<void>;
}
