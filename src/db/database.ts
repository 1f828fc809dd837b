import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import { LlmspellError } from '../errors.js';
import {
  connectionLostError,
  DatabaseError,
  isConnectionFailure,
  toDatabaseError,
  typedFailure,
  type LostDuring,
} from './errors.js';
import { APP_ROLE, TENANT_SETTING } from './tenant.js';
import type { Database, DriverKind, PoolStats, Queryable, ScopeOptions, TenantOptions } from './types.js';
import { abortedError, unlessAborted } from './abort.js';

/**
 * A connection lent by a {@link ConnectionSource}. `lost` is set (to the driver's first error)
 * when the connection broke while lent; `release(true)` discards a broken one.
 */
export interface Lease {
  client: pg.ClientBase;
  readonly lost?: unknown;
  release(discard?: boolean): void;
  /**
   * Asks the server to cancel the statement the connection runs now (a server only; PGlite runs a
   * statement to its end). Best effort; a connection cancelled is discarded, not reused, since a
   * cancel that arrives late would hit the next borrower's statement.
   */
  cancel?(): Promise<void>;
}

/**
 * Lends `client`: until released it has an `'error'` listener (a `pg` client lent by a pool has
 * none, and a connection the server ends while lent would otherwise crash the process with an
 * unhandled 'error' event), which records the first error as `lost`. `giveBack(discard)` returns
 * the client to its owner, discarding it when it broke.
 */
export function lend(client: pg.ClientBase, giveBack: (discard: boolean) => void, cancel?: () => Promise<void>): Lease {
  let lost: unknown;
  let released = false;
  const onError = (error: unknown) => {
    lost ??= error;
  };
  client.on('error', onError);
  return {
    client,
    get lost() {
      return lost;
    },
    release(discard = false) {
      if (released) return;
      released = true;
      client.off('error', onError);
      giveBack(discard || lost !== undefined);
    },
    ...(cancel ? { cancel } : {}),
  };
}

/** What a source's `acquire()` throws once `close()` has begun: the call never got a connection. */
export class SourceClosedError extends Error {
  constructor() {
    super('the database is closed');
  }
}

/** What a source's `acquire()` throws when no connection came free within `pool_timeout_secs`. */
export class AcquireTimeoutError extends Error {}

/** What a driver provides: connections on loan, counts, and shutdown. Everything else is shared. */
export interface ConnectionSource {
  readonly kind: DriverKind;
  readonly target: string;
  /**
   * Its connections are in `pg`'s pipeline mode: a statement may be sent before the answer to the
   * one before has come, so the tenant prologue travels with the first statement (one round trip
   * less per transaction). Without it, statements go one at a time.
   */
  readonly pipelines?: boolean;
  acquire(): Promise<Lease>;
  stats(): PoolStats;
  close(): Promise<void>;
}

/** Rules a database applies to the transactions it opens. */
export interface TransactionPolicy {
  /** Returns the id if valid, throws `TENANT_INVALID` otherwise. */
  validate: (tenantId: unknown) => string;
  /** Switch to the application role in `withTenant` when the login role is another one. */
  enforceAppRole: boolean;
  /** `SET LOCAL statement_timeout` of every transaction, in ms; 0 = none. */
  statementTimeoutMs: number;
  /** `SET LOCAL idle_in_transaction_session_timeout` of every transaction, in ms; 0 = none. */
  idleInTransactionTimeoutMs: number;
  /**
   * Send each prologue statement on its own even where the server is not Citus (which needs
   * that); default false: one round trip. For comparisons (`bench/tenant-overhead`).
   */
  separatePrologue?: boolean;
}

/** What a lending of a connection is for. */
interface ScopeMode {
  transaction: boolean;
  /** The (validated) tenant of a `withTenant` transaction. */
  tenant?: string;
  /** The callback sends exactly one statement: COMMIT may be sent right behind it (pipeline mode). */
  single?: boolean;
  /** Aborts the whole lending: see {@link ScopeOptions.signal}. */
  signal?: AbortSignal | undefined;
}

/** One lending of a connection: the handle given to the callback is valid while `open`. */
interface Scope {
  readonly db: SourceDatabase;
  open: boolean;
}

/** The scope the current async context runs in, to refuse nested calls (they would deadlock or escape the tenant). */
const currentScope = new AsyncLocalStorage<Scope>();

/**
 * The one implementation of {@link Database}, over any {@link ConnectionSource}: transactions,
 * tenant scoping, handle revocation and error mapping are written once for all three drivers.
 */
