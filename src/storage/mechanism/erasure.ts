/**
 * Forgetting a tenant: every row of one tenant, in every module, on every backend, deleted as the
 * schema owner (the application role may not delete from append-only and history tables) in
 * bounded batches, each batch a short transaction of its own. Idempotent and resumable:
 *
 * 1. refuse the tenant's writes: on a server, the tenant's erasure lock held exclusively on the
 *    owner's connection from start to end (taking it waits for the writes in flight; every later
 *    row the tenant writes fails its table's `_tenant_writable` CHECK, a shared try-lock, with
 *    `TENANT_ERASING`, in every process); on PGlite, one process's session, the storage refuses
 *    them itself (`refuseWrites`);
 * 2. mark: a row of `llmspell.tenant_erasures` (migration 0012) per backend, with the request and
 *    the run's token; a run stopped halfway leaves it, and only a second run of the same request
 *    takes the erasure over, adding to the counts already recorded;
 * 3. erase: each module's tables in their declared order, a keyset batch at a time, each batch
 *    counted in its own transaction;
 * 4. verify every table empty (a few passes), then unmark every backend and return the receipt.
 */
import { createHash, randomUUID } from 'node:crypto';
import pg from 'pg';
import type { StorageBackend } from '../../config/schema.js';
import { DatabaseError } from '../../db/errors.js';
import { ERASURE_LOCK, TENANT_SETTING } from '../../db/tenant.js';
import type { Database, Queryable } from '../../db/types.js';
import { LlmspellError } from '../../errors.js';
import { conflict } from './errors.js';
import type { StorageModule, TenantTable } from './module.js';

/** Options of `storage.forgetTenant`. */
export interface ForgetTenantOptions {
  /** Who asked, for the receipt (a ticket, a request id): 1 to 255 characters. */
  requestId: string;
  /** Count what would be removed; remove nothing, refuse no write. */
  dryRun?: boolean;
  /** Rows per batch (one short transaction each). @default 1000 */
  batchRows?: number;
}

/** What was removed of one table. */
export interface ErasedTable {
  module: string;
  backend: StorageBackend;
  table: string;
  /** Rows removed (with `dryRun`: that would be removed), over every run of this request. */
  rows: number;
}

/** The receipt of a forgotten tenant: never the tenant id itself. */
export interface ErasureReceipt {
  requestId: string;
  /** `sha256:` and the hex SHA-256 of the tenant id (UTF-8). */
  tenantHash: string;
  /** When the first run of this request started (on the first backend). */
  startedAt: Date;
  finishedAt: Date;
  dryRun: boolean;
  tables: ErasedTable[];
}

/** One backend: its owner connection and the modules whose tables it has. */
export interface ErasureTarget {
  backend: StorageBackend;
  /** Runs `fn` with a database of the schema owner on that backend (its own connection on a server). */
  withOwner<T>(fn: (owner: Database) => Promise<T>): Promise<T>;
  modules: readonly Pick<StorageModule, 'id' | 'owner'>[];
}

/** How many times the tables are gone over before the erasure gives up on rows that keep appearing. */
const MAX_PASSES = 3;

/** `sha256:<hex>` of `tenant`: what a receipt names it by. */
export function tenantHash(tenant: string): string {
  return `sha256:${createHash('sha256').update(tenant, 'utf8').digest('hex')}`;
}

/** Runs `fn` in a transaction of the owner with the tenant set for the row-level policies (FORCE applies to the owner). */
type OwnerTransaction = <T>(fn: (client: Queryable) => Promise<T>) => Promise<T>;

/** An owner session on one target: its transactions, for the time the erasure holds it. */
interface Session {
  target: ErasureTarget;
  transaction: OwnerTransaction;
  /** Plain statements outside a transaction (catalog look-ups). */
  query: Queryable['query'];
}

