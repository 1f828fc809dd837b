/**
 * Forgetting a tenant: every row of one tenant, in every module, on every backend it lives on,
 * deleted as the schema owner (the application role may not delete from append-only and history
 * tables) in bounded batches, each batch a short transaction of its own. Idempotent and resumable:
 * a marker row (`llmspell.tenant_erasures`, migration 0012) stands from the first batch to the
 * last on each backend; while it stands every write of the tenant is refused (`TENANT_ERASING`),
 * in every process, and a run stopped halfway leaves it, so that a second run finishes the job
 * and its receipt adds up both runs' rows.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { StorageBackend } from '../../config/schema.js';
import { DatabaseError } from '../../db/errors.js';
import { TENANT_SETTING } from '../../db/tenant.js';
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

/** One backend's part: its owner connection and the modules whose rows it holds. */
export interface ErasureTarget {
  backend: StorageBackend;
  /** Runs `fn` with a database of the schema owner on that backend. */
  withOwner<T>(fn: (owner: Database) => Promise<T>): Promise<T>;
  modules: readonly Pick<StorageModule, 'id' | 'owner'>[];
}

/** How many times the tables are gone over for rows that a write in flight when the erasure began added. */
const MAX_PASSES = 3;

/** `sha256:<hex>` of `tenant`: what a receipt names it by. */
export function tenantHash(tenant: string): string {
  return `sha256:${createHash('sha256').update(tenant, 'utf8').digest('hex')}`;
}

/**
 * Forgets `tenant` (already validated) on every target: marks it on each (refusing its writes
 * everywhere before anything is deleted), deletes each module's tables in their declared order
 * in batches, and unmarks it once every table is empty.
 */
export async function forgetTenant(
  targets: readonly ErasureTarget[],
  tenant: string,
  options: ForgetTenantOptions,
): Promise<ErasureReceipt> {
  const { requestId, dryRun = false, batchRows = 1000 } = options;
  const now = new Date();
  if (dryRun) {
    const tables = [];
    for (const target of targets) {
      tables.push(...(await target.withOwner((owner) => countRows(owner, target, tenant))));
    }
    return { requestId, tenantHash: tenantHash(tenant), startedAt: now, finishedAt: new Date(), dryRun, tables };
  }
  const started: Date[] = [];
  for (const target of targets) {
    started.push(await asOwner(target, (owner) => mark(owner, tenant, requestId)));
  }
  const tables: ErasedTable[] = [];
  for (const target of targets) {
    tables.push(...(await asOwner(target, (owner) => erase(owner, target, tenant, batchRows))));
  }
  return {
    requestId,
    tenantHash: tenantHash(tenant),
    startedAt: new Date(Math.min(...started.map((date) => date.getTime()))),
    finishedAt: new Date(),
    dryRun,
    tables,
  };
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

/** Runs `fn` in a transaction of the owner with the tenant set for the row-level policies (FORCE applies to the owner). */
function asOwnerOf<T>(owner: Database, tenant: string, fn: (client: Queryable) => Promise<T>): Promise<T> {
  return owner.withTransaction(async (client) => {
    await client.query(`SET LOCAL ${TENANT_SETTING} = ${pg.escapeLiteral(tenant)}`);
    return fn(client);
  });
}

/** Sets the marker (or finds the one a stopped run left); returns when the erasure started. */
async function mark(owner: Database, tenant: string, requestId: string): Promise<Date> {
  return asOwnerOf(owner, tenant, async (client) => {
    await missingMarkerTable(client);
    await client.query(
      `INSERT INTO llmspell.tenant_erasures (tenant_id, request_id) VALUES ($1, $2) ON CONFLICT (tenant_id) DO NOTHING`,
      [tenant, requestId],
    );
    const { rows } = await client.query<{ request_id: string; started_at: Date }>(
      `SELECT request_id, started_at FROM llmspell.tenant_erasures WHERE tenant_id = $1`,
      [tenant],
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

/** Deletes every row of `tenant` in the target's modules, then removes the marker; returns what each table lost over every run. */
async function erase(
  owner: Database,
  target: ErasureTarget,
  tenant: string,
  batchRows: number,
): Promise<ErasedTable[]> {
  const tables = await presentTables(owner, target);
  for (let pass = 1; ; pass++) {
    for (const { module, table } of tables) {
      const where = `tenant_id = $1`;
      const key = table.key.join(', ');
      const remove = `DELETE FROM llmspell.${table.name} WHERE ${where} AND (${key}) IN (SELECT ${key} FROM llmspell.${table.name} WHERE ${where} LIMIT $2)`;
      for (let removed = batchRows; removed === batchRows;) {
        removed = await asOwnerOf(owner, tenant, async (client) => {
          const { rowCount } = await client.query(remove, [tenant, batchRows]);
          const count = rowCount ?? 0;
          if (count > 0) {
            // Counted in the batch's own transaction: the receipt never misses a committed batch.
            await client.query(
              `UPDATE llmspell.tenant_erasures
                  SET removed = jsonb_set(removed, ARRAY[$2], to_jsonb(COALESCE((removed ->> $2)::bigint, 0) + $3))
                WHERE tenant_id = $1`,
              [tenant, `${module}.${table.name}`, count],
            );
          }
          return count;
        });
      }
    }
    // A write that passed its check before the marker was committed may have landed behind a batch.
    const left = (await countRows(owner, target, tenant)).filter((t) => t.rows > 0);
    if (left.length === 0) break;
    if (pass >= MAX_PASSES) {
      throw conflict(
        'forgetTenant',
        `rows of the tenant kept appearing in ${left.map((t) => t.table).join(', ')} after ${pass} passes`,
        { retryable: true },
      );
    }
  }
  return asOwnerOf(owner, tenant, async (client) => {
    const { rows } = await client.query<{ removed: Record<string, number> }>(
      `DELETE FROM llmspell.tenant_erasures WHERE tenant_id = $1 RETURNING removed`,
      [tenant],
    );
    const removed = rows[0]?.removed ?? {};
    return tables.map(({ module, table }) => ({
      module,
      backend: target.backend,
      table: table.name,
      rows: Number(removed[`${module}.${table.name}`] ?? 0),
    }));
  });
}

/** How many rows of `tenant` each of the target's tables holds. */
async function countRows(owner: Database, target: ErasureTarget, tenant: string): Promise<ErasedTable[]> {
  const tables = await presentTables(owner, target);
  return asOwnerOf(owner, tenant, async (client) => {
    const counted: ErasedTable[] = [];
    for (const { module, table } of tables) {
      const { rows } = await client.query<{ rows: string }>(
        `SELECT count(*) AS rows FROM llmspell.${table.name} WHERE tenant_id = $1`,
        [tenant],
      );
      counted.push({ module, backend: target.backend, table: table.name, rows: Number(rows[0]!.rows) });
    }
    return counted;
  });
}

/** The target's tables, in order, that the database has (a track that did not run has none). */
async function presentTables(
  owner: Database,
  target: ErasureTarget,
): Promise<{ module: string; table: TenantTable }[]> {
  const declared = target.modules.flatMap((module) =>
    (module.owner?.tables ?? []).map((table) => ({ module: module.id, table })),
  );
  const { rows } = await owner.query<{ present: string[] }>(
    `SELECT coalesce(array_agg(name), '{}') AS present FROM unnest($1::text[]) AS name
      WHERE to_regclass('llmspell.' || quote_ident(name)) IS NOT NULL`,
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
