import * as z from 'zod/mini';
import { parseVector, type PreciseDate } from '../../values/codecs.js';
import { column, integer } from '../../values/fields.js';
import type { MetadataFilter } from '../../kit/metadata-filter.js';
import type { CallOptions } from '../../mechanism/module.js';

/** The vector lengths there is a table for (`vector_embeddings_384` … `_3072`). */
export const VECTOR_DIMENSIONS = [384, 768, 1536, 3072] as const;

/** A vector length there is a table for. */
export type VectorDimension = (typeof VECTOR_DIMENSIONS)[number];

/** One embedding to store. Its vector's length picks the table. */
export interface VectorEntry {
  /** A UUID; a new one when absent. An existing id is replaced (in whichever table it was). */
  id?: string;
  /** What the embedding belongs to (a collection, a document set), 1 to 512 bytes. */
  scope: string;
  /** 384, 768, 1536 or 3072 finite numbers, not all zero. */
  vector: readonly number[] | Float32Array | Float64Array;
  /** A JSON object, searchable with a {@link MetadataFilter}; `{}` when absent. */
  metadata?: Record<string, unknown>;
}

/** Options of `upsert`. */
export interface UpsertOptions extends CallOptions {
  /**
   * `true` (default): the whole batch in one transaction, all or none. `false`: each statement's
   * chunk (up to 1,000 rows of one length) commits on its own, so a large load does not hold a
   * connection — on the embedded backend, the only session — from first row to last; when one
   * fails, the chunks before it stay (give ids, and the same call again finishes the load).
   */
  atomic?: boolean;
}

/** A stored embedding without its vector, as `updateMetadata` returns it. */
export interface VectorRecord {
  id: string;
  scope: string;
  /** The vector's length (which table holds it). */
  dimensions: VectorDimension;
  metadata: Record<string, unknown>;
  createdAt: PreciseDate;
  /** The last upsert or metadata update. */
  updatedAt: PreciseDate;
}

/** A stored embedding, as `get` returns it. */
export interface StoredVector extends VectorRecord {
  vector: number[];
}

/** What `search` looks for. */
export interface SearchOptions extends CallOptions {
  /** The query vector: its length picks the table searched. */
  vector: readonly number[] | Float32Array | Float64Array;
  /** How many hits at most, 1 to 1000. */
  k: number;
  /** Only embeddings of this scope. */
  scope?: string;
  /** Only embeddings whose metadata matches. */
  filter?: MetadataFilter;
  /** Only hits with at least this score (−1 to 1). */
  minScore?: number;
  /** Return each hit's vector too; default false. */
  includeVectors?: boolean;
}

/** One search hit. */
export interface VectorHit {
  id: string;
  scope: string;
  /** `1 − distance`: 1 for the same direction, 0 for orthogonal, −1 for opposite. Higher is better. */
  score: number;
  /** The cosine distance as PostgreSQL computed it (`<=>`), 0 to 2. Lower is better. */
  distance: number;
  metadata: Record<string, unknown>;
  createdAt: PreciseDate;
  /** Only with `includeVectors`. */
  vector?: number[];
}

/**
 * How a search was answered: `exact` scanned every matching row (through the tenant's btree);
 * `index` walked the approximate index (HNSW, iterative scan); `fallback` walked it, came back
 * short of `k`, and scanned exactly.
 */
export type SearchRoute = 'exact' | 'index' | 'fallback';

/** What `search` returns. */
export interface SearchResult {
  /** Best first (highest score), at most `k`. */
  hits: VectorHit[];
  /**
   * True when every row matching the scope and filter was eligible: an exact scan, or an index
   * scan that found `k`. Fewer than `k` hits with `complete` means fewer rows match (above
   * `minScore`); the library scans exactly rather than return a short approximate answer.
   */
  complete: boolean;
  route: SearchRoute;
}

/** Which rows `count` and `deleteWhere` take: a scope, a filter, or both. */
export interface VectorSelection {
  scope?: string;
  filter?: MetadataFilter;
}

/** The index kinds a vector table can have. */
export type VectorIndexKind = 'hnsw' | 'vchordrq' | 'none';

/** One table as the tenant sees it. */
export interface DimensionStats {
  /** The tenant's embeddings of this length. */
  rows: number;
  /** The table's approximate index. */
  index: VectorIndexKind;
  /** Whether the tenant has a partial index of its own (built by maintenance for a large tenant). */
  tenantIndex: boolean;
}

/** What `stats` returns: per vector length, the tenant's rows and the index that serves them. */
export type VectorStats = Record<VectorDimension, DimensionStats>;

/** The longest scope, in bytes. */
export const MAX_SCOPE_BYTES = 512;
/** The most entries one `upsert` takes, and ids one `get` or `delete`. */
export const MAX_BATCH = 100_000;
/** The most hits one search returns (pgvector's `hnsw.ef_search` cannot exceed 1000). */
export const MAX_K = 1000;

/** A vector column read as pgvector's text form (`embedding::text`), or null when not asked for. */
const vectorColumn = () =>
  z.pipe(
    z.nullable(z.string()),
    z.transform((text) => (text === null ? undefined : parseVector(text))),
  );

export const hitRow = {
  id: column.text(),
  scope: column.text(),
  distance: z.number(),
  metadata: column.jsonObject(),
  createdAt: column.timestamp(),
  vector: vectorColumn(),
};

/** {@link hitRow}, every column nullable: the first pass returns one row even with no hit. */
export const firstPassHit = Object.fromEntries(
  Object.entries(hitRow).map(([name, type]) => [name, z.nullable(type)]),
) as { [K in keyof typeof hitRow]: z.ZodMiniNullable<(typeof hitRow)[K]> };

export const storedRow = {
  id: column.text(),
  scope: column.text(),
  dimensions: z.number(),
  vector: z.pipe(z.string(), z.transform(parseVector)),
  metadata: column.jsonObject(),
  createdAt: column.timestamp(),
  updatedAt: column.timestamp(),
};

export const statsRow = {
  dimensions: z.number(),
  rows: column.integer(),
  index: z.enum(['hnsw', 'vchordrq', 'none']),
  tenantIndex: column.boolean(),
};

export const searchKeys = ['vector', 'k', 'scope', 'filter', 'minScore', 'includeVectors', 'signal'] as const;
export const selectionKeys = ['scope', 'filter'] as const;
export const k = () => integer(1, MAX_K);