/**
 * Forgets `tenant` (already validated) on every target: see the steps at the top of this file.
 * `refuseWrites` is called with `true` before anything is done and `false` at the end, however it ends.
 */
export async function forgetTenant(
  targets: readonly ErasureTarget[],
  tenant: string,
  options: ForgetTenantOptions,
  refuseWrites: (on: boolean) => void = () => undefined,
): Promise<ErasureReceipt> {
  const { requestId, dryRun = false, batchRows = 1000 } = options;
  const receipt = (startedAt: Date, tables: ErasedTable[]): ErasureReceipt => ({
    requestId,
    tenantHash: tenantHash(tenant),
    startedAt,
    finishedAt: new Date(),
    dryRun,
    tables,
  });
  if (dryRun) {
    const now = new Date();
    return withSessions(targets, tenant, false, async (sessions) => {
      const tables: ErasedTable[] = [];
      for (const session of sessions) tables.push(...(await countRows(session, tenant)));
      return receipt(now, tables);
    });
  }
  refuseWrites(true);
  try {
    return await withSessions(targets, tenant, true, async (sessions) => {
      const token = randomUUID();
      const started: Date[] = [];
      for (const session of sessions) started.push(await mark(session, tenant, requestId, token));
      for (let pass = 1; ; pass++) {
        for (const session of sessions) await erase(session, tenant, token, batchRows);
        // Writes are refused: this is the proof, and a second pass if it fails.
        const left: ErasedTable[] = [];
        for (const session of sessions) left.push(...(await countRows(session, tenant)).filter((t) => t.rows > 0));
        if (left.length === 0) break;
        if (pass >= MAX_PASSES) {
          throw conflict(
            'forgetTenant',
            `rows of the tenant kept appearing in ${left.map((t) => t.table).join(', ')} after ${pass} passes`,
            { retryable: true },
          );
        }
      }
      const tables: ErasedTable[] = [];
      for (const session of sessions) tables.push(...(await unmark(session, tenant, token)));
      return receipt(new Date(Math.min(...started.map((date) => date.getTime()))), tables);
    });
  } finally {
    refuseWrites(false);
  }
}

/**
 * Opens an owner session on every target, in turn, and runs `fn` with them all. On a server the
 * session is one connection held throughout; with `lock`, it holds the tenant's erasure lock
 * exclusively (taking it waits for the tenant's writes in flight). On PGlite each transaction
 * borrows the one session in turn, so that other calls run between batches.
 */
async function withSessions<T>(
  targets: readonly ErasureTarget[],
  tenant: string,
  lock: boolean,
  fn: (sessions: Session[]) => Promise<T>,
  opened: Session[] = [],
): Promise<T> {
  const target = targets[opened.length];
  if (target === undefined) return fn(opened);
  return asOwner(target, async (owner) => {
    if (owner.kind !== 'postgres') {
      const session: Session = {
        target,
        transaction: (work) => owner.withTransaction((client) => withTenantSet(client, tenant, work)),
        query: (text, values) => owner.query(text, values),
      };
      return withSessions(targets, tenant, lock, fn, [...opened, session]);
    }
    if (lock && (await owner.detectPooler())) {
      throw new LlmspellError(
        'POOLER_NOT_SUPPORTED',
        'forgetting a tenant holds a session lock, which a transaction-mode pooler does not keep',
        { hint: 'Set storage.postgres.migration_url to a direct connection to PostgreSQL (not through PgBouncer).' },
      );
    }
    return owner.withClient(async (client) => {
      const session: Session = {
        target,
        transaction: async (work) => {
          await client.query('BEGIN');
          try {
            const result = await withTenantSet(client, tenant, work);
            await client.query('COMMIT');
            return result;
          } catch (error) {
            await client.query('ROLLBACK').catch(() => undefined);
            throw error;
          }
        },
        query: (text, values) => client.query(text, values),
      };
      if (!lock) return withSessions(targets, tenant, lock, fn, [...opened, session]);
      await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [ERASURE_LOCK, tenant]);
      try {
        return await withSessions(targets, tenant, lock, fn, [...opened, session]);
      } finally {
        await client
          .query('SELECT pg_advisory_unlock($1, hashtext($2))', [ERASURE_LOCK, tenant])
          .catch(() => undefined);
      }
    });
  });
}

