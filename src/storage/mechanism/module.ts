import type { Settings } from '../../config/schema.js';
import type { Queryable } from '../../db/types.js';
import type { Check } from '../../health/check.js';
import type { MaintenanceOptions, MaintenanceReport } from '../../maintenance/maintain.js';
import { LlmspellError } from '../../errors.js';
import { BATCH_LIMITS, splitBatch, type Chunk, type RowMeasure } from './batches.js';
import { isStatement, type Statement } from './statement.js';
import { cursorStream, type StreamOptions } from './streaming.js';
import type { StatementSettings, TenantTransaction } from './tenant-transaction.js';

/**
 * The component a module belongs to, which decides its backend: `memory` follows
 * `[storage.memory] backend`, `state` follows `[storage.state] backend`, and `core` (artifacts,
 * the event log, hook history, API keys) stays on `storage.backend`.
 */
export type Component = 'memory' | 'state' | 'core';

/** `storage.postgres` of the settings: what a module picks its own settings from ({@link StorageModule.settings}). */
export type StorageSettings = Settings['storage']['postgres'];

/**
 * What a store is given: its tenant, the settings it declared, and ways to run statements in a
 * transaction of its tenant. The common call is one statement: {@link first}, {@link one},
 * {@link all} or {@link count}. A call of several statements is {@link run}.
 */
export interface ModuleContext<Config = undefined> {
  /** The tenant of every call. */
  readonly tenant: string;
  /** What the module's {@link StorageModule.settings} picked from the settings; nothing else of them. */
  readonly settings: Config;
  /**
   * Runs `work` in a transaction of the tenant: a transaction of its own for a call through
   * `storage.tenant(id)` (retried when it fails with a serialization failure or a deadlock: all of
   * `work` is run again, so it must do nothing but send statements, unless `retry: false`), or
   * the caller's `storage.transaction()`.
   */
  run<T>(work: (tx: TenantTransaction) => Promise<T>, options?: RunOptions): Promise<T>;
  /**
   * Runs one statement and returns its first row, or `undefined` when it returned none. `call`
   * is the store method's options: its `signal` aborts the call (every call of the context takes it).
   */
  first<P, R>(statement: Statement<P, R>, params: P, call?: CallOptions): Promise<R | undefined>;
  /** Runs one statement that always returns a row (an `INSERT … RETURNING`, an aggregate); `INTERNAL` when it returned none. */
  one<P, R>(statement: Statement<P, R>, params: P, call?: CallOptions): Promise<R>;
  /** Runs one statement and returns its rows; `settings` as {@link TenantTransaction.all} takes them. */
  all<P, R>(statement: Statement<P, R>, params: P, settings?: StatementSettings, call?: CallOptions): Promise<R[]>;
  /** Runs one statement and returns how many rows it affected. */
  count<P, R>(statement: Statement<P, R>, params: P, call?: CallOptions): Promise<number>;
  /**
   * The rows of a read-only statement in batches from one cursor in one transaction: one
   * snapshot, but it HOLDS A CONNECTION until the stream ends or is broken off (see
   * `streaming.ts`); `USAGE` on the single-session backend. For reads that may span many
   * transactions, page through a keyset list instead (`pagesOf`).
   */
  stream<P, R>(statement: Statement<P, R>, params: P, options?: StreamOptions & CallOptions): AsyncIterable<R[]>;
  /**
   * Writes a batch of rows: cut by {@link splitBatch} into chunks of one group each (within
   * {@link BATCH_LIMITS}), `write` sends one statement per chunk, all in one transaction (all or
   * none; a single chunk is a one-statement call). With `atomic: false` each chunk commits in a
   * transaction of its own, so a large batch does not hold a connection (PGlite's one session)
   * from first chunk to last; when one fails, the chunks before it stay. On a single-session
   * backend an atomic batch carries at most {@link SINGLE_SESSION_BATCH_BYTES}: every other call
   * of the process waits for it. Too much is `INVALID_INPUT` naming `field`, before anything is sent.
   */
  batch<K, T>(
    batch: BatchInput<K, T>,
    write: (tx: TenantTransaction, chunk: Chunk<K, T>) => Promise<unknown>,
  ): Promise<void>;
  /**
   * The chunks {@link batch} would write, for a batch whose transaction does more than write
   * them (an append that locks its stream first): the same limits, the single-session bound
   * included. The caller runs them in one `run`.
   */
  split<K, T>(batch: Omit<BatchInput<K, T>, 'signal'>): Chunk<K, T>[];
}

