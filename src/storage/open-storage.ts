import { AsyncLocalStorage } from 'node:async_hooks';
import * as z from 'zod/mini';
import type { Settings, StorageBackend } from '../config/schema.js';
import { openDatabase, type OpenDatabaseOptions } from '../db/open.js';
import { tenantIdValidator } from '../db/tenant.js';
import type { Database } from '../db/types.js';
import { LlmspellError } from '../errors.js';
import { maintain, type MaintenanceParts, type MaintenanceReport } from '../maintenance/maintain.js';
import { migrationLimits, migrationSource, openMigrationDatabase } from '../migrate/connect.js';
import { migrate, type MigrationRunResult } from '../migrate/run.js';
import { migrationStatus } from '../migrate/status.js';
import {
  moduleContext,
  type CallOptions,
  type Component,
  type Runner,
  type RunOptions,
  type StorageModule,
} from './mechanism/module.js';
import {
  forgetTenant,
  type ErasureReceipt,
  type ErasureTarget,
  type ForgetTenantOptions,
} from './mechanism/erasure.js';
import { MODULES, type TenantStores } from './registry.js';
import { callOptions, identifier, integer, parseInput } from './values/fields.js';
import { linkedSignal, throwIfAborted, unlessAborted } from '../db/abort.js';
import { outsideCalls, watchAwaits, type OutsideCall } from './awaited-calls.js';
import { withRetries } from './mechanism/retry.js';
import { TenantTransaction, type StatementObserver, type StorageLimits } from './mechanism/tenant-transaction.js';

/** Options of {@link openStorage}. */
export interface OpenStorageOptions extends Omit<OpenDatabaseOptions, 'backend'> {
  /** Migrations directory for `auto_migrate`; default the package's. */
  migrationsDir?: string;
  /**
   * Told of every statement a storage call runs — its operation, backend, duration, rows, error
   * code; never a parameter value or a row — for tracing and metrics. Unset, it costs nothing.
   */
  observer?: StatementObserver;
}

