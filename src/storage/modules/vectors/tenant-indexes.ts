/**
 * Partial HNSW indexes of large tenants: a graph of the tenant's own rows (`WHERE tenant_id =
 * '…'`), which its searches walk instead of the shared one, so that an iterative scan does not
 * wade through other tenants' rows. Maintenance (as the owner, outside any transaction) gives one
 * to each tenant with at least `tenant_index_min_rows` embeddings of one length, the largest
 * first and at most `max_tenant_indexes` over the four tables (every index is a lock a query of
 * the table takes while it plans: thousands of them exhaust the lock table), and drops one when
 * its tenant falls under half the threshold, leaves, or loses its place to a larger tenant.
 * The planner picks a tenant's index only because every statement says `tenant_id = $tenant`.
 *
 * Indexes are built and dropped `CONCURRENTLY`: writers go on meanwhile. A build that was
 * interrupted leaves an invalid index behind, which the next run drops and builds again. Each
 * index carries its tenant id as its comment; its name is derived from the tenant id.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Settings } from '../../../config/schema.js';
import type { Queryable } from '../../../db/types.js';
import { indexedColumn } from './sql.js';
import { VECTOR_DIMENSIONS, type VectorDimension } from './types.js';

/** The names of tenant indexes (not the shared `vector_embeddings_384_tenant_scope` btree), as a POSIX regex. */
export const TENANT_INDEX_PATTERN = '^vector_embeddings_[0-9]+_tenant_[0-9a-f]{24}$';

/** The name of `tenant`'s partial index on the `dims` table (in schema `llmspell`). */
export function tenantIndexName(dims: VectorDimension, tenant: string): string {
  const digest = createHash('sha256').update(tenant).digest('hex').slice(0, 24);
  return `vector_embeddings_${dims}_tenant_${digest}`;
}

/** One partial index maintenance made or dropped. */
export interface TenantIndexChange {
  action: 'created' | 'dropped';
  /** `vector_embeddings_384` … */
  table: string;
  index: string;
  tenant: string;
  /** The tenant's rows in the table when maintenance looked. */
  rows: number;
  /** Why it was dropped: the tenant shrank under half the threshold, or larger tenants took the places, or a build had failed. */
  reason?: 'shrank' | 'cap' | 'invalid';
}

/** What vector-index maintenance did. */
export interface TenantIndexMaintenance {
  status: 'done';
  changes: TenantIndexChange[];
  /** Valid partial indexes after the run. */
  indexes: number;
}

interface Candidate {
  dims: VectorDimension;
  tenant: string;
  rows: number;
  /** An index whose tenant could not be told (neither comment nor predicate): dropped. */
  unknown?: boolean;
  existing?: { index: string; valid: boolean };
}

/** The tenant of a predicate as maintenance writes it (`(tenant_id = 'acme'::text)`), or `null`. */
function tenantOfPredicate(predicate: string): string | null {
  const match = /^\(tenant_id = '((?:[^']|'')*)'::text\)$/.exec(predicate);
  return match ? match[1]!.replaceAll("''", "'") : null;
}

/** Whether the vector track's tables exist. */
export async function hasVectorTables(client: Queryable): Promise<boolean> {
  const { rows } = await client.query<{ present: boolean }>(
    "SELECT to_regclass('llmspell.vector_embeddings_384') IS NOT NULL AS present",
  );
  return rows[0]?.present === true;
}