/**
 * The option every store method takes (its options type extends this one): `signal` aborts the
 * call. It then rejects at once with `ABORTED` — while it waits for a connection, too — the
 * statement running on a server is cancelled (nothing of it stays active in `pg_stat_activity`),
 * and its transaction is rolled back; in a `transaction()`, the whole transaction is. Once its
 * COMMIT is sent it is too late: the call settles as it would have. On the embedded backend a
 * statement that has begun runs to its end (PGlite cannot cancel one), then rolls back.
 */
export interface CallOptions {
  /** Aborts the call (see {@link CallOptions}). */
  signal?: AbortSignal | undefined;
}

/** What {@link ModuleContext.batch} writes. */
export interface BatchInput<K, T> extends CallOptions {
  /** The method, for errors (`vectors.upsert`). */
  readonly operation: string;
  /** The argument holding the rows, for errors (`entries`). */
  readonly field: string;
  /** The rows; an iterable is read one row at a time, so a batch over the limits is refused before the rest is made. */
  readonly rows: Iterable<T>;
  /** Each row's group (the table it goes to) and size. */
  readonly measure: (row: T) => RowMeasure<K>;
  /** All chunks in one transaction (default), or each in its own. */
  readonly atomic?: boolean;
}

/**
 * The most bytes one atomic batch may carry on a single-session backend (PGlite), where every
 * other call of the process waits for it: 16 MiB is about 2,200 vectors of 384 dimensions (they
 * travel as text, about 7.6 KB each).
 */
export const SINGLE_SESSION_BATCH_BYTES = 16 * 1024 * 1024;

/** Options of {@link ModuleContext.run}. */
export interface RunOptions {
  /**
   * `work` sends exactly one statement and cannot fail after it: on a pipelining connection the
   * whole transaction (prologue, statement, COMMIT) is then one round trip. The one-statement
   * calls of the context ({@link ModuleContext.first} …) set it.
   */
  singleStatement?: boolean;
  /**
   * `false`: `work` must not be run twice (it consumes a stream, say), so a serialization failure
   * or a deadlock rejects with a retryable `CONFLICT` instead of running it again. Default `true`.
   */
  retry?: boolean;
  /** Aborts the run: see {@link CallOptions}. */
  signal?: AbortSignal | undefined;
}

/**
 * The public members of a store class as a plain object type: what a tenant view exposes and a
 * framework programs against (a test double, another implementation); the class stays internal.
 */
export type StoreInterface<T> = { [K in keyof T]: T[K] };

/** {@link RunOptions} of a one-statement run. */
export const ONE_STATEMENT: RunOptions = Object.freeze({ singleStatement: true });

/** The options of a run of one statement, aborted by `call`'s signal. */
function oneStatement(call: CallOptions | undefined): RunOptions {
  return call?.signal === undefined ? ONE_STATEMENT : { singleStatement: true, signal: call.signal };
}

/**
 * The statements of a module, as its `sql.ts` exports them (`import * as sql`): statements, and
 * records of statements (one set per vector dimension, say). Anything else in it is ignored.
 */
export type StatementSet = Readonly<Record<string, unknown>>;

/** A storage module: its id (the property of a tenant view), component, statements, settings and the factory of its store. */
export interface StorageModule<Id extends string = string, Store = unknown, Config = unknown> {
  readonly id: Id;
  readonly component: Component;
  /**
   * Every statement the module sends (its `sql.ts` namespace). The tenant-wall test runs each
   * through `EXPLAIN` and checks that every scan of a tenant table carries a `tenant_id` condition.
   */
  readonly statements: StatementSet;
  /** Picks what the module reads of `storage.postgres` (its own keys); the store is handed that alone. */
  readonly settings?: (settings: StorageSettings) => Config;
  /**
   * What to tell a caller whose schema lacks the module's tables or functions (a track of the
   * migrations that did not run); default: run `llmspell database migrate`.
   */
  readonly migrationHint?: string;
  /** What the module does as the schema owner: see {@link OwnerFace}. */
  readonly owner?: OwnerFace;
  /**
   * Makes the store for one tenant (cheap: called once per tenant view); a module without one
   * (an owner face alone, so far) has no property on a tenant view.
   */
  create?(context: ModuleContext<Config>): Store;
}