/** An open storage layer: the modules of each tenant, transactions, and what opening did. */
export interface Storage {
  /**
   * The stores of one tenant; every call is a transaction of its own, retried when it fails with a
   * serialization failure or a deadlock. The id is checked against `tenant_id_pattern` here,
   * before any SQL (`TENANT_INVALID`). With `enforce_tenant_isolation = false` it may be left out
   * for `default_tenant_id` (single-tenant use).
   */
  tenant(tenantId?: string): TenantStores;
  /**
   * Runs `work` in one transaction of the tenant: every call through the stores it receives
   * commits together when `work` returns, or not at all when it throws. The stores must all be on
   * one backend (`TRANSACTION_SPANS_BACKENDS` otherwise, before anything runs on the second); the
   * transaction opens with the first call. It is not retried: a serialization failure or a
   * deadlock rejects with a retryable `CONFLICT`, and `work` may be run again. The stores are
   * revoked when `work` settles (`SCOPE_CLOSED`), and calling `storage` itself from inside
   * `work` throws `SCOPE_NESTED`. `signal` aborts the whole transaction while `work` runs: it
   * rejects at once with `ABORTED` and rolls back; a call inside it aborted by its own signal
   * rolls the whole transaction back too (every later call in it is `ABORTED`).
   */
  transaction<T>(tenantId: string, work: (stores: TenantStores) => Promise<T>, options?: CallOptions): Promise<T>;
  /**
   * The database of `storage.backend` (the one of the core components), for direct SQL. UNSCOPED:
   * it is the door around the statement wall — `db.query` runs as the login with no tenant set,
   * and SQL sent through `db.withTenant` is whatever the caller writes (the tenant is set, row-level
   * security applies, but no statement check, no `tenant_id = $tenant`, no write check during
   * `forgetTenant`). The stores (`tenant()`, `transaction()`) are the scoped door.
   */
  readonly db: Database;
  /** The backend serving each component, after `[storage.memory]` and `[storage.state]`. */
  readonly backends: Readonly<Record<Component, StorageBackend>>;
  /** The migration run of `auto_migrate = true` on the core backend, if it ran. */
  readonly migrated?: MigrationRunResult;
  /** The maintenance that followed `auto_migrate`'s migration run, if it ran. */
  readonly maintenance?: MaintenanceReport;
  /**
   * Runs maintenance now (event-log partitions for the coming periods, retention; the partial
   * vector indexes of large tenants, on the memory components' backend), for a
   * long-running process: call it daily, or use `llmspell database maintain` from cron. It needs
   * the schema owner: on `postgres` it connects with `migration_url` (else `url`) for the run.
   */
  maintain(): Promise<MaintenanceReport>;
  /**
   * Forgets a tenant: deletes every row it has in every module, on every backend it lives on, as
   * the schema owner (on `postgres` over `migration_url`, else `url`), in batches of short
   * transactions. While it runs, every write of the tenant is refused with `TENANT_ERASING`, in
   * every process; other tenants are not touched. Idempotent and resumable: a run stopped halfway
   * leaves the tenant's writes refused, and a second run with the same `requestId` finishes the
   * job (another request id is `CONFLICT`). Returns a receipt that names the tenant only by its
   * hash. `dryRun` counts the rows and changes nothing.
   */
  forgetTenant(tenantId: string, options: ForgetTenantOptions): Promise<ErasureReceipt>;
  /** Closes every backend; calls made afterwards throw `SCOPE_CLOSED`. */
  close(): Promise<void>;
  /** `close()`, for `await using storage = await openStorage(settings)`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** The backend of each component: `[storage.memory]`, `[storage.state]`, else `storage.backend`. */
export function componentBackends(settings: Settings): Record<Component, StorageBackend> {
  const resolve = (backend: string | undefined): StorageBackend =>
    backend === undefined ? settings.storage.backend : backend === 'sled' ? 'embedded' : (backend as StorageBackend);
  return {
    memory: resolve(settings.storage.memory.backend),
    state: resolve(settings.storage.state.backend),
    core: settings.storage.backend,
  };
}

/** One open backend and what `auto_migrate` did to it. */
interface OpenBackend {
  db: Database;
  migrated?: MigrationRunResult;
  maintenance?: MaintenanceReport;
}

/**
 * Opens the storage layer the settings describe: each backend the components use, once. With
 * `storage.postgres.auto_migrate = true` each is first migrated and maintained (over the
 * migration connection for `postgres`, the same handle for PGlite); a `memory` backend is always
 * migrated, since it starts empty. A maintenance that meets a lock held too long reports `busy`
 * and does not stop the open.
 *
 * @example
 * const storage = await openStorage((await loadSettings()).settings);
 * try {
 *   await storage.tenant('acme').agentState.put('planner', { step: 1 });
 * } finally {
 *   await storage.close();
 * }
 */
export async function openStorage(settings: Settings, options: OpenStorageOptions = {}): Promise<Storage> {
  const backends = componentBackends(settings);
  const opened = new Map<StorageBackend, OpenBackend>();
  try {
    for (const backend of new Set([backends.core, backends.state, backends.memory])) {
      opened.set(backend, await openBackend(settings, backend, options));
    }
  } catch (error) {
    await Promise.allSettled([...opened.values()].map((open) => open.db.close()));
    throw error;
  }
  return new OpenStorage(settings, options, backends, opened);
}

async function openBackend(
  settings: Settings,
  backend: StorageBackend,
  options: OpenStorageOptions,
): Promise<OpenBackend> {
  const migrateNow = settings.storage.postgres.auto_migrate || backend === 'memory';
  const limits = { ...migrationLimits(settings), ...migrationSource(settings, options.migrationsDir) };
  // On a server, opening keeps the event log current but leaves the vector indexes (a tenant's
  // partial index, a VectorChord rebuild: minutes on a large table) to `database maintain`.
  const parts = backend === 'postgres' ? { vectorIndexes: false } : {};
  const upkeep = async (db: Database) => {
    const migrated = await migrate(db, limits);
    return { migrated, maintenance: await maintain(db, settings, {}, parts) };
  };
  // On a server the owner migrates over a connection of its own, before the pool opens.
  const ownerUpkeep = backend === 'postgres' && migrateNow ? await withOwner(settings, options, upkeep) : undefined;
  const db = await openDatabase(settings, { ...options, backend });
  try {
    if (!migrateNow) {
      await refusePending(db, settings, options);
      return { db };
    }
    return { db, ...(ownerUpkeep ?? (await upkeep(db))) };
  } catch (error) {
    await db.close();
    throw error;
  }
}

/**
 * `MIGRATION_PENDING` when the database lacks migrations the settings ask for (a fresh embedded
 * database, a track enabled since): the first call would otherwise fail on a missing role or table.
 */
async function refusePending(db: Database, settings: Settings, options: OpenStorageOptions): Promise<void> {
  const { tracks } = migrationSource(settings, options.migrationsDir);
  const status = await db.withClient((client) => migrationStatus(client, tracks));
  if (status.pending === 0) return;
  const names = status.entries.filter((entry) => entry.state === 'pending').map((entry) => entry.name);
  throw new LlmspellError(
    'MIGRATION_PENDING',
    `${db.target} lacks ${status.pending} migration(s) the storage needs (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', …' : ''})`,
    {
      hint: 'Run `llmspell database migrate` (as the schema owner), or set storage.postgres.auto_migrate = true to migrate when storage opens.',
    },
  );
}

/** Runs `fn` on a short-lived connection of the schema owner (`migration_url`, else `url`). */
async function withOwner<T>(
  settings: Settings,
  options: OpenStorageOptions,
  fn: (owner: Database) => Promise<T>,
): Promise<T> {
  const direct = await openMigrationDatabase(settings, options);
  try {
    return await fn(direct);
  } finally {
    await direct.close();
  }
}

/** The scope of a `storage.transaction()` callback, to refuse calls of the same storage inside it. */
interface TransactionScope {
  readonly storage: OpenStorage;
  open: boolean;
  /** The database its transaction holds a connection of, once the first call opened it. */
  db?: Database;
}

const transactionScope = new AsyncLocalStorage<TransactionScope>();

const forgetOptions = z.strictObject({
  requestId: identifier(),
  dryRun: z.optional(z.boolean()),
  batchRows: z.optional(integer(1, 100_000)),
});

/** How many tenants' views `tenant()` keeps for reuse. */
const MAX_CACHED_VIEWS = 1024;

class OpenStorage implements Storage {
  readonly db: Database;
  readonly migrated?: MigrationRunResult;
  readonly maintenance?: MaintenanceReport;
  readonly #validate: (tenantId: unknown) => string;
  readonly #limits: StorageLimits;
  readonly #views = new Map<string, TenantStores>();
  /** Tenants this storage is forgetting now (how many runs each): their writes are refused here at once. */
  readonly #erasing = new Map<string, number>();
  #closed = false;

