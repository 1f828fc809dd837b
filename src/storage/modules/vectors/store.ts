import { randomUUID } from 'node:crypto';
import * as z from 'zod/mini';
import { LlmspellError } from '../../../errors.js';
import { vectorText } from '../../values/codecs.js';
import { invalidInput, notFound } from '../../mechanism/errors.js';
import {
  callOf,
  checkKeys,
  jsonObject,
  kindOf,
  parseElement,
  parseInput,
  signalOption,
  text,
  uuid,
} from '../../values/fields.js';
import { compileFilter, type CompiledFilter } from '../../kit/metadata-filter.js';
import { columns } from '../../mechanism/batches.js';
import type { CallOptions, ModuleContext, StorageSettings, StoreInterface } from '../../mechanism/module.js';
import type { RowOf } from '../../mechanism/statement.js';
import * as sql from './sql.js';
import { tenantIndexName } from './tenant-indexes.js';
import {
  k as kField,
  MAX_BATCH,
  MAX_SCOPE_BYTES,
  searchKeys,
  selectionKeys,
  VECTOR_DIMENSIONS,
  type SearchOptions,
  type SearchResult,
  type SearchRoute,
  type StoredVector,
  type UpsertOptions,
  type VectorDimension,
  type VectorEntry,
  type VectorHit,
  type VectorRecord,
  type VectorSelection,
  type VectorStats,
} from './types.js';

/** What the vector store reads of the settings. */
export type VectorSettings = Pick<StorageSettings, 'max_document_bytes' | 'vector_embeddings'>;

/** How long a tenant found large in a table is searched through the index without counting it again. */
const LARGE_FOR_MS = 10_000;
/** The most (table, scope) pairs a store remembers as large. */
const MAX_LARGE_TABLES = 64;

/** The smallest normal and the largest 4-byte float. */
const FLOAT4_MIN_NORMAL = 2 ** -126;
const FLOAT4_MAX = 3.4028234663852886e38;

/** A hit as the statements return it. */
type HitRow = RowOf<(typeof sql.byDimension)[VectorDimension]['exact']>;

const entrySchema = z.strictObject({
  id: z.optional(uuid()),
  scope: text(MAX_SCOPE_BYTES),
  vector: z.unknown(),
  metadata: z.optional(jsonObject()),
});

/** One checked entry of an upsert, as its statement takes it. */
interface UpsertRow {
  dims: VectorDimension;
  id: string;
  /** The caller gave the id: the row may be in another table, which the statement clears. */
  given: boolean;
  scope: string;
  vector: string;
  metadata: string;
}

const upsertOptions = z.strictObject({ atomic: z.optional(z.boolean()), ...signalOption });

/**
 * A tenant's vector embeddings: upsert, similarity search (cosine), metadata filters, and the
 * rest. Reach it as `storage.tenant(id).vectors`. A search answers with `k` hits whenever `k`
 * rows match, whatever the tenant's share of the table: small candidate sets are scanned exactly,
 * larger ones walk the approximate index with an iterative scan, and an index walk that comes
 * back short is redone exactly.
 */
export class DefaultVectorStore {
  /**
   * The tables (with a scope) in which this tenant was found larger than
   * `exact_search_max_rows`, and until when that is trusted: a search there walks the index at
   * once instead of counting first. Only a hint: if the tenant shrank meanwhile, the index walk is
   * still right (it falls back to exact when short), just slower, for at most {@link LARGE_FOR_MS}.
   */
  readonly #large = new Map<string, number>();

  constructor(private readonly context: ModuleContext<VectorSettings>) {}