/** `work` with the tenant set for the row-level policies, in the transaction `client` is in. */
async function withTenantSet<T>(
  client: Queryable,
  tenant: string,
  work: (client: Queryable) => Promise<T>,
): Promise<T> {
  await client.query(`SET LOCAL ${TENANT_SETTING} = ${pg.escapeLiteral(tenant)}`);
  return work(client);
}

/** `target.withOwner`, with a refused privilege said as what it is: the login is not the schema owner. */
async function asOwner<T>(target: ErasureTarget, fn: (owner: Database) => Promise<T>): Promise<T> {
  try {
    return await target.withOwner(fn);
  } catch (error) {
    if (error instanceof DatabaseError && error.sqlstate === '42501') {
      throw new LlmspellError(
        'DB_QUERY_FAILED',
        `forgetting a tenant needs the schema owner, and the login used may not delete its rows: ${error.message}`,
        {
          hint: 'Set storage.postgres.migration_url to the URL of the role that runs `llmspell database migrate` (the owner); the application role may not delete from every table, on purpose.',
          cause: error,
        },
      );
    }
    throw error;
  }
}

/** Sets the mark (or takes over the one a stopped run of the same request left); returns when the erasure started. */
async function mark(session: Session, tenant: string, requestId: string, token: string): Promise<Date> {
  return session.transaction(async (client) => {
    await missingMarkerTable(client);
    await client.query(
      `INSERT INTO llmspell.tenant_erasures (tenant_id, request_id, run_token) VALUES ($1, $2, $3)
       ON CONFLICT (tenant_id) DO NOTHING`,
      [tenant, requestId, token],
    );
    const { rows } = await client.query<{ request_id: string; started_at: Date }>(
      `UPDATE llmspell.tenant_erasures SET run_token = $2 WHERE tenant_id = $1 RETURNING request_id, started_at`,
      [tenant, token],
    );
    const running = rows[0]!;
    if (running.request_id !== requestId) {
      throw conflict(
        'forgetTenant',
        `the tenant is being forgotten already, for request ${JSON.stringify(running.request_id)} (started ${running.started_at.toISOString()})`,
      );
    }
    return running.started_at;
  });
}

/** Deletes every row of `tenant` in the target's tables, a keyset batch at a time, counting each batch under the run's token. */
async function erase(session: Session, tenant: string, token: string, batchRows: number): Promise<void> {
  for (const { module, table } of await presentTables(session)) {
    const key = table.key.join(', ');
    const qualified = `llmspell.${table.name}`;
    // The batch is the next `batchRows` keys after the last batch's, through the primary key (a
    // batch never walks back over the dead rows of the ones before it). A table that refers to
    // itself is deleted in one statement (a batch could delete a row another batch still refers to).
    const remove =
      table.batched === false
        ? `WITH gone AS (DELETE FROM ${qualified} WHERE tenant_id = $1 RETURNING 1)
           SELECT count(*)::int AS removed, NULL::json AS last FROM gone`
        : `WITH batch AS (
             SELECT ${key} FROM ${qualified}
              WHERE tenant_id = $1
                AND ($3::json IS NULL OR (${key}) > (SELECT ${key} FROM json_populate_record(NULL::${qualified}, $3::json)))
              ORDER BY ${key} LIMIT $2),
           gone AS (DELETE FROM ${qualified} WHERE tenant_id = $1 AND (${key}) IN (SELECT ${key} FROM batch) RETURNING 1)
           SELECT (SELECT count(*)::int FROM gone) AS removed,
                  (SELECT row_to_json(b) FROM batch b ORDER BY ${key} DESC LIMIT 1) AS last`;
    let last: unknown = null;
    for (let more = true; more;) {
      more = await session.transaction(async (client) => {
        const { rows } = await client.query<{ removed: number; last: unknown }>(
          remove,
          table.batched === false ? [tenant] : [tenant, batchRows, last === null ? null : JSON.stringify(last)],
        );
        const { removed } = rows[0]!;
        // Counted in the batch's own transaction, and only while this run holds the request.
        const counted = await client.query(
          `UPDATE llmspell.tenant_erasures
              SET removed = jsonb_set(removed, ARRAY[$2], to_jsonb(COALESCE((removed ->> $2)::bigint, 0) + $3))
            WHERE tenant_id = $1 AND run_token = $4`,
          [tenant, `${module}.${table.name}`, removed, token],
        );
        if (counted.rowCount !== 1) throw tookOver();
        last = rows[0]!.last;
        return table.batched !== false && last !== null && removed > 0;
      });
    }
  }
}

