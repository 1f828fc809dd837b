/**
 * The statements of vector embeddings, over `llmspell.vector_embeddings_{384,768,1536,3072}`
 * (migration `vector/0001`). The table is an identifier, so there is a set of statements per
 * dimension, made from the fixed list {@link VECTOR_DIMENSIONS} when the module loads; calls that
 * span the tables (`get`, `delete`, `count`) are one statement over all four.
 *
 * Every search statement selects its candidates with the same predicate ({@link MATCHES}):
 * the tenant, the scope when given, and the metadata filter (see `metadata-filter.ts`).
 */
import * as z from 'zod/mini';
import { integer, jsonObject, oneOf, text, uuid } from '../../values/fields.js';
import { derivedSetting, statement } from '../../mechanism/statement.js';
import {
  firstPassHit,
  hitRow,
  MAX_K,
  MAX_SCOPE_BYTES,
  statsRow,
  storedRow,
  VECTOR_DIMENSIONS,
  type VectorDimension,
} from './types.js';

const table = (dims: VectorDimension) => `llmspell.vector_embeddings_${dims}`;

/**
 * What the approximate indexes of a table index (HNSW and vchordrq alike): pgvector's HNSW takes at
 * most 2000 dimensions, so 3072 is indexed as `halfvec(3072)` (and searched by the same expression).
 */
export const indexedColumn = (dims: VectorDimension) =>
  dims > 2000 ? `(embedding::halfvec(${dims})) halfvec_cosine_ops` : 'embedding vector_cosine_ops';

/** The distance the approximate index orders by: see {@link indexedColumn}. */
const indexedDistance = (dims: VectorDimension) =>
  dims > 2000 ? `embedding::halfvec(${dims}) <=> $vector::halfvec(${dims})` : `embedding <=> $vector::vector(${dims})`;

/** The candidates of a search, count or bulk delete: the tenant's rows in the scope that pass the filter. */
const MATCHES = `tenant_id = $tenant AND ($scope::text IS NULL OR scope = $scope)
           AND ($filter::jsonpath IS NULL OR jsonb_path_match(metadata, $filter::jsonpath, $filterVars::jsonb, true))`;

/** The parameters of {@link MATCHES}; `filter` and `filterVars` are what `compileFilter` made. */
const selection = {
  scope: z.optional(text(MAX_SCOPE_BYTES)),
  filter: z.optional(z.string()),
  filterVars: z.optional(z.string()),
};

/** An array of texts (vectors in pgvector's form, JSON documents), one per entry of a batch. */
const texts = () => z.array(z.string());

/**
 * The settings of an index search of `dims`, set for its transaction right before it: pgvector's
 * HNSW ones, and VectorChord's — `vchordrq.probes` worked out by the server from the lists of the
 * table's index (`$value` percent of them; see migration `vector/0002`), and `vchordrq.prefilter`,
 * which checks the tenant and the filter before computing a candidate's distance.
 */
const searchSettings = (dims: VectorDimension) => ({
  'hnsw.ef_search': integer(1, 1000),
  'hnsw.iterative_scan': oneOf(['relaxed_order', 'strict_order'] as const),
  'hnsw.max_scan_tuples': integer(1, 2 ** 31 - 1),
  'vchordrq.probes': derivedSetting(
    integer(1, 100),
    `llmspell.vchordrq_probes('${table(dims)}'::regclass, $value::float8)`,
  ),
  'vchordrq.prefilter': oneOf(['on'] as const),
  // The route is chosen by the library, not by the planner's guess of the tenant's size: with
  // sorting disabled the planner takes the ordered index scan (a per-tenant partial one when there is).
  enable_sort: oneOf(['off'] as const),
});

const searchParams = {
  ...selection,
  vector: z.string(),
  k: integer(1, MAX_K),
  withVectors: z.boolean(),
};

