/**
 * The shape of VectorChord's index as its table grows. A `vchordrq` index divides the vectors
 * into lists (k-means cells) when it is built, and a search probes a share of them; the lists are
 * a build parameter, and the right number follows the table's size. The migration builds each
 * index on an empty table, with no lists (one cell: every search reads the whole index).
 * Maintenance (as the owner, outside any transaction) rebuilds `vector_embeddings_<dims>_embedding`
 * with the lists VectorChord's guide gives for the table's rows ({@link vchordrqLists}) once they
 * are off by a factor of two, and indexes the 3072 table through the `halfvec(3072)` expression
 * its searches order by (the migration indexed the column there).
 *
 * A rebuild builds `…_embedding_next` `CONCURRENTLY` (writers go on), drops the old one
 * `CONCURRENTLY` and renames the build; a run that stops in between leaves the next one to drop
 * an invalid build or finish the swap. Between the build and the swap, VectorChord cannot plan a
 * search when the two indexes have different levels of lists; the search then answers exactly
 * (see `store.ts`). Only on VectorChord: on pgvector there is no `vchordrq` index, and nothing here runs.
 */
import pg from 'pg';
import type { Queryable } from '../../../db/types.js';
import { LOCK_NOT_AVAILABLE } from '../../../migrate/lock.js';
import { indexedColumn } from './sql.js';
import { VECTOR_DIMENSIONS } from './types.js';

/** The rows from which the index is divided into lists (VectorChord: none under 10^5 vectors). */
export const VCHORDRQ_LISTS_FROM = 100_000;

/**
 * The lists VectorChord's guide gives a table of `rows` vectors: none under 10^5; rows / 500 up to
 * 2·10^6; 4√rows up to 5·10^7; 8√rows beyond (at most 2^24, its limit).
 */
export function vchordrqLists(rows: number): number[] {
  if (!(rows >= VCHORDRQ_LISTS_FROM)) return [];
  const lists = rows < 2e6 ? rows / 500 : rows < 5e7 ? 4 * Math.sqrt(rows) : 8 * Math.sqrt(rows);
  return [Math.min(2 ** 24, Math.ceil(lists))];
}

/**
 * The lists to rebuild an index with `current` lists for `rows`, or `undefined` to keep it: within
 * a factor of two of the guide's number, or divided down to none only under half of
 * {@link VCHORDRQ_LISTS_FROM} (no rebuild back and forth around the threshold). An index whose
 * lists cannot be told (an external build, `null`) or that has several levels was built by hand,
 * and is kept.
 */
export function nextVchordrqLists(rows: number, current: readonly number[] | null): number[] | undefined {
  if (current === null || current.length > 1) return undefined;
  const wanted = vchordrqLists(rows);
  if (current.length === 0) return wanted.length === 0 ? undefined : wanted;
  if (rows < VCHORDRQ_LISTS_FROM / 2) return [];
  if (wanted.length === 0) return undefined;
  const [have] = current as [number];
  const [want] = wanted as [number];
  return want >= 2 * have || 2 * want <= have ? wanted : undefined;
}

/** The options of an index with these lists (cosine embeddings: spherical centroids, no residual quantization). */
export function vchordrqOptions(lists: readonly number[]): string {
  return [
    'residual_quantization = false',
    '[build.internal]',
    `lists = [${lists.join(', ')}]`,
    'spherical_centroids = true',
  ].join('\n');
}

/** One rebuild of a table's vchordrq index. */
export interface VchordrqRebuild {
  table: string;
  index: string;
  /** The table's rows (the planner's estimate once it has one) when maintenance looked. */
  rows: number;
  /** The lists before (`null`: unknown, a build whose swap a previous run did not finish) and after. */
  from: number[] | null;
  lists: number[];
  /** `swap-pending`: built and serving, but its rename met a lock held longer than `lock_timeout` (the next run finishes it). */
  status: 'rebuilt' | 'swap-pending';
}

interface IndexState {
  index: string;
  valid: boolean;
  /** Indexed through an expression (`embedding::halfvec(…)`), not the column itself. */
  expression: boolean;
  lists: number[] | null;
}

/**
 * Brings each table's vchordrq index to the lists its size calls for (see the module comment).
 * `client` must not be in a transaction. With `dryRun`, reports what it would do and changes nothing.
 */