  /**
   * Stores the entries (one transaction: all or none) and returns their ids, in input order. An
   * entry whose id exists is replaced. Thousands of rows go in a few statements.
   */
  async upsert(entries: readonly VectorEntry[], options: UpsertOptions = {}): Promise<string[]> {
    const operation = 'vectors.upsert';
    this.#enabled();
    const { atomic, signal } = parseInput(operation, upsertOptions, options);
    if (!Array.isArray(entries)) throw invalidInput(operation, 'entries', `must be an array, not ${kindOf(entries)}`);
    if (entries.length > MAX_BATCH) {
      throw invalidInput(
        operation,
        'entries',
        `holds ${entries.length} entries; one upsert takes at most ${MAX_BATCH}`,
      );
    }
    const maxBytes = this.context.settings.max_document_bytes;
    const seen = new Map<string, number>();
    const ids: string[] = [];
    // Checked one by one as the batch is cut: a batch over the limits is refused before the rest is built.
    function* checked(): Generator<UpsertRow> {
      for (let index = 0; index < entries.length; index++) {
        const entry: unknown = entries[index]; // a hole of a sparse array is an undefined entry
        const at = `entries.${index}`;
        const parsed = parseElement(operation, entrySchema, entry, at);
        const { dims, text: vector } = vectorInput(operation, `${at}.vector`, parsed.vector);
        const metadata = parsed.metadata ?? '{}';
        if (Buffer.byteLength(metadata) > maxBytes) {
          throw invalidInput(
            operation,
            `${at}.metadata`,
            `is ${Buffer.byteLength(metadata)} bytes as JSON; the most a stored value may have is ${maxBytes} bytes (storage.postgres.max_document_bytes)`,
          );
        }
        const id = parsed.id?.toLowerCase() ?? randomUUID();
        const earlier = seen.get(id);
        if (earlier !== undefined) {
          throw invalidInput(
            operation,
            `${at}.id`,
            `must differ from entries.${earlier}.id: an id appears once per batch`,
          );
        }
        seen.set(id, index);
        ids.push(id);
        yield { dims, id, given: parsed.id !== undefined, scope: parsed.scope, vector, metadata };
      }
    }
    await this.context.batch(
      {
        operation,
        field: 'entries',
        rows: checked(),
        measure: (row) => ({
          group: row.dims,
          bytes: row.vector.length + Buffer.byteLength(row.metadata) + Buffer.byteLength(row.scope),
        }),
        atomic,
        signal,
      },
      (tx, { group, rows: chunk }) =>
        tx.count(sql.byDimension[group].upsert, {
          ...columns(chunk, {
            ids: (row) => row.id,
            scopes: (row) => row.scope,
            vectors: (row) => row.vector,
            metadata: (row) => row.metadata,
          }),
          moved: chunk.filter((row) => row.given).map((row) => row.id),
        }),
    );
    return ids;
  }