/** Removes the mark of this run; returns what each table lost over every run of the request. */
async function unmark(session: Session, tenant: string, token: string): Promise<ErasedTable[]> {
  const tables = await presentTables(session);
  return session.transaction(async (client) => {
    const { rows } = await client.query<{ removed: Record<string, number> }>(
      `DELETE FROM llmspell.tenant_erasures WHERE tenant_id = $1 AND run_token = $2 RETURNING removed`,
      [tenant, token],
    );
    if (rows.length !== 1) throw tookOver();
    const removed = rows[0]!.removed;
    return tables.map(({ module, table }) => ({
      module,
      backend: session.target.backend,
      table: table.name,
      rows: Number(removed[`${module}.${table.name}`] ?? 0),
    }));
  });
}

function tookOver(): LlmspellError {
  return conflict(
    'forgetTenant',
    'another run of the same request took the erasure over; this one stopped (the other one finishes it)',
  );
}

/** How many rows of `tenant` each of the target's tables holds. */
async function countRows(session: Session, tenant: string): Promise<ErasedTable[]> {
  const tables = await presentTables(session);
  return session.transaction(async (client) => {
    const counted: ErasedTable[] = [];
    for (const { module, table } of tables) {
      const { rows } = await client.query<{ rows: string }>(
        `SELECT count(*) AS rows FROM llmspell.${table.name} WHERE tenant_id = $1`,
        [tenant],
      );
      counted.push({ module, backend: session.target.backend, table: table.name, rows: Number(rows[0]!.rows) });
    }
    return counted;
  });
}

/** The target's tables, in order, that the database has (a track that did not run has none). */
async function presentTables(session: Session): Promise<{ module: string; table: TenantTable }[]> {
  const declared = session.target.modules.flatMap((module) =>
    (module.owner?.tables ?? []).map((table) => ({ module: module.id, table })),
  );
  const { rows } = await session.query<{ present: string[] }>(
    `SELECT coalesce(array_agg(name), '{}') AS present FROM unnest($1::text[]) AS name
      WHERE to_regclass('llmspell.' || name) IS NOT NULL`,
    [declared.map(({ table }) => table.name)],
  );
  const present = new Set(rows[0]!.present);
  return declared.filter(({ table }) => present.has(table.name));
}

/** `MIGRATION_PENDING` when the schema predates migration 0012 (no marker table). */
async function missingMarkerTable(client: Queryable): Promise<void> {
  const { rows } = await client.query<{ present: boolean }>(
    `SELECT to_regclass('llmspell.tenant_erasures') IS NOT NULL AS present`,
  );
  if (rows[0]?.present !== true) {
    throw new LlmspellError('MIGRATION_PENDING', 'forgetting a tenant needs migration 0012_tenant_erasures', {
      hint: 'Run `llmspell database migrate`.',
    });
  }
}