/** How many valid per-tenant partial vector indexes exist (for health-check). */
export async function countTenantIndexes(client: Queryable): Promise<number> {
  const { rows } = await client.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'llmspell' AND c.relname ~ '${TENANT_INDEX_PATTERN}' AND i.indisvalid`,
  );
  return rows[0]?.count ?? 0;
}

/**
 * Brings the partial indexes in line with the tenants' sizes (see the module comment). `client`
 * must not be in a transaction (`CREATE INDEX CONCURRENTLY` cannot run in one). With `dryRun`,
 * reports what it would do and changes nothing.
 */
export async function maintainTenantIndexes(
  client: Queryable,
  settings: Settings,
  options: { dryRun?: boolean } = {},
): Promise<TenantIndexMaintenance> {
  const config = settings.storage.postgres.vector_embeddings;
  const keepFrom = Math.max(1, Math.ceil(config.tenant_index_min_rows / 2));
  const run = async (text: string) => {
    if (options.dryRun !== true) await client.query(text);
  };
  const candidates: Candidate[] = [];
  const existingAll: Candidate[] = [];
  for (const dims of VECTOR_DIMENSIONS) {
    const table = `llmspell.vector_embeddings_${dims}`;
    const kind = await client.query<{ amname: string }>(
      `SELECT am.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
        WHERE i.indrelid = to_regclass($1) AND i.indpred IS NULL AND am.amname IN ('hnsw', 'vchordrq')`,
      [table],
    );
    const { rows: found } = await client.query<{
      index: string;
      valid: boolean;
      comment: string | null;
      predicate: string;
    }>(
      `SELECT c.relname AS index, i.indisvalid AS valid, obj_description(c.oid, 'pg_class') AS comment,
              pg_get_expr(i.indpred, i.indrelid) AS predicate
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = to_regclass($1) AND i.indpred IS NOT NULL AND c.relname ~ $2`,
      [table, `^vector_embeddings_${dims}_tenant_[0-9a-f]{24}$`],
    );
    // The tenant of an index is its comment, or (a run stopped before COMMENT) its predicate.
    const existing = found.map((e) => ({ ...e, tenant: e.comment ?? tenantOfPredicate(e.predicate) }));
    for (const e of existing) {
      if (e.valid && e.comment === null && e.tenant !== null && tenantIndexName(dims, e.tenant) === e.index) {
        await run(`COMMENT ON INDEX llmspell.${pg.escapeIdentifier(e.index)} IS ${pg.escapeLiteral(e.tenant)}`);
      }
    }
    const { rows: sizes } = await client.query<{ tenant: string; rows: number }>(
      `SELECT tenant_id AS tenant, count(*)::int AS rows FROM ${table}
        GROUP BY tenant_id HAVING count(*) >= $1 OR tenant_id = ANY ($2::text[])`,
      [keepFrom, existing.flatMap((e) => (e.tenant === null ? [] : [e.tenant]))],
    );
    const size = new Map(sizes.map((row) => [row.tenant, row.rows]));
    const byTenant = new Map(existing.flatMap((e) => (e.tenant === null ? [] : [[e.tenant, e] as const])));
    for (const e of existing) {
      existingAll.push({
        dims,
        tenant: e.tenant ?? '',
        rows: e.tenant === null ? 0 : (size.get(e.tenant) ?? 0),
        unknown: e.tenant === null,
        existing: { index: e.index, valid: e.valid },
      });
    }
    // Only where the shared index is HNSW (VectorChord's lists-based index needs no per-tenant graph).
    if (kind.rows[0]?.amname !== 'hnsw') continue;
    for (const { tenant, rows } of sizes) {
      const has = byTenant.get(tenant);
      if (rows >= config.tenant_index_min_rows || (has?.valid === true && rows >= keepFrom)) {
        candidates.push({
          dims,
          tenant,
          rows,
          ...(has ? { existing: { index: has.index, valid: has.valid } } : {}),
        });
      }
    }
  }
  candidates.sort((a, b) => b.rows - a.rows || a.dims - b.dims || (a.tenant < b.tenant ? -1 : 1));
  const wanted = candidates.slice(0, config.max_tenant_indexes);
  const wantedKey = new Set(wanted.map((c) => `${c.dims}/${c.tenant}`));
  const changes: TenantIndexChange[] = [];

  for (const e of existingAll) {
    const keep = e.existing!.valid && wantedKey.has(`${e.dims}/${e.tenant}`);
    if (keep) continue;
    await run(`DROP INDEX CONCURRENTLY IF EXISTS llmspell.${pg.escapeIdentifier(e.existing!.index)}`);
    changes.push({
      action: 'dropped',
      table: `vector_embeddings_${e.dims}`,
      index: e.existing!.index,
      tenant: e.tenant,
      rows: e.rows,
      reason: !e.existing!.valid || e.unknown === true ? 'invalid' : e.rows < keepFrom ? 'shrank' : 'cap',
    });
  }
  const { hnsw_m: m, hnsw_ef_construction: ef } = config;
  for (const c of wanted) {
    if (c.existing?.valid === true) continue;
    const index = tenantIndexName(c.dims, c.tenant);
    // Index predicates take no parameters: the tenant id is a literal, escaped (DESIGN.md §4's one exception).
    await run(
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${pg.escapeIdentifier(index)} ON llmspell.vector_embeddings_${c.dims}
         USING hnsw (${indexedColumn(c.dims)}) WITH (m = ${m}, ef_construction = ${ef})
         WHERE tenant_id = ${pg.escapeLiteral(c.tenant)}`,
    );
    await run(`COMMENT ON INDEX llmspell.${pg.escapeIdentifier(index)} IS ${pg.escapeLiteral(c.tenant)}`);
    changes.push({ action: 'created', table: `vector_embeddings_${c.dims}`, index, tenant: c.tenant, rows: c.rows });
  }
  const indexes = options.dryRun === true ? wanted.length : await countTenantIndexes(client);
  return { status: 'done', changes, indexes };
}