  /**
   * The `k` embeddings nearest to `vector` (cosine), best first, in the scope and passing the
   * filter when given. See {@link SearchResult} for what `route` and `complete` say.
   */
  async search(options: SearchOptions): Promise<SearchResult> {
    const operation = 'vectors.search';
    this.#enabled();
    const call = checkKeys(operation, 'options', options, [...searchKeys]);
    const { vector, k, scope, filter, minScore, includeVectors } = call;
    const query = vectorInput(operation, 'vector', vector);
    const limit = parseInput(operation, z.strictObject({ k: kField() }), { k }).k;
    if (minScore !== undefined && !(typeof minScore === 'number' && minScore >= -1 && minScore <= 1)) {
      throw invalidInput(operation, 'minScore', 'must be a number from -1 to 1');
    }
    if (includeVectors !== undefined && typeof includeVectors !== 'boolean') {
      throw invalidInput(operation, 'includeVectors', 'must be true or false');
    }
    const statements = sql.byDimension[query.dims];
    const selected = { scope, ...compileFilter(operation, filter) };
    const params = { ...selected, vector: query.text, k: limit, withVectors: includeVectors === true };
    const config = this.context.settings.vector_embeddings;

    // Route by the tenant's rows in the table (and scope): a small tenant is scanned exactly,
    // filter or no filter (it costs at most `exact_search_max_rows` rows), in the same statement
    // that counts it; a larger one walks the index, whose iterative scan goes on until k rows pass.
    let route: SearchRoute = 'index';
    let rows: HitRow[] = [];
    const threshold = config.exact_search_max_rows;
    const table = JSON.stringify([query.dims, scope ?? null]);
    if (threshold > 0 && !((this.#large.get(table) ?? 0) > Date.now())) {
      const first = await this.context.all(statements.firstPass, { ...params, cap: threshold + 1 }, undefined, call);
      if (first[0]!.tenantRows <= threshold) {
        route = 'exact';
        rows = first.flatMap(({ tenantRows: _count, ...hit }) => (hit.id === null ? [] : [hit as HitRow]));
        this.#large.delete(table);
      } else {
        if (this.#large.size >= MAX_LARGE_TABLES) this.#large.clear();
        this.#large.set(table, Date.now() + LARGE_FOR_MS);
      }
    }
    if (route === 'index') {
      const walk = this.context.run(async (tx) => {
        const found = await tx.all(statements.index, params, {
          'hnsw.ef_search': Math.max(config.ef_search, limit),
          'hnsw.iterative_scan': config.iterative_scan,
          'hnsw.max_scan_tuples': config.max_scan_tuples,
          'vchordrq.probes': config.vchordrq_probes_percent,
          'vchordrq.prefilter': 'on',
          enable_sort: 'off',
        });
        // Short of k: the walk stopped at max_scan_tuples (or its probes), or fewer rows match. Scan exactly.
        if (found.length < limit) return ['fallback', await tx.all(statements.exact, params)] as const;
        return ['index', found] as const;
      }, call);
      [route, rows] = await walk.catch(async (error: unknown) => {
        if (!isProbesMismatch(error)) throw error;
        // VectorChord cannot plan the search while a rebuild's new index (other lists) stands
        // beside the old one, for the moment until maintenance swaps them: answer exactly. (In a
        // caller's transaction(), which the failure aborted, the failure stands.)
        const exact = await this.context.all(statements.exact, params, undefined, call).catch(() => {
          throw error;
        });
        return ['fallback', exact] as const;
      });
    }
    const hits: VectorHit[] = rows
      .map(({ vector: stored, ...row }) => ({
        ...row,
        score: 1 - row.distance,
        ...(includeVectors === true ? { vector: stored! } : {}),
      }))
      // An iterative scan in relaxed order may hand rows back slightly out of order.
      .sort((a, b) => a.distance - b.distance || (a.id < b.id ? -1 : 1))
      .filter((hit) => minScore === undefined || hit.score >= minScore);
    return { hits, complete: route !== 'index' || rows.length === limit, route };
  }

  /** The embeddings with these ids, in the order asked (ids that do not exist are left out). */
  async get(ids: readonly string[], options: CallOptions = {}): Promise<StoredVector[]> {
    const list = idList('vectors.get', ids);
    const call = callOf('vectors.get', options);
    this.#enabled();
    if (list.length === 0) return [];
    const rows = await this.context.all(sql.get, { ids: list }, undefined, call);
    const byId = new Map(rows.map((row) => [row.id, row as StoredVector]));
    return list.flatMap((id) => byId.get(id) ?? []);
  }

  /**
   * Merges `patch` into the embedding's metadata (top level; a `null` value removes the key) and
   * returns the record; `NOT_FOUND` when there is no such embedding.
   */
  async updateMetadata(id: string, patch: Record<string, unknown>, options: CallOptions = {}): Promise<VectorRecord> {
    const call = callOf('vectors.updateMetadata', options);
    this.#enabled();
    const row = await this.context.first(sql.updateMetadata, { id, patch }, call);
    if (!row) throw notFound('vectors.updateMetadata', `embedding ${JSON.stringify(id)}`);
    const { vector: _none, ...record } = row;
    return record as VectorRecord;
  }

  /** Deletes the embeddings with these ids; returns how many there were. */
  async delete(ids: readonly string[], options: CallOptions = {}): Promise<number> {
    const list = idList('vectors.delete', ids);
    const call = callOf('vectors.delete', options);
    this.#enabled();
    if (list.length === 0) return 0;
    return (await this.context.one(sql.remove, { ids: list }, call)).deleted;
  }

  /**
   * Deletes the embeddings in `scope` and/or matching `filter` (at least one must be given;
   * `filter: {}` matches every embedding); returns how many.
   */
  async deleteWhere(selection: VectorSelection, options: CallOptions = {}): Promise<number> {
    const operation = 'vectors.deleteWhere';
    const { scope, filter } = checkKeys(operation, 'selection', selection, [...selectionKeys]);
    const call = callOf(operation, options);
    if (scope === undefined && filter === undefined) {
      throw invalidInput(
        operation,
        'selection',
        'must give scope, filter or both (filter: {} deletes every embedding)',
      );
    }
    this.#enabled();
    const params = { scope, ...compileFilter(operation, filter) };
    return (await this.context.one(sql.removeWhere, params, call)).deleted;
  }

  /** How many embeddings the tenant has (in `scope`, matching `filter`), over every vector length. */
  async count(selection: VectorSelection = {}, options: CallOptions = {}): Promise<number> {
    const operation = 'vectors.count';
    const { scope, filter } = checkKeys(operation, 'selection', selection, [...selectionKeys]);
    const call = callOf(operation, options);
    this.#enabled();
    const params: { scope?: string } & CompiledFilter = { scope, ...compileFilter(operation, filter) };
    return (await this.context.one(sql.count, params, call)).count;
  }

  /** The tenant's embeddings per vector length, the index kind of each table, and whether the tenant has its own. */
  async stats(options: CallOptions = {}): Promise<VectorStats> {
    const call = callOf('vectors.stats', options);
    this.#enabled();
    const names = Object.fromEntries(
      VECTOR_DIMENSIONS.map((dims) => [`index${dims}`, `llmspell.${tenantIndexName(dims, this.context.tenant)}`]),
    ) as Record<`index${VectorDimension}`, string>;
    const rows = await this.context.all(sql.stats, names, undefined, call);
    return Object.fromEntries(rows.map(({ dimensions, ...table }) => [dimensions, table])) as unknown as VectorStats;
  }

  /** Refuses every call while the vector track is disabled: its tables are not there. */
  #enabled(): void {
    if (!this.context.settings.vector_embeddings.enabled) {
      throw new LlmspellError(
        'USAGE',
        'vector embeddings are disabled (storage.postgres.vector_embeddings.enabled = false): their tables are not created',
        {
          hint: 'Run `llmspell config set storage.postgres.vector_embeddings.enabled true`, then `llmspell database migrate` (the server needs pgvector or VectorChord).',
        },
      );
    }
  }
}

/**
 * A vector from the caller: an array (or typed array) of 384, 768, 1536 or 3072 finite numbers,
 * not all zero (cosine distance to a zero vector is undefined). Returns its table and text form.
 */
function vectorInput(operation: string, field: string, value: unknown): { dims: VectorDimension; text: string } {
  const isArray = Array.isArray(value) || value instanceof Float32Array || value instanceof Float64Array;
  if (!isArray) {
    throw invalidInput(operation, field, `must be an array of numbers, not ${kindOf(value)}`);
  }
  const numbers = value as ArrayLike<unknown>;
  const dims = numbers.length as VectorDimension;
  if (!VECTOR_DIMENSIONS.includes(dims)) {
    throw invalidInput(
      operation,
      field,
      `has ${numbers.length} numbers; a vector has ${VECTOR_DIMENSIONS.join(', ')} (one table each)`,
    );
  }
  // Each element is read once, into the copy that is sent: what was checked is what is stored.
  const copy = new Array<number>(dims);
  let nonZero = false;
  let squares = 0;
  for (let i = 0; i < dims; i++) {
    const x = numbers[i];
    if (typeof x !== 'number' || !Number.isFinite(Math.fround(x))) {
      throw invalidInput(
        operation,
        `${field}.${i}`,
        `must be a finite number a 4-byte float holds, not ${typeof x === 'number' ? String(x) : kindOf(x)}`,
      );
    }
    copy[i] = x;
    const stored = Math.fround(x); // pgvector stores and computes in 4-byte floats
    squares += stored * stored;
    if (stored !== 0) nonZero = true;
  }
  if (!nonZero) throw invalidInput(operation, field, 'is all zeros: cosine similarity is undefined for it');
  // pgvector sums the squares in a 4-byte float: out of its range, the cosine comes out wrong or NaN.
  if (squares < FLOAT4_MIN_NORMAL || squares > FLOAT4_MAX) {
    throw invalidInput(
      operation,
      field,
      `has a squared length of ${squares.toPrecision(3)}, outside what a 4-byte float holds (${FLOAT4_MIN_NORMAL.toPrecision(3)} to ${FLOAT4_MAX.toPrecision(3)}): scale it, e.g. to length 1`,
    );
  }
  return { dims, text: vectorText(copy) };
}

/** A list of embedding ids (UUIDs), lowercased and without repeats. */
function idList(operation: string, ids: unknown): string[] {
  if (!Array.isArray(ids)) throw invalidInput(operation, 'ids', `must be an array of ids, not ${kindOf(ids)}`);
  if (ids.length > MAX_BATCH) throw invalidInput(operation, 'ids', `holds ${ids.length} ids; at most ${MAX_BATCH}`);
  const checked = parseElement(operation, z.array(uuid()), ids, 'ids');
  return [...new Set(checked.map((id) => id.toLowerCase()))];
}

/**
 * Whether `error` is VectorChord refusing to plan a search whose `vchordrq.probes` do not fit an
 * index's levels of lists ("need 1 probes, but 0 probes provided"), found in its causes.
 */
function isProbesMismatch(error: unknown): boolean {
  for (let at = error, depth = 0; at instanceof Error && depth < 8; at = at.cause, depth++) {
    if (/need \d+ probes, but \d+ probes provided/.test(at.message)) return true;
  }
  return false;
}

/**
 * The store a tenant view holds: the public methods of {@link DefaultVectorStore}, as a plain
 * object type (no private members), so that a framework can write a test double or another
 * implementation of it.
 */
export type VectorStore = StoreInterface<DefaultVectorStore>;