  constructor(
    private readonly settings: Settings,
    private readonly options: OpenStorageOptions,
    readonly backends: Readonly<Record<Component, StorageBackend>>,
    private readonly opened: ReadonlyMap<StorageBackend, OpenBackend>,
  ) {
    const core = opened.get(backends.core)!;
    this.db = core.db;
    if (core.migrated) this.migrated = core.migrated;
    if (core.maintenance) this.maintenance = core.maintenance;
    this.#validate = tenantIdValidator(settings.storage.postgres.tenant_id_pattern);
    this.#limits = { maxDocumentBytes: settings.storage.postgres.max_document_bytes };
  }

  tenant(tenantId?: string): TenantStores {
    const tenant = this.#tenant(tenantId);
    let stores = this.#views.get(tenant);
    if (stores === undefined) {
      // Views hold no state but their tenant: one per tenant is kept, for callers that ask per request.
      if (this.#views.size >= MAX_CACHED_VIEWS) this.#views.clear();
      stores = this.#stores(tenant, (component) => (work, options) => this.#call(component, tenant, work, options));
      this.#views.set(tenant, stores);
    }
    return stores;
  }

  async transaction<T>(
    tenantId: string,
    work: (stores: TenantStores) => Promise<T>,
    options: CallOptions = {},
  ): Promise<T> {
    const tenant = this.#tenant(tenantId);
    this.#refuseNesting();
    const { signal } = parseInput('transaction', callOptions, options);
    throwIfAborted(signal);
    const scope: TransactionScope = { storage: this, open: true };
    /** Aborts the transaction's connection scope: its signal, or a call's inside it. */
    const aborter = new AbortController();
    const abort = (by: AbortSignal) => {
      aborter.abort(by.reason);
      return true;
    };
    /** The transaction, once the first call opened it. */
    const binding: { current?: Binding } = {};
    const open = (component: Component): Promise<TenantTransaction> => {
      if (!scope.open) return Promise.reject(closedError('a transaction() callback had returned'));
      const db = this.#database(component);
      const bound = binding.current;
      if (bound) {
        return bound.db === db
          ? bound.tx
          : Promise.reject(spansBackendsError(this.backends, bound.component, component));
      }
      const ready = deferred<TenantTransaction>();
      const end = deferred();
      const settled = db.withTenant(
        tenant,
        async (client) => {
          const tx = new TenantTransaction(client, tenant, this.#limits, {
            target: db.target,
            singleStatement: false,
            pipelines: db.pipelines,
            statementTimeoutSecs: this.settings.storage.postgres.statement_timeout_secs,
            erasing: () => this.#erasing.has(tenant),
            ...this.#observing(db),
          });
          ready.resolve(tx);
          try {
            await end.promise;
          } finally {
            tx.revoke();
          }
        },
        { signal: aborter.signal },
      );
      settled.catch((error: unknown) => ready.reject(error));
      binding.current = { component, db, tx: ready.promise, end, settled };
      scope.db = db;
      return ready.promise;
    };
    const stores = this.#stores(
      tenant,
      (component) => async (run, runOptions) => {
        const callSignal = runOptions?.signal;
        if (callSignal === undefined) return run(await open(component));
        throwIfAborted(callSignal);
        const tx = await unlessAborted(open(component), callSignal);
        return unlessAborted(run(tx), callSignal, () => abort(callSignal));
      },
      true,
    );
    let result: T;
    try {
      result = await unlessAborted(
        transactionScope.run(scope, () => work(stores)),
        signal,
        () => abort(signal!),
      );
    } catch (error) {
      scope.open = false;
      binding.current?.end.reject(error); // roll back
      await binding.current?.settled.catch(() => undefined);
      throw error;
    }
    scope.open = false;
    binding.current?.end.resolve(); // commit
    await binding.current?.settled;
    return result;
  }