function forDimension(dims: VectorDimension) {
  const t = table(dims);
  const others = VECTOR_DIMENSIONS.filter((other) => other !== dims);
  return {
    /**
     * Writes a batch, arrays through `unnest`: one statement for hundreds of rows. An id given
     * again replaces its row, and leaves any other table it was in (`$moved`: the batch's ids
     * that the caller chose), so an id always names one embedding.
     */
    upsert: statement({
      name: `vectors.upsert.${dims}`,
      sql: `WITH ${others
        .map(
          (other) =>
            `gone_${other} AS (DELETE FROM ${table(other)} WHERE tenant_id = $tenant AND id = ANY ($moved::uuid[]))`,
        )
        .join(',\n             ')}
        INSERT INTO ${t} AS v (tenant_id, id, scope, embedding, metadata, updated_at)
        SELECT $tenant, e.id, e.scope, e.embedding, e.metadata, now()
          FROM unnest($ids::uuid[], $scopes::text[], $vectors::vector(${dims})[], $metadata::jsonb[]) AS e(id, scope, embedding, metadata)
        ON CONFLICT (tenant_id, id) DO UPDATE
          SET scope = excluded.scope, embedding = excluded.embedding, metadata = excluded.metadata, updated_at = excluded.updated_at`,
      params: { ids: z.array(uuid()), moved: z.array(uuid()), scopes: texts(), vectors: texts(), metadata: texts() },
      // A vector's length bounds its size (it is no document); metadata and scopes are held to the limit.
      unlimited: ['vectors'],
    }),

    /**
     * The routing decision and the exact answer for a small tenant, in one statement: the
     * tenant's rows (in the scope) counted, no further than `$cap`; when there are fewer, every
     * candidate scored (as {@link exact}) and the best `k` kept, else no scan at all (the count
     * gates it). One row at least (hit columns null when there is no hit), for the count.
     */
    firstPass: statement({
      name: `vectors.search.${dims}`,
      sql: `WITH counted AS (
                   SELECT count(*)::int AS "tenantRows"
                     FROM (SELECT 1 FROM ${t}
                            WHERE tenant_id = $tenant AND ($scope::text IS NULL OR scope = $scope)
                            LIMIT $cap) capped)
            SELECT counted."tenantRows", best.id, best.scope, best.distance, best.metadata, best.created_at AS "createdAt",
                   CASE WHEN $withVectors THEN best.embedding::text END AS vector
              FROM counted LEFT JOIN LATERAL (
                   SELECT id, scope, distance, metadata, created_at, embedding
                     FROM (SELECT id, scope, embedding <=> $vector::vector(${dims}) AS distance, metadata, created_at, embedding
                             FROM ${t}
                            WHERE ${MATCHES} AND counted."tenantRows" < $cap
                           OFFSET 0) scored
                    ORDER BY distance, id
                    LIMIT $k) best ON true
             ORDER BY best.distance, best.id`,
      params: { ...searchParams, cap: integer(1, 2 ** 31) },
      unlimited: ['vector'],
      row: { tenantRows: z.number(), ...firstPassHit },
    }),

    /**
     * Every candidate scored, the best `k` kept. `OFFSET 0` keeps the scored subquery apart, so
     * no approximate index can stand in for the sort; vectors are read for the `k` kept only.
     */
    exact: statement({
      name: `vectors.search.${dims}`,
      sql: `SELECT id, scope, distance, metadata, created_at AS "createdAt",
                   CASE WHEN $withVectors THEN embedding::text END AS vector
              FROM (SELECT id, scope, distance, metadata, created_at, embedding
                      FROM (SELECT id, scope, embedding <=> $vector::vector(${dims}) AS distance, metadata, created_at, embedding
                              FROM ${t}
                             WHERE ${MATCHES}
                            OFFSET 0) scored
                     ORDER BY distance, id
                     LIMIT $k) best
             ORDER BY distance, id`,
      params: searchParams,
      unlimited: ['vector'],
      row: hitRow,
    }),

    /** The approximate index, walked until `k` candidates pass (an iterative scan: see the settings). */
    index: statement({
      name: `vectors.search.${dims}`,
      sql: `SELECT id, scope, embedding <=> $vector::vector(${dims}) AS distance, metadata, created_at AS "createdAt",
                   CASE WHEN $withVectors THEN embedding::text END AS vector
              FROM ${t}
             WHERE ${MATCHES}
             ORDER BY ${indexedDistance(dims)}
             LIMIT $k`,
      params: searchParams,
      unlimited: ['vector'],
      row: hitRow,
      settings: searchSettings(dims),
    }),
  };
}

/** The statements of each table. */
export const byDimension = Object.fromEntries(VECTOR_DIMENSIONS.map((dims) => [dims, forDimension(dims)])) as Record<
  VectorDimension,
  ReturnType<typeof forDimension>