export async function maintainVchordrqIndexes(
  client: Queryable,
  options: { dryRun?: boolean; lockTimeoutMs: number },
): Promise<VchordrqRebuild[]> {
  const { rows: ready } = await client.query<{ present: boolean }>(
    `SELECT to_regprocedure('llmspell.vchordrq_lists(text)') IS NOT NULL
            AND EXISTS (SELECT 1 FROM pg_am WHERE amname = 'vchordrq') AS present`,
  );
  // No VectorChord (pgvector, PGlite): nothing to do, in one query. Without vector/0002: nothing to read the lists with.
  if (ready[0]?.present !== true) return [];
  const run = async (text: string) => {
    if (options.dryRun !== true) await client.query(text);
  };
  const rebuilds: VchordrqRebuild[] = [];
  for (const dims of VECTOR_DIMENSIONS) {
    const table = `vector_embeddings_${dims}`;
    const name = `${table}_embedding`;
    const next = `${name}_next`;
    const states = await indexStates(client, table, [name, next]);
    const current = states.get(name);
    let built = states.get(next);
    if (built && !built.valid) {
      await run(`DROP INDEX CONCURRENTLY IF EXISTS llmspell.${pg.escapeIdentifier(next)}`);
      built = undefined;
    }
    if (!current && !built) continue; // no vchordrq index here (pgvector, or one of the operator's own)
    const rows = await tableRows(client, table);
    let from: number[] | null = null;
    let lists: number[];
    if (built) {
      lists = built.lists ?? [];
    } else {
      if (current!.lists === null) continue; // built from centroids outside the database: not ours to rebuild
      const wanted = nextVchordrqLists(rows, current!.lists);
      if (wanted === undefined && current!.expression === dims > 2000) continue;
      from = current!.lists;
      lists = wanted ?? current!.lists;
      await run(
        `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${pg.escapeIdentifier(next)} ON llmspell.${table}
           USING vchordrq (${indexedColumn(dims)}) WITH (options = ${pg.escapeLiteral(vchordrqOptions(lists))})`,
      );
    }
    const swapped = options.dryRun === true || (await swap(client, name, next, current !== undefined, options));
    rebuilds.push({ table, index: name, rows, from, lists, status: swapped ? 'rebuilt' : 'swap-pending' });
  }
  return rebuilds;
}

/** The vchordrq indexes of `table` among `names`. */
async function indexStates(client: Queryable, table: string, names: string[]): Promise<Map<string, IndexState>> {
  const { rows } = await client.query<IndexState>(
    `SELECT c.relname AS index, i.indisvalid AS valid, i.indexprs IS NOT NULL AS expression,
            llmspell.vchordrq_lists((SELECT substr(o, length('options=') + 1) FROM unnest(c.reloptions) AS o
                                      WHERE o LIKE 'options=%')) AS lists
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
      WHERE i.indrelid = to_regclass($1) AND am.amname = 'vchordrq' AND c.relname = ANY ($2::text[])`,
    [`llmspell.${table}`, names],
  );
  return new Map(rows.map((row) => [row.index, row]));
}

/** The table's rows: the planner's estimate, or a count while there is none (never analysed). */
async function tableRows(client: Queryable, table: string): Promise<number> {
  const { rows } = await client.query<{ estimate: number }>(
    `SELECT reltuples::float8 AS estimate FROM pg_class WHERE oid = to_regclass($1)`,
    [`llmspell.${table}`],
  );
  const estimate = Number(rows[0]?.estimate ?? -1);
  if (estimate >= 0) return Math.round(estimate);
  const { rows: counted } = await client.query<{ count: number }>(
    `SELECT count(*)::float8 AS count FROM llmspell.${table}`,
  );
  return Number(counted[0]?.count ?? 0);
}

/**
 * Puts the build in the old index's place: the old one is dropped `CONCURRENTLY` (it waits for the
 * queries using it but blocks none, and from its first step the planner no longer considers it,
 * so the two never stand side by side for long), then the build takes its name in a short
 * transaction under `lock_timeout`. `false` when that rename met a lock held longer (the build
 * already serves alone; the next run renames it).
 */
async function swap(
  client: Queryable,
  name: string,
  next: string,
  hasOld: boolean,
  options: { lockTimeoutMs: number },
): Promise<boolean> {
  if (hasOld) await client.query(`DROP INDEX CONCURRENTLY IF EXISTS llmspell.${pg.escapeIdentifier(name)}`);
  try {
    await client.query('BEGIN');
    await client.query("SELECT set_config('lock_timeout', $1, true)", [String(Math.max(1, options.lockTimeoutMs))]);
    await client.query(`ALTER INDEX llmspell.${pg.escapeIdentifier(next)} RENAME TO ${pg.escapeIdentifier(name)}`);
    await client.query('COMMIT');
    return true;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    if ((error as { code?: unknown }).code === LOCK_NOT_AVAILABLE) return false;
    throw error;
  }
}