  async maintain(): Promise<MaintenanceReport> {
    // Each module's maintenance runs on the backend of its component, every backend at once.
    const parts = MODULES.flatMap((module) =>
      module.owner?.maintenance
        ? [{ key: module.owner.maintenance.key, backend: this.backends[module.component] }]
        : [],
    );
    const backends = [...new Set(Object.values(this.backends))];
    const reports = await Promise.all(
      backends.map((backend) => {
        const only = Object.fromEntries(parts.map((part) => [part.key, part.backend === backend])) as MaintenanceParts;
        return backend === 'postgres'
          ? withOwner(this.settings, this.options, (owner) => maintain(owner, this.settings, {}, only))
          : maintain(this.opened.get(backend)!.db, this.settings, {}, only);
      }),
    );
    return Object.fromEntries(
      parts.map(({ key, backend }) => [key, reports[backends.indexOf(backend)]![key]]),
    ) as unknown as MaintenanceReport;
  }

  /** The observer's part of a transaction scope: nothing when none is set. */
  #observing(db: Database): { observer?: StatementObserver; backend?: Database['kind'] } {
    const { observer } = this.options;
    return observer === undefined ? {} : { observer, backend: db.kind };
  }

  async forgetTenant(tenantId: string, options: ForgetTenantOptions): Promise<ErasureReceipt> {
    const tenant = this.#tenant(tenantId, 'allow');
    this.#refuseNesting();
    const checked = parseInput('forgetTenant', forgetOptions, options);
    const targets = [...new Set(Object.values(this.backends))].map((backend): ErasureTarget => ({
      backend,
      withOwner: (fn) =>
        backend === 'postgres' ? withOwner(this.settings, this.options, fn) : fn(this.opened.get(backend)!.db),
      // Every module's tables on every backend: rows written there under an earlier routing go too.
      modules: MODULES,
    }));
    return forgetTenant(targets, tenant, checked, (on) => {
      const runs = (this.#erasing.get(tenant) ?? 0) + (on ? 1 : -1);
      if (runs > 0) this.#erasing.set(tenant, runs);
      else this.#erasing.delete(tenant);
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.opened.values()].map((open) => open.db.close()));
  }

  /** A call's own transaction, retried as a whole when it fails with a serialization failure or deadlock. */
  #call<T>(
    component: Component,
    tenant: string,
    work: (tx: TenantTransaction) => Promise<T>,
    options: RunOptions = {},
  ): Promise<T> {
    try {
      this.#refuseNesting();
    } catch (error) {
      return Promise.reject(error);
    }
    const db = this.#database(component);
    const single = options.singleStatement === true;
    // A call of a single-session backend's store may be aborted where it is awaited (#awaited).
    const outside = this.backends[component] === 'postgres' ? undefined : outsideCalls.getStore();
    const link = outside === undefined ? undefined : linkedSignal(options.signal);
    if (outside !== undefined) {
      outside.db = db;
      outside.abort = link!.abort;
    }
    const signal = link?.signal ?? options.signal;
    const attempt = () =>
      db.withTenant(
        tenant,
        async (client) => {
          const tx = new TenantTransaction(client, tenant, this.#limits, {
            target: db.target,
            singleStatement: single,
            pipelines: db.pipelines,
            statementTimeoutSecs: this.settings.storage.postgres.statement_timeout_secs,
            erasing: () => this.#erasing.has(tenant),
            ...this.#observing(db),
          });
          try {
            return await work(tx);
          } finally {
            tx.revoke();
          }
        },
        { singleStatement: single, signal },
      );
    const done = options.retry === false ? attempt() : withRetries(attempt);
    return link === undefined ? done : done.finally(link.release);
  }

  /**
   * A call of a single-session backend's store awaited where it cannot finish: inside a
   * `transaction()` callback whose transaction holds the session the call waits for. It is
   * aborted at once (`SCOPE_NESTED`) rather than left to wait for the transaction that waits for
   * it, until `pool_timeout_secs`.
   */
  #awaited(call: OutsideCall): void {
    const scope = transactionScope.getStore();
    if (scope?.open !== true || scope.storage !== this || call.settled || call.db === undefined) return;
    if (scope.db !== call.db) return;
    call.abort?.(
      new LlmspellError(
        'SCOPE_NESTED',
        "a call made outside a transaction() was awaited inside its callback, while that transaction holds the embedded database's one session: each would wait for the other",
        {
          hint: 'Await the call before storage.transaction(), or make it through the stores the callback receives (inside the transaction).',
        },
      ),
    );
  }

  /** The stores of `tenant`, each made on first use, reaching transactions through `runner`. */
  #stores(tenant: string, runner: (component: Component) => Runner, inTransaction = false): TenantStores {
    const stores = {} as Record<string, unknown>;
    for (const module of MODULES as readonly StorageModule[]) {
      if (!module.create) continue;
      const create = module.create.bind(module);
      let store: unknown;
      const singleSession = this.backends[module.component] !== 'postgres';
      const make = () => {
        const made = create(
          moduleContext(module, tenant, this.settings.storage.postgres, runner(module.component), {
            singleSession,
            inTransaction,
          }),
        ) as object;
        // Outside a transaction, a single-session store's calls see where they are awaited.
        return singleSession && !inTransaction ? watchAwaits(made, (call) => this.#awaited(call)) : made;
      };
      Object.defineProperty(stores, module.id, {
        enumerable: true,
        get: () => (store ??= make()),
      });
    }
    return Object.freeze(stores) as TenantStores;
  }

  #database(component: Component): Database {
    if (this.#closed) throw closedError('the storage was closed');
    return this.opened.get(this.backends[component])!.db;
  }

  #tenant(tenantId: string | undefined, reserved: 'refuse' | 'allow' = 'refuse'): string {
    if (this.#closed) throw closedError('the storage was closed');
    const postgres = this.settings.storage.postgres;
    if (tenantId === undefined) {
      if (!postgres.enforce_tenant_isolation) return postgres.default_tenant_id;
      throw new LlmspellError('TENANT_INVALID', 'no tenant id given: storage.tenant() needs one', {
        hint: 'Pass the tenant id, as in storage.tenant("acme"). Only with storage.postgres.enforce_tenant_isolation = false does storage.tenant() fall back to default_tenant_id (single-tenant use).',
      });
    }
    const tenant = this.#validate(tenantId);
    // The single-tenant fallback's rows are no tenant's to reach by name while isolation is on:
    // otherwise a caller that names its tenant "default" would read what single-tenant use wrote.
    if (reserved === 'refuse' && postgres.enforce_tenant_isolation && tenant === postgres.default_tenant_id) {
      throw new LlmspellError(
        'TENANT_INVALID',
        `tenant id ${JSON.stringify(tenant)} is reserved: it is storage.postgres.default_tenant_id, the tenant of single-tenant use`,
        {
          hint: 'Use another tenant id. Its rows are reached with enforce_tenant_isolation = false (storage.tenant() with no id), and erased with forgetTenant.',
        },
      );
    }
    return tenant;
  }

  #refuseNesting(): void {
    const scope = transactionScope.getStore();
    if (scope?.open && scope.storage === this) {
      throw new LlmspellError(
        'SCOPE_NESTED',
        'storage was called from inside a transaction() callback of the same storage',
        {
          hint: 'Use the stores the callback received: a call through storage.tenant() would run in a transaction of its own, outside this one (and PGlite, one session, would wait for itself forever).',
        },
      );
    }
  }
}

/** A transaction of `transaction()`, opened on the backend of the first store it was used for. */
interface Binding {
  component: Component;
  db: Database;
  tx: Promise<TenantTransaction>;
  /** Settles the open transaction: resolved to commit, rejected to roll back. */
  end: Deferred;
  /** The withTenant call holding it: resolves once committed. */
  settled: Promise<void>;
}

interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

function closedError(why: string): LlmspellError {
  return new LlmspellError('SCOPE_CLOSED', `storage was used after ${why}`, {
    hint: 'Keep the stores of a transaction() inside its callback, and open the storage again after close().',
  });
}

function spansBackendsError(
  backends: Record<Component, StorageBackend>,
  first: Component,
  second: Component,
): LlmspellError {
  return new LlmspellError(
    'TRANSACTION_SPANS_BACKENDS',
    `a transaction cannot span two backends: it began on the ${first} components (${backends[first]}) and was then used for the ${second} components (${backends[second]})`,
    {
      hint: 'Use one transaction() per backend, or route both components to the same backend ([storage.memory] / [storage.state] backend). A transaction over two databases would not be atomic.',
    },
  );
}