>;

/** `parts` of every table, joined: `each(dims)` is one table's part. */
const overTables = (each: (dims: VectorDimension) => string, joiner: string) =>
  VECTOR_DIMENSIONS.map(each).join(joiner);

export const get = statement({
  name: 'vectors.get',
  sql: overTables(
    (dims) => `SELECT id, scope, ${dims} AS dimensions, embedding::text AS vector, metadata,
                      created_at AS "createdAt", updated_at AS "updatedAt"
                 FROM ${table(dims)} WHERE tenant_id = $tenant AND id = ANY ($ids::uuid[])`,
    '\n UNION ALL\n',
  ),
  params: { ids: z.array(uuid()) },
  row: storedRow,
});

/**
 * A top-level merge into the metadata, by the server in one statement (concurrent patches of
 * different keys all survive); a key whose value is `null` is removed. Returns the row (no vector).
 */
export const updateMetadata = statement({
  name: 'vectors.updateMetadata',
  sql: `WITH ${overTables(
    (dims) => `patched_${dims} AS (
              UPDATE ${table(dims)}
                 SET metadata = (metadata || $patch::jsonb)
                                - ARRAY(SELECT key FROM jsonb_each($patch::jsonb) WHERE value = 'null'::jsonb),
                     updated_at = now()
               WHERE tenant_id = $tenant AND id = $id
              RETURNING id, scope, ${dims} AS dimensions, metadata, created_at AS "createdAt", updated_at AS "updatedAt")`,
    ',\n       ',
  )}
        ${overTables((dims) => `SELECT * FROM patched_${dims}`, ' UNION ALL ')}`,
  params: { id: uuid(), patch: jsonObject() },
  row: { ...storedRow, vector: z.optional(z.never()) },
});

export const remove = statement({
  name: 'vectors.delete',
  sql: `WITH ${overTables(
    (dims) =>
      `gone_${dims} AS (DELETE FROM ${table(dims)} WHERE tenant_id = $tenant AND id = ANY ($ids::uuid[]) RETURNING 1)`,
    ',\n       ',
  )}
        SELECT (${overTables((dims) => `(SELECT count(*) FROM gone_${dims})`, ' + ')})::int AS deleted`,
  params: { ids: z.array(uuid()) },
  row: { deleted: z.number() },
});

export const removeWhere = statement({
  name: 'vectors.deleteWhere',
  sql: `WITH ${overTables(
    (dims) => `gone_${dims} AS (DELETE FROM ${table(dims)} WHERE ${MATCHES} RETURNING 1)`,
    ',\n       ',
  )}
        SELECT (${overTables((dims) => `(SELECT count(*) FROM gone_${dims})`, ' + ')})::int AS deleted`,
  params: selection,
  row: { deleted: z.number() },
});

export const count = statement({
  name: 'vectors.count',
  sql: `SELECT (${overTables((dims) => `(SELECT count(*) FROM ${table(dims)} WHERE ${MATCHES})`, '\n + ')})::bigint AS count`,
  params: selection,
  row: { count: z.number() },
});

/**
 * The tenant's rows per table, the table's approximate index (from the catalog: a shared index,
 * not a partial one), and whether the tenant has a valid partial index of its own (`$index384` …:
 * its name, which maintenance derives from the tenant id).
 */
export const stats = statement({
  name: 'vectors.stats',
  sql: overTables(
    (dims) => `SELECT ${dims} AS dimensions,
                      (SELECT count(*) FROM ${table(dims)} WHERE tenant_id = $tenant) AS rows,
                      COALESCE((SELECT am.amname::text FROM pg_index i
                                  JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
                                 WHERE i.indrelid = '${table(dims)}'::regclass AND i.indpred IS NULL
                                   AND am.amname IN ('hnsw', 'vchordrq') LIMIT 1), 'none') AS index,
                      EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass($index${dims}) AND indisvalid) AS "tenantIndex"`,
    '\n UNION ALL\n',
  ),
  params: Object.fromEntries(VECTOR_DIMENSIONS.map((dims) => [`index${dims}`, z.string()])) as Record<
    `index${VectorDimension}`,
    z.ZodMiniString
  >,
  row: statsRow,
});