/**
 * A module's part of a maintenance run: `run` as the owner (on a connection of its own, outside
 * any transaction; idempotent, bounded by `maintenance_lock_timeout_secs`), its report under `key`
 * of `MaintenanceReport`, and the report of a run that passed it over.
 */
export interface ModuleMaintenance<K extends keyof MaintenanceReport = keyof MaintenanceReport> {
  readonly key: K;
  run(client: Queryable, settings: Settings, options: MaintenanceOptions): Promise<MaintenanceReport[K]>;
  readonly skipped: MaintenanceReport[K];
}

/** Declares a module's maintenance (typed by its key). */
export function moduleMaintenance<K extends keyof MaintenanceReport>(
  maintenance: ModuleMaintenance<K>,
): ModuleMaintenance {
  return maintenance as unknown as ModuleMaintenance;
}

/** A table of a module's tenant rows: its name in schema `llmspell` and its primary key after `tenant_id`. */
export interface TenantTable {
  readonly name: string;
  readonly key: readonly string[];
  /**
   * `false` for a table whose rows refer to each other (a key's rotation history): its tenant's
   * rows are deleted in one statement, since a batch could delete a row another still refers to.
   * @default true
   */
  readonly batched?: boolean;
}

/**
 * What a module does as the schema owner, which the application role may not: erase a tenant
 * (`storage.forgetTenant`, `llmspell database forget-tenant`), keep its tables in shape
 * (`llmspell database maintain`, `storage.maintain()`, after `migrate`), and say how they are
 * (`llmspell database health-check`). The commands reach modules through the registry alone.
 */
export interface OwnerFace {
  /** Maintenance of the module's tables, as the owner: see {@link ModuleMaintenance}. */
  readonly maintenance?: ModuleMaintenance;
  /** Checks of `database health-check`, after the core ones, in registry order. */
  readonly health?: readonly Check[];
  /**
   * The module's tenant tables, a table that refers to another before it: a forgotten tenant's
   * rows are deleted in this order, in batches. A table the database does not have (a track of
   * the migrations that did not run) is passed over.
   */
  readonly tables: readonly TenantTable[];
}

/** Declares a module (typed, for the registry); its owner tables' names are checked here, as they go into SQL text. */
export function defineModule<const Id extends string, Store = never, Config = undefined>(
  module: StorageModule<Id, Store, Config>,
): StorageModule<Id, Store, Config> {
  for (const table of module.owner?.tables ?? []) {
    const bad = [table.name, ...table.key].find((name) => !/^[a-z_][a-z0-9_]*$/.test(name));
    if (bad !== undefined || table.key.length === 0) {
      throw new Error(
        `module ${module.id}: owner table ${JSON.stringify(table.name)}: ${JSON.stringify(bad ?? 'no key')} is not a lower-case SQL name`,
      );
    }
  }
  return module;
}

/** Every statement of `module`, found in its {@link StorageModule.statements} (records of statements too). */
export function statementsOf(module: Pick<StorageModule, 'statements'>): Statement<unknown, unknown>[] {
  const found = new Set<Statement<unknown, unknown>>();
  const walk = (value: unknown, depth: number) => {
    if (isStatement(value)) found.add(value);
    else if (typeof value === 'object' && value !== null && depth < 4) {
      for (const inner of Object.values(value)) walk(inner, depth + 1);
    }
  };
  walk(module.statements, 0);
  return [...found];
}

/** How a module's calls reach a transaction of its tenant. */
export type Runner = <T>(work: (tx: TenantTransaction) => Promise<T>, options?: RunOptions) => Promise<T>;