export class SourceDatabase implements Database {
  /** Per physical client: is its login role already the application role? */
  private readonly sessions = new WeakMap<pg.ClientBase, SessionFacts>();
  private readonly timeouts: readonly [string, string];

  constructor(
    private readonly source: ConnectionSource,
    private readonly policy: TransactionPolicy,
  ) {
    for (const ms of [policy.statementTimeoutMs, policy.idleInTransactionTimeoutMs]) {
      if (!Number.isSafeInteger(ms) || ms < 0 || ms > 2_147_483_647) throw new Error(`invalid timeout ${ms} ms`);
    }
    this.timeouts = [
      `SET LOCAL statement_timeout = ${policy.statementTimeoutMs}`,
      `SET LOCAL idle_in_transaction_session_timeout = ${policy.idleInTransactionTimeoutMs}`,
    ];
  }

  get kind(): DriverKind {
    return this.source.kind;
  }

  get target(): string {
    return this.source.target;
  }

  get pipelines(): boolean {
    return this.source.pipelines === true;
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: readonly unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.withClient((client) => client.query<R>(text, values));
  }

  withClient<T>(fn: (client: Queryable) => Promise<T>, options: ScopeOptions = {}): Promise<T> {
    return this.borrow({ transaction: false, signal: options.signal }, fn);
  }

  withTransaction<T>(fn: (client: Queryable) => Promise<T>, options: ScopeOptions = {}): Promise<T> {
    return this.borrow({ transaction: true, signal: options.signal }, fn);
  }

