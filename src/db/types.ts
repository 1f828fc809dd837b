import type { CustomTypesConfig, QueryResult, QueryResultRow } from 'pg';

/** How one statement is sent and read, beyond its text and values. */
export interface QueryOptions {
  /** Type parsers for this statement's result (the storage codecs); default `pg`'s. */
  types?: CustomTypesConfig;
  /**
   * Prepare the statement under this name on the connection and reuse the plan (a statement
   * named once per connection). Never through a transaction-mode pooler, which moves a session's
   * prepared statements to other clients.
   */
  name?: string;
  /**
   * In a `withTenant({ singleStatement: true })` scope on a pipelining connection: send COMMIT
   * right behind this statement, so the transaction is one round trip. Only for a statement after
   * which nothing can fail that must undo it (a read): the COMMIT is on the wire before its rows
   * are read.
   */
  commitWith?: boolean;
}

/** Options of {@link Database.withClient} and {@link Database.withTransaction}. */
export interface ScopeOptions {
  /**
   * Aborts the scope: the call rejects at once with `ABORTED` (while it waits for a connection,
   * too), the statement running on a server is cancelled, the transaction is rolled back, and the
   * connection is discarded. Once COMMIT is sent it is too late: the call settles as it would have.
   */
  signal?: AbortSignal;
}

/**
 * Anything that runs SQL: a pool, a transaction's client, a PGlite session. Backends depend on
 * this shape, never on a driver.
 */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(
    text: string,
    values?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<R>>;
}

/** Options of {@link Database.withTenant}. */
export interface TenantOptions extends ScopeOptions {
  /**
   * The callback sends exactly one statement (a second throws `INTERNAL`); on a pipelining
   * connection, one sent with `commitWith` has the COMMIT go out right behind it, so the whole
   * transaction (prologue, statement, COMMIT) is one round trip. The storage modules use it for
   * their one-statement calls, and `commitWith` for reads.
   */
  singleStatement?: boolean;
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

/**
 * One database, whichever driver is behind it. Every method scopes its connection: the handle a
 * callback receives works only until the callback settles (then every use throws `SCOPE_CLOSED`),
 * and calling the same database from inside a callback throws `SCOPE_NESTED` (it would run on
 * another connection, outside the transaction and its tenant; PGlite would wait for itself). A
 * connection the server drops while lent fails the call with `DB_CONNECTION_LOST` and is
 * discarded; the next call gets a new one.
 */
export interface Database {
  readonly kind: DriverKind;
  /** Where it points, safe to print: a URL without its password, or a data directory. */
  readonly target: string;
  /**
   * Its connections are in pipeline mode: a handle may be sent a statement before the one
   * before it has been answered (they travel together). Otherwise await each in turn.
   */
  readonly pipelines: boolean;
  /** Runs one statement on its own (autocommit). */
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: readonly unknown[]): Promise<QueryResult<R>>;
  /**
   * Lends one connection to `fn` and takes it back afterwards, even when `fn` throws; a
   * transaction `fn` left open is rolled back. Change no session state in it (a `SET` without
   * `LOCAL`, `SET ROLE`): the connection goes back to the pool and the next caller would inherit it.
   */
  withClient<T>(fn: (client: Queryable) => Promise<T>, options?: ScopeOptions): Promise<T>;
  /**
   * Runs `fn` inside `BEGIN … COMMIT`; rolls back if `fn` throws. Every transaction starts with
   * `statement_timeout` and `idle_in_transaction_session_timeout` set for it alone
   * (`storage.postgres.statement_timeout_secs`, `idle_in_transaction_timeout_secs`). A statement of
   * `fn` that ends the transaction (`COMMIT`, `ROLLBACK`, `… AND CHAIN`) fails the call with
   * `TRANSACTION_ENDED`, and nothing more runs through the handle.
   */
  withTransaction<T>(fn: (client: Queryable) => Promise<T>, options?: ScopeOptions): Promise<T>;
  /**
   * Runs `fn` in a transaction scoped to one tenant: the id is checked against
   * `storage.postgres.tenant_id_pattern` before any SQL, then the transaction runs as
   * `llmspell_app` (`SET LOCAL ROLE`, unless the login already is it or
   * `enforce_tenant_isolation = false`) with `app.current_tenant_id` set by `SET LOCAL`, so the
   * context ends with the transaction and never reaches the next user of a pooled connection.
   *
   * What the scope cannot stop: raw SQL that changes the context inside the transaction —
   * `RESET ROLE` or `SET LOCAL ROLE` to another role, a `SET LOCAL` (or a `set_config` call) of
   * `app.current_tenant_id` — runs as written. The storage modules send only their own
   * statements; code that sends raw SQL through this handle must not send those.
   */
  withTenant<T>(tenantId: string, fn: (client: Queryable) => Promise<T>, options?: TenantOptions): Promise<T>;
  /**
   * Whether a connection pooler (PgBouncer and the like) stands between this handle and
   * PostgreSQL, told by behaviour, not by port: the backend key announced at connection differs
   * from `pg_backend_pid()`, since a pooler announces a key of its own. Always false for PGlite.
   * Session-level state (a session advisory lock, `SET`) does not survive a transaction there.
   */
  detectPooler(): Promise<boolean>;
  /** Connection counts now. */
  stats(): PoolStats;
  /** Closes every connection (and, for the embedded driver, releases the data-directory lock). */
  close(): Promise<void>;
}