/**
 * The context of `module` for `tenant`: its settings, and `run` (plus the one-statement calls)
 * over `runner`, with a missing table or function reported as `MIGRATION_PENDING`.
 */
export function moduleContext<Config>(
  module: StorageModule<string, unknown, Config>,
  tenant: string,
  settings: StorageSettings,
  runner: Runner,
  backend: {
    readonly singleSession: boolean;
    /** The context runs in a caller's `transaction()`: every run is that one transaction. */
    readonly inTransaction?: boolean;
  } = { singleSession: false },
): ModuleContext<Config> {
  const run: Runner = (work, options) =>
    runner(work, options).catch((error: unknown) => {
      throw unmigrated(error, module) ?? error;
    });
  const split = <K, T>({ operation, field, rows, measure, atomic = true }: Omit<BatchInput<K, T>, 'signal'>) => {
    // In a caller's transaction() the chunks share it whatever `atomic` says.
    const bounded = backend.singleSession && (atomic || backend.inTransaction === true);
    return splitBatch(
      operation,
      field,
      rows,
      measure,
      bounded
        ? { ...BATCH_LIMITS, callBytes: Math.min(BATCH_LIMITS.callBytes, SINGLE_SESSION_BATCH_BYTES) }
        : BATCH_LIMITS,
      bounded
        ? '; on the embedded backend one transaction holds the only session: pass atomic: false to commit it chunk by chunk, or split it'
        : '; split it into several calls',
    );
  };
  return Object.freeze({
    tenant,
    settings: (module.settings ? module.settings(settings) : undefined) as Config,
    run,
    first: (statement, params, call) => run((tx) => tx.first(statement, params), oneStatement(call)),
    one: (statement, params, call) => run((tx) => tx.one(statement, params), oneStatement(call)),
    // With settings a statement travels with the two that set and reset them: no one-statement run.
    all: (statement, params, statementSettings, call) =>
      run(
        (tx) => tx.all(statement, params, statementSettings),
        statementSettings === undefined ? oneStatement(call) : { signal: call?.signal },
      ),
    count: (statement, params, call) => run((tx) => tx.count(statement, params), oneStatement(call)),
    stream: (statement, params, options = {}) =>
      cursorStream(run, statement, params, options, {
        singleSession: backend.singleSession,
        idleMs: settings.idle_in_transaction_timeout_secs * 1000,
      }),
    split,
    async batch(input, write) {
      const { atomic = true, signal } = input;
      const chunks = split(input);
      if (chunks.length === 0) return;
      if (!atomic) {
        // Each chunk is a transaction of its own: retried alone, and the session is free between them.
        for (const chunk of chunks) await run((tx) => write(tx, chunk), { ...ONE_STATEMENT, signal });
        return;
      }
      await run(
        async (tx) => {
          for (const chunk of chunks) await write(tx, chunk);
        },
        chunks.length === 1 ? { ...ONE_STATEMENT, signal } : { signal },
      );
    },
  });
}

/** SQLSTATEs of a schema object that is not there: a table (42P01), a type (42704), a function (42883). */
const UNDEFINED_OBJECT = new Set(['42P01', '42704', '42883']);

/** `MIGRATION_PENDING` for a statement of `module` that met a missing table, type or function; else `undefined`. */
function unmigrated(error: unknown, module: Pick<StorageModule, 'id' | 'migrationHint'>): LlmspellError | undefined {
  const cause = error instanceof LlmspellError ? (error.cause as { code?: unknown } | undefined) : undefined;
  if (typeof cause?.code !== 'string' || !UNDEFINED_OBJECT.has(cause.code)) return undefined;
  // Only a missing object of the schema or of the vector extension: "operator does not exist:
  // text = uuid" (also 42883) is a bug in a statement, not a migration that did not run.
  const message = String((cause as { message?: unknown }).message ?? '');
  if (!/llmspell\.|type "(vector|halfvec)"/.test(message)) return undefined;
  return new LlmspellError(
    'MIGRATION_PENDING',
    `${module.id}: its tables or functions are not in the database: the migrations that create them have not (fully) run`,
    { hint: module.migrationHint ?? 'Run `llmspell database migrate`.', cause: error },
  );
}