  withTenant<T>(tenantId: string, fn: (client: Queryable) => Promise<T>, options: TenantOptions = {}): Promise<T> {
    let tenant: string;
    try {
      tenant = this.policy.validate(tenantId);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.borrow(
      {
        transaction: true,
        tenant,
        single: options.singleStatement === true,
        signal: options.signal,
      },
      fn,
    );
  }

  detectPooler(): Promise<boolean> {
    if (this.kind !== 'postgres') return Promise.resolve(false);
    return this.borrow({ transaction: false }, async (handle, raw) => {
      // The server announces its backend pid in BackendKeyData; a pooler announces a key of its own.
      const announced = (raw as { processID?: unknown }).processID;
      const { rows } = await handle.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      return typeof announced !== 'number' || rows[0]?.pid !== announced;
    });
  }

  stats(): PoolStats {
    return this.source.stats();
  }

  close(): Promise<void> {
    return this.source.close();
  }

  /**
   * Lends a connection to `fn` through a handle that is revoked once `fn` settles. In a
   * transaction: BEGIN, the timeouts and the tenant prologue first, COMMIT (or ROLLBACK) after,
   * and a statement of the callback that ends the transaction fails the call. The connection goes
   * back to the source, or is discarded when it broke or its session state is in doubt.
   */
  private borrow<T>(mode: ScopeMode, fn: (handle: Queryable, raw: pg.ClientBase) => Promise<T>): Promise<T> {
    const outer = currentScope.getStore();
    if (outer?.open && outer.db === this) return Promise.reject(nestedError());
    if (mode.signal?.aborted === true) return Promise.reject(abortedError(mode.signal));
    const aborting = new ScopeAbort();
    const lent = this.lend(mode, fn, aborting);
    return mode.signal === undefined ? lent : unlessAborted(lent, mode.signal, () => aborting.fire(mode.signal!));
  }

  /** {@link borrow}'s work: the lending itself, which `aborting` may cut short. */
  private async lend<T>(
    mode: ScopeMode,
    fn: (handle: Queryable, raw: pg.ClientBase) => Promise<T>,
    aborting: ScopeAbort,
  ): Promise<T> {
    let lease: Lease;
    try {
      lease = await this.source.acquire();
    } catch (error) {
      throw this.acquireError(error);
    }
    if (aborting.fired) {
      // Aborted while it waited for the connection: the caller has had its ABORTED already.
      lease.release();
      throw aborting.error();
    }
    aborting.lease = lease;
    const { client } = lease;
    const scope: Scope = { db: this, open: true };
    let ended = false; // a statement of the callback ended the transaction
    let during: LostDuring = mode.transaction ? 'transaction' : 'autocommit';
    let began = false;
    let discard = false;
    /** A prologue sent but not yet answered (pipeline mode): the first statement follows it unawaited. */
    let prologue: Promise<unknown> | undefined;
    /** The COMMIT sent right behind the one statement of a `single` scope (pipeline mode, `commitWith`). */
    let committing: Promise<pg.QueryResult> | undefined;
    let sentCount = 0;
    const handle: Queryable = {
      query: async (text, values, options) => {
        if (aborting.fired) throw aborting.error();
        if (!scope.open) throw closedError();
        if (ended) throw endedError();
        if (lease.lost !== undefined) throw connectionLostError(lease.lost, this.target, during);
        if (mode.single && sentCount > 0) throw singleError();
        sentCount++;
        let result: unknown;
        try {
          const { commitWith, ...queryOptions } = options ?? {};
          const query = options
            ? client.query({ text, values: values as unknown[], ...queryOptions })
            : client.query(text, values as unknown[]);
          // Only a scope with a signal can be aborted: only there is a running statement counted.
          const sent = mode.signal === undefined ? query : aborting.running(query);
          if (mode.single && commitWith === true && this.source.pipelines === true) {
            committing = client.query('COMMIT');
            committing.catch(() => undefined); // awaited after the callback
          }
          if (prologue) {
            const before = prologue;
            prologue = undefined;
            // A failed prologue fails the statement too (25P02): report the prologue's error.
            await before.catch((error: unknown) => {
              sent.catch(() => undefined);
              throw error;
            });
          }
          result = await sent;
        } catch (error) {
          // `COMMIT; SELECT broken` fails after ending the transaction: nothing more may run either.
          if (!committing && mode.transaction && lease.lost === undefined && client.getTransactionStatus() === 'I') {
            ended = true;
          }
          throw error;
        }
        // With our COMMIT behind it, the status may already say 'I': only the statement's own tags count.
        if (
          committing ? endsTransaction(result) : mode.transaction && (await this.endedBy(client, result, mode.tenant))
        ) {
          ended = true;
          throw endedError();
        }
        return result as never;
      },
    };
    try {
      if (mode.transaction) {
        prologue = (await this.begin(client, mode.tenant)).pending;
        prologue?.catch(() => undefined); // awaited by the first statement, or before COMMIT
        began = true;
      }
      let result: T;
      try {
        const work = currentScope.run(scope, () => fn(handle, client));
        // An abort does not wait for the callback: the transaction is rolled back and the
        // connection freed at once; what the callback sends afterwards is ABORTED.
        result = await (mode.signal === undefined ? work : aborting.outrun(work));
      } finally {
        scope.open = false;
      }
      if (ended) throw endedError(); // the callback caught the error and returned anyway
      if (aborting.fired) throw aborting.error(); // rolled back below
      if (mode.transaction) {
        if (prologue) await prologue; // the callback sent nothing
        if (lease.lost !== undefined) throw connectionLostError(lease.lost, this.target, during);
        if (!aborting.commit()) throw aborting.error();
        during = 'commit';
        const committed = await (committing ?? client.query('COMMIT'));
        // PostgreSQL answers COMMIT with ROLLBACK when a statement had failed: the callback caught
        // that error and returned, but nothing it did was kept.
        if (committed.command === 'ROLLBACK') throw rolledBackError();
      } else if (client.getTransactionStatus() !== 'I') {
        // withClient's callback left a transaction open: never hand that to the next borrower.
        await client.query('ROLLBACK');
      }
      return result;
    } catch (error) {
      if (committing && during !== 'commit') {
        // The COMMIT behind a failed statement ended the transaction (as a ROLLBACK): nothing is open.
        await committing.catch(() => undefined);
        began = false;
      }
      const broken = lease.lost !== undefined || isConnectionFailure(error);
      // Open: what BEGIN started, what withClient's callback left, or the transaction an AND CHAIN began.
      const open = (began && !ended) || client.getTransactionStatus() !== 'I';
      if (open && !broken && during !== 'commit') {
        // BEGIN succeeded, so a ROLLBACK is due; a connection that cannot roll back is not reused.
        await client.query('ROLLBACK').catch(() => (discard = true));
      }
      discard ||= broken;
      // Lost with our COMMIT on the wire: whether it was applied is not known.
      if (broken) throw connectionLostError(lease.lost ?? error, this.target, committing ? 'commit' : during);
      // The caller's own errors pass through untouched; only the driver's are translated.
      throw typedFailure(error, this.target, during, { statementTimeoutSecs: this.policy.statementTimeoutMs / 1000 });
    } finally {
      scope.open = false;
      lease.release(discard || ended || lease.lost !== undefined || aborting.cancelled);
    }
  }

  /**
   * Opens a transaction with its prologue: the timeouts, then for a tenant the application role
   * and the tenant id, all `SET LOCAL`. On Citus each goes as a statement of its own (Citus
   * forwards each parsed SET LOCAL to its workers, but re-runs a multi-statement string there and
   * fails: DESIGN.md §5); everywhere else the whole prologue is one simple-query string, one round
   * trip instead of four (`bench/tenant-overhead`), and where the source pipelines it is not awaited:
   * it returns `pending`, and the first statement goes out behind it (`bench/storage-call`). The
   * values are checked integers and the tenant
   * id, validated and escaped with `escapeLiteral`: nothing else reaches the SQL text.
   */
  private async begin(client: pg.ClientBase, tenant: string | undefined): Promise<{ pending?: Promise<unknown> }> {
    const facts = await this.sessionFacts(client);
    const statements = ['BEGIN', ...this.timeouts];
    if (tenant !== undefined) {
      if (this.policy.enforceAppRole && !facts.loginIsAppRole) {
        statements.push(`SET LOCAL ROLE ${pg.escapeIdentifier(APP_ROLE)}`);
      }
      statements.push(`SET LOCAL ${TENANT_SETTING} = ${pg.escapeLiteral(tenant)}`);
    }
    if (!facts.citus && this.policy.separatePrologue !== true) {
      const sent = client.query(statements.join('; '));
      // In pipeline mode the first statement goes out behind it, unawaited.
      if (this.source.pipelines === true) return { pending: sent };
      await sent;
      return {};
    }
    for (const statement of statements) await client.query(statement);
    return {};
  }

  /**
   * Whether the statement just run ended the scope's transaction. The ReadyForQuery status says
   * so at no cost ('I': no transaction); COMMIT AND CHAIN leaves a new one ('T') but reports
   * `COMMIT`. Only a `ROLLBACK` tag inside a transaction is ambiguous (ROLLBACK TO SAVEPOINT, or
   * ROLLBACK AND CHAIN): for a tenant scope one query tells whether the tenant is still set.
   */
  private async endedBy(client: pg.ClientBase, result: unknown, tenant: string | undefined): Promise<boolean> {
    if (client.getTransactionStatus() === 'I') return true;
    const tags = (Array.isArray(result) ? result : [result]).map((r) => (r as pg.QueryResult | undefined)?.command);
    if (tags.includes('COMMIT')) return true;
    if (tenant === undefined || !tags.includes('ROLLBACK')) return false;
    const { rows } = await client.query<{ same: boolean }>(
      `SELECT current_setting('${TENANT_SETTING}', true) IS NOT DISTINCT FROM $1 AS same`,
      [tenant],
    );
    return rows[0]?.same !== true;
  }

  private acquireError(error: unknown): LlmspellError {
    if (error instanceof SourceClosedError) {
      return new LlmspellError('SCOPE_CLOSED', `${this.target} was closed before this call got a connection`, {
        hint: 'Make calls before close(), and await them before closing; open the storage again for more.',
      });
    }
    if (!(error instanceof AcquireTimeoutError)) return toDatabaseError(error, this.target);
    if (this.kind !== 'postgres') {
      return new DatabaseError(
        'DB_POOL_TIMEOUT',
        `the embedded database's one session did not come free within storage.postgres.pool_timeout_secs: another call or transaction held it`,
        {
          hint: 'PGlite is a single session: keep transactions short (no LLM call or other wait inside one), and never wait inside a transaction() callback for a call made outside it.',
          cause: error,
        },
      );
    }
    const { total, max } = this.source.stats();
    if (total >= max) {
      return new DatabaseError(
        'DB_POOL_TIMEOUT',
        `no connection came free within storage.postgres.pool_timeout_secs: all ${max} pooled connections stayed in use`,
        {
          hint: "Raise storage.postgres.pool_size (and the server's max_connections), or hold connections for less time.",
          cause: error.cause,
        },
      );
    }
    // Not all connections were in use: the time went on opening one (a slow or unreachable server).
    return toDatabaseError(error.cause ?? error, this.target);
  }

  /** What the prologue needs to know of a physical connection, read once per connection. */
  private async sessionFacts(client: pg.ClientBase): Promise<SessionFacts> {
    let facts = this.sessions.get(client);
    if (facts === undefined) {
      const { rows } = await client.query<{ is_app: boolean; citus: boolean }>(
        "SELECT session_user = $1 AS is_app, EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AS citus",
        [APP_ROLE],
      );
      facts = { loginIsAppRole: rows[0]?.is_app === true, citus: rows[0]?.citus === true };
      this.sessions.set(client, facts);
    }
    return facts;
  }
}

/**
 * The abort of one lending, by its signal: once fired, no statement more
 * is sent (each is `ABORTED`), COMMIT becomes ROLLBACK, and a statement running on a server is
 * cancelled (the connection is then discarded). Firing after COMMIT was sent does nothing.
 */
class ScopeAbort {
  /** The lent connection, once there is one. */
  lease: Lease | undefined;
  /** The signal that fired, if one did. */
  #by: AbortSignal | undefined;
  /** COMMIT was sent: too late to abort. */
  #committing = false;
  /** Statements sent and not yet answered. */
  #running = 0;
  /** A cancel request was sent: the connection is not to be reused. */
  cancelled = false;
  /** Rejects {@link outrun}'s promise. */
  #interrupt: ((error: Error) => void) | undefined;

  get fired(): boolean {
    return this.#by !== undefined;
  }

  /** `ABORTED`, for the signal that fired. */
  error(): Error {
    return abortedError(this.#by!);
  }

  /** Aborts the lending, unless COMMIT is on its way (then `false`). */
  fire(signal: AbortSignal): boolean {
    if (this.#committing) return false;
    if (this.#by !== undefined) return true;
    this.#by = signal;
    if (this.#running > 0) this.#cancel();
    this.#interrupt?.(this.error());
    return true;
  }

  /** `work`, or `ABORTED` as soon as the lending is aborted (`work` goes on, unobserved). */
  outrun<T>(work: Promise<T>): Promise<T> {
    work.catch(() => undefined);
    if (this.#by !== undefined) return Promise.reject(this.error());
    return new Promise<T>((resolve, reject) => {
      this.#interrupt = reject;
      work.then(resolve, reject);
    });
  }

  /** Whether COMMIT may be sent (not aborted); from then on, firing does nothing. */
  commit(): boolean {
    if (this.#by !== undefined) return false;
    this.#committing = true;
    return true;
  }

  /** Counts `sent` as running until it settles. */
  running<T>(sent: Promise<T>): Promise<T> {
    this.#running++;
    const settled = () => {
      this.#running--;
    };
    sent.then(settled, settled);
    return sent;
  }

  #cancel(): void {
    const cancel = this.lease?.cancel;
    if (cancel === undefined || this.cancelled) return;
    this.cancelled = true;
    void cancel().catch(() => undefined);
  }
}

/** Facts of one physical connection that decide its transaction prologue. */
interface SessionFacts {
  /** The login role already is the application role: no SET LOCAL ROLE. */
  loginIsAppRole: boolean;
  /** The server is a Citus coordinator: prologue statements one by one. */
  citus: boolean;
}

function closedError(): LlmspellError {
  return new LlmspellError(
    'SCOPE_CLOSED',
    'a database handle was used after its withClient/withTransaction/withTenant callback had returned',
    {
      hint: 'Use the handle only inside its callback, and await every query before the callback returns; its connection has gone back to the pool, maybe to another tenant.',
    },
  );
}

function nestedError(): LlmspellError {
  return new LlmspellError(
    'SCOPE_NESTED',
    'the database was called from inside a withClient/withTransaction/withTenant callback of the same database',
    {
      hint: 'Use the handle the callback received (tx.query), not the database: a second connection would run outside the transaction and its tenant (and PGlite, with one session, would wait for itself forever).',
    },
  );
}

/** Whether a statement's own command tags end the transaction (COMMIT, ROLLBACK, … AND CHAIN). */
function endsTransaction(result: unknown): boolean {
  const tags = (Array.isArray(result) ? result : [result]).map((r) => (r as pg.QueryResult | undefined)?.command);
  return tags.includes('COMMIT') || tags.includes('ROLLBACK');
}

function singleError(): LlmspellError {
  return new LlmspellError('INTERNAL', 'a single-statement transaction was sent a second statement');
}

function rolledBackError(): LlmspellError {
  return new LlmspellError(
    'TRANSACTION_ENDED',
    'the transaction was rolled back: a statement in it failed, and the callback caught that error and returned',
    {
      hint: 'Let a failed statement end the callback (rethrow it), or use a SAVEPOINT around a statement that may fail; nothing of this transaction was kept.',
    },
  );
}

function endedError(): LlmspellError {
  return new LlmspellError(
    'TRANSACTION_ENDED',
    "a statement of the callback ended the scope's transaction (COMMIT, ROLLBACK, or the like): the rest would run outside it, and outside its tenant",
    {
      hint: 'Let withTransaction/withTenant commit or roll back: return from the callback to commit, throw to roll back; use SAVEPOINT for partial rollbacks. What that statement committed stays committed.',
    },
  );
}
