/**
 * The vector embeddings module (`storage.tenant(id).vectors`) through `openStorage`: every method,
 * what it returns and writes, and how it refuses bad input (by error code and `details.field`,
 * never by message wording; a refused batch writes nothing).
 *
 * The vector paths run on PGlite in memory (the `memory` target: PostgreSQL 18 in WASM with
 * pgvector 0.8, as the application role under RLS): the native PostgreSQL test servers have no
 * pgvector, so their settings disable the vector track (`vector_embeddings.enabled = false`). On
 * PostgreSQL 18 this file checks only how the module refuses to work there: `USAGE` while the
 * track is disabled, `MIGRATION_PENDING` when it is enabled but its tables were never created.
 *
 * Scores are checked against a cosine computed here in JavaScript over the vectors as stored
 * (float4), to 1e-5. Each route of a search (`exact`, `index`, `fallback`) is forced through its
 * configuration key and must give the ids the exact route gives on the same small data set.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlmspellError } from '../../../src/errors.js';
import type { PreciseDate } from '../../../src/storage/values/codecs.js';
import type { Storage } from '../../../src/storage/open-storage.js';
import {
  VECTOR_DIMENSIONS,
  type SearchOptions,
  type SearchResult,
  type VectorEntry,
  type VectorStore,
} from '../../../src/storage/modules/vectors/index.js';
import { cosineDistance, seeded } from '../../helpers/low-rank.js';
import { failure, invalid } from '../../helpers/outcome.js';
import { openStorageTarget, type OpenedStorage } from '../../helpers/storage.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A tenant id no other test uses. */
const newTenant = () => `v-${randomUUID().slice(0, 8)}`;

/** The error a call rejected with (the test fails when it did not reject). */
async function rejection(call: Promise<unknown>): Promise<unknown> {
  try {
    await call;
  } catch (error) {
    return error;
  }
  throw new Error('the call succeeded; it should have been refused');
}

const random = seeded(20_260_101);
/** A random vector of `dims` numbers in (−1, 1). */
const vec = (dims: number = 384): number[] => Array.from({ length: dims }, () => random() * 2 - 1);
/** A vector as PostgreSQL stores it (float4). */
const float4 = (vector: readonly number[]): number[] => vector.map((x) => Math.fround(x));
/** Cosine similarity in double precision. */
const cosine = (a: readonly number[], b: readonly number[]): number => 1 - cosineDistance(a, b);
/** Nanoseconds since the epoch, for ordering timestamps exactly. */
const ns = (date: PreciseDate): bigint => date.getFullTime();

/** Each stored vector equals the one given, as float4. */
function expectStored(stored: readonly number[], given: readonly number[]): void {
  expect(stored).toHaveLength(given.length);
  const want = float4(given);
  const worst = stored.reduce((max, x, i) => Math.max(max, Math.abs(x - want[i]!)), 0);
  expect(worst).toBeLessThan(1e-6);
}

interface Row {
  id: string;
  scope: string;
  vector: number[];
  metadata: Record<string, unknown>;
}

/** The exact top `k` of `rows` for `query`, by JavaScript (ties by id, as the library breaks them). */
function exactTop(rows: readonly Row[], query: readonly number[], k: number, keep: (row: Row) => boolean = () => true) {
  return rows
    .filter(keep)
    .map((row) => ({ id: row.id, score: cosine(query, float4(row.vector)) }))
    .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1))
    .slice(0, k);
}

/** `count` rows of 384 numbers in scopes `a`/`b`, with metadata `{ n, tag, group: { name } }`. */
function dataSet(count: number, dims = 384): Row[] {
  return Array.from({ length: count }, (_, n) => ({
    id: randomUUID(),
    scope: n % 2 === 0 ? 'a' : 'b',
    vector: vec(dims),
    metadata: { n, tag: n % 3 === 0 ? 'x' : 'y', group: { name: n < count / 2 ? 'low' : 'high' } },
  }));
}

let memory: OpenedStorage;
let storage: Storage;
const vectorsOf = (tenant: string = newTenant()): VectorStore => storage.tenant(tenant).vectors;

beforeAll(async () => {
  memory = await openStorageTarget('memory');
  storage = memory.storage;
});
afterAll(() => memory?.dispose());

describe('upsert', () => {
  it('returns the ids in input order: the caller’s as given (lowercased), new ones as UUIDs', async () => {
    const vectors = vectorsOf();
    const chosen = randomUUID();
    const upper = randomUUID().toUpperCase();
    const ids = await vectors.upsert([
      { scope: 's', vector: vec() },
      { id: chosen, scope: 's', vector: vec() },
      { scope: 's', vector: vec(768) },
      { id: upper, scope: 's', vector: vec() },
      { scope: 's', vector: vec() },
    ]);
    expect(ids).toHaveLength(5);
    expect(ids[1]).toBe(chosen);
    expect(ids[3]).toBe(upper.toLowerCase());
    for (const id of ids) expect(id).toMatch(UUID);
    expect(new Set(ids).size).toBe(5);
    const got = await vectors.get(ids);
    expect(got.map((v) => v.id)).toEqual(ids);
    expect(got.map((v) => v.dimensions)).toEqual([384, 384, 768, 384, 384]);
    expect(await vectors.count()).toBe(5);
  });

  it('stores scope, vector (as float4) and metadata ({} when absent), and the timestamps', async () => {
    const vectors = vectorsOf();
    const v1 = vec();
    const v2 = vec();
    const before = Date.now();
    const [a, b] = await vectors.upsert([
      { scope: 'docs', vector: v1, metadata: { lang: 'en', nested: { list: [1, 'two', null] } } },
      { scope: 'docs', vector: v2 },
    ]);
    const [ra, rb] = await vectors.get([a!, b!]);
    expect(ra).toMatchObject({
      id: a,
      scope: 'docs',
      dimensions: 384,
      metadata: { lang: 'en', nested: { list: [1, 'two', null] } },
    });
    expectStored(ra!.vector, v1);
    expect(rb!.metadata).toEqual({});
    expectStored(rb!.vector, v2);
    expect(ra!.createdAt.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(ns(ra!.updatedAt)).toBe(ns(ra!.createdAt));
  });

  it('replaces an existing id: scope, vector and metadata replaced, createdAt kept, updatedAt moves', async () => {
    const vectors = vectorsOf();
    const id = randomUUID();
    const v1 = vec();
    const v2 = vec();
    await vectors.upsert([{ id, scope: 'first', vector: v1, metadata: { a: 1, keep: 'no' } }]);
    const [first] = await vectors.get([id]);
    await sleep(5);
    const again = await vectors.upsert([{ id, scope: 'second', vector: v2, metadata: { b: 2 } }]);
    expect(again).toEqual([id]);
    const [second] = await vectors.get([id]);
    expect(second).toMatchObject({ id, scope: 'second', dimensions: 384, metadata: { b: 2 } });
    expect(second!.metadata).not.toHaveProperty('a');
    expectStored(second!.vector, v2);
    expect(ns(second!.createdAt)).toBe(ns(first!.createdAt));
    expect(ns(second!.updatedAt)).toBeGreaterThan(ns(first!.updatedAt));
    expect(await vectors.count()).toBe(1);
  });

  it('moves an id re-upserted with another length to that table: one entry, the new length, count unchanged', async () => {
    const vectors = vectorsOf();
    const [generated] = await vectors.upsert([{ scope: 's', vector: vec(384), metadata: { v: 1 } }]);
    const chosen = randomUUID();
    await vectors.upsert([{ id: chosen, scope: 's', vector: vec(3072) }]);
    expect(await vectors.count()).toBe(2);

    const v768 = vec(768);
    await vectors.upsert([{ id: generated!, scope: 's2', vector: v768, metadata: { v: 2 } }]);
    const v1536 = vec(1536);
    await vectors.upsert([{ id: chosen.toUpperCase(), scope: 's', vector: v1536 }]);

    const got = await vectors.get([generated!, chosen]);
    expect(got.map((v) => [v.id, v.dimensions])).toEqual([
      [generated, 768],
      [chosen, 1536],
    ]);
    expect(got[0]).toMatchObject({ scope: 's2', metadata: { v: 2 } });
    expectStored(got[0]!.vector, v768);
    expectStored(got[1]!.vector, v1536);
    expect(await vectors.count()).toBe(2);
    const stats = await vectors.stats();
    expect([384, 768, 1536, 3072].map((d) => stats[d as 384].rows)).toEqual([0, 1, 1, 0]);
    // The old tables have nothing left of them.
    expect((await vectors.search({ vector: vec(384), k: 10 })).hits).toEqual([]);
    expect((await vectors.search({ vector: vec(3072), k: 10 })).hits).toEqual([]);
  });

  it.each(VECTOR_DIMENSIONS)('stores and reads back a vector of %i numbers in its table', async (dims) => {
    const vectors = vectorsOf();
    const vector = vec(dims);
    const [id] = await vectors.upsert([{ scope: 's', vector }]);
    const [got] = await vectors.get([id!]);
    expect(got!.dimensions).toBe(dims);
    expectStored(got!.vector, vector);
    const stats = await vectors.stats();
    for (const d of VECTOR_DIMENSIONS) expect(stats[d].rows).toBe(d === dims ? 1 : 0);
    const { hits } = await vectors.search({ vector, k: 1 });
    expect(hits.map((h) => h.id)).toEqual([id]);
    expect(hits[0]!.score).toBeCloseTo(1, 5);
  });

  it('takes a batch of 2000 × 384 (several statements, one transaction)', async () => {
    const vectors = vectorsOf();
    const entries = Array.from({ length: 2000 }, (_, n) => ({
      scope: `s${n % 7}`,
      vector: vec(),
      metadata: { n },
    }));
    const started = performance.now();
    const ids = await vectors.upsert(entries);
    const elapsed = performance.now() - started;
    console.warn(`vectors.upsert of 2000 × 384 on PGlite: ${elapsed.toFixed(0)} ms`);
    expect(ids).toHaveLength(2000);
    expect(new Set(ids).size).toBe(2000);
    expect(await vectors.count()).toBe(2000);
    expect(await vectors.count({ scope: 's3' })).toBe(entries.filter((e) => e.scope === 's3').length);
    const [last] = await vectors.get([ids[1999]!]);
    expect(last!.metadata).toEqual({ n: 1999 });
    expectStored(last!.vector, entries[1999]!.vector);
    // More candidates than exact_search_max_rows (1000 by default): the approximate index answers.
    const result = await vectors.search({ vector: entries[42]!.vector, k: 10 });
    expect(result.route).toBe('index');
    expect(result.complete).toBe(true);
    expect(result.hits).toHaveLength(10);
    expect(result.hits[0]!.id).toBe(ids[42]);
  });

  it('takes mixed lengths in one batch', async () => {
    const vectors = vectorsOf();
    const lengths = [384, 768, 384, 1536, 3072, 768, 3072] as const;
    const given = lengths.map((dims) => vec(dims));
    const ids = await vectors.upsert(given.map((vector, n) => ({ scope: 'mix', vector, metadata: { n } })));
    const got = await vectors.get(ids);
    expect(got.map((v) => v.dimensions)).toEqual([...lengths]);
    expect(got.map((v) => v.metadata.n)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    got.forEach((v, n) => expectStored(v.vector, given[n]!));
    const stats = await vectors.stats();
    expect([384, 768, 1536, 3072].map((d) => stats[d as 384].rows)).toEqual([2, 2, 1, 2]);
    expect(await vectors.count()).toBe(7);
  });

  it('takes an empty batch: [] and nothing written', async () => {
    const vectors = vectorsOf();
    expect(await vectors.upsert([])).toEqual([]);
    expect(await vectors.count()).toBe(0);
  });

  it('takes a Float32Array and a Float64Array', async () => {
    const vectors = vectorsOf();
    const f32 = Float32Array.from(vec(768));
    const f64 = Float64Array.from(vec(384));
    const ids = await vectors.upsert([
      { scope: 's', vector: f32 },
      { scope: 's', vector: f64 },
    ]);
    const got = await vectors.get(ids);
    expect(got.map((v) => v.dimensions)).toEqual([768, 384]);
    expectStored(got[0]!.vector, Array.from(f32));
    expectStored(got[1]!.vector, Array.from(f64));
    expect((await vectors.search({ vector: f32, k: 1 })).hits[0]!.id).toBe(ids[0]);
  });

  it('takes a scope of exactly 512 bytes', async () => {
    const vectors = vectorsOf();
    const scope = '€'.repeat(170) + 'ab'; // 510 + 2 bytes
    expect(Buffer.byteLength(scope)).toBe(512);
    const [id] = await vectors.upsert([{ scope, vector: vec() }]);
    expect((await vectors.get([id!]))[0]!.scope).toBe(scope);
    expect(await vectors.count({ scope })).toBe(1);
  });

  describe('refuses a bad batch whole: INVALID_INPUT naming the entry, nothing written', () => {
    const withNumber = (at: number, value: unknown) => {
      const vector: unknown[] = vec();
      vector[at] = value;
      return vector;
    };
    const zeros = new Array<number>(384).fill(0);
    class Point {
      x = 1;
    }
    const duplicate = randomUUID();
    /** [what, the entry at `index` of a batch of valid entries, index, field]. */
    const CASES: [string, unknown, number, string][] = [
      ['a vector of 100 numbers', { scope: 's', vector: vec(100) }, 3, 'entries.3.vector'],
      ['a vector of 385 numbers', { scope: 's', vector: vec(385) }, 3, 'entries.3.vector'],
      ['an empty vector', { scope: 's', vector: [] }, 3, 'entries.3.vector'],
      ['a vector of 3073 numbers', { scope: 's', vector: vec(3073) }, 0, 'entries.0.vector'],
      ['NaN in a vector', { scope: 's', vector: withNumber(17, NaN) }, 2, 'entries.2.vector.17'],
      ['Infinity in a vector', { scope: 's', vector: withNumber(17, Infinity) }, 2, 'entries.2.vector.17'],
      ['-Infinity in a vector', { scope: 's', vector: withNumber(17, -Infinity) }, 2, 'entries.2.vector.17'],
      ['a string in a vector', { scope: 's', vector: withNumber(17, '0.5') }, 2, 'entries.2.vector.17'],
      ['null in a vector', { scope: 's', vector: withNumber(0, null) }, 2, 'entries.2.vector.0'],
      [
        'a number beyond float4 in a vector',
        { scope: 's', vector: withNumber(383, 3.5e38) },
        2,
        'entries.2.vector.383',
      ],
      [
        'a NaN in a Float32Array',
        { scope: 's', vector: Float32Array.from(withNumber(5, NaN) as number[]) },
        1,
        'entries.1.vector.5',
      ],
      ['an all-zero vector', { scope: 's', vector: zeros }, 3, 'entries.3.vector'],
      ['an all-zero Float32Array', { scope: 's', vector: new Float32Array(768) }, 3, 'entries.3.vector'],
      ['a string as vector', { scope: 's', vector: '[1,2,3]' }, 3, 'entries.3.vector'],
      ['an array-like object as vector', { scope: 's', vector: { length: 384 } }, 3, 'entries.3.vector'],
      ['null as vector', { scope: 's', vector: null }, 3, 'entries.3.vector'],
      ['no vector', { scope: 's' }, 3, 'entries.3.vector'],
      ['an Int32Array as vector', { scope: 's', vector: new Int32Array(384).fill(1) }, 3, 'entries.3.vector'],
      ['a non-UUID id', { id: 'doc-1', scope: 's', vector: vec() }, 0, 'entries.0.id'],
      ['a number as id', { id: 7, scope: 's', vector: vec() }, 0, 'entries.0.id'],
      ['a UUID without dashes', { id: randomUUID().replaceAll('-', ''), scope: 's', vector: vec() }, 0, 'entries.0.id'],
      ['an empty scope', { scope: '', vector: vec() }, 1, 'entries.1.scope'],
      ['no scope', { vector: vec() }, 1, 'entries.1.scope'],
      ['a number as scope', { scope: 5, vector: vec() }, 1, 'entries.1.scope'],
      ['a scope of 513 bytes', { scope: 'x'.repeat(513), vector: vec() }, 1, 'entries.1.scope'],
      ['a scope of 513 bytes in 171 characters', { scope: '€'.repeat(171), vector: vec() }, 1, 'entries.1.scope'],
      ['a NUL in the scope', { scope: 'a\0b', vector: vec() }, 1, 'entries.1.scope'],
      ['a lone surrogate in the scope', { scope: 'a\ud800', vector: vec() }, 1, 'entries.1.scope'],
      ['an array as metadata', { scope: 's', vector: vec(), metadata: [1] }, 4, 'entries.4.metadata'],
      ['a string as metadata', { scope: 's', vector: vec(), metadata: '{}' }, 4, 'entries.4.metadata'],
      ['null as metadata', { scope: 's', vector: vec(), metadata: null }, 4, 'entries.4.metadata'],
      ['a Date as metadata', { scope: 's', vector: vec(), metadata: new Date() }, 4, 'entries.4.metadata'],
      ['a class instance as metadata', { scope: 's', vector: vec(), metadata: new Point() }, 4, 'entries.4.metadata'],
      ['NaN in the metadata', { scope: 's', vector: vec(), metadata: { n: NaN } }, 4, 'entries.4.metadata'],
      ['a function in the metadata', { scope: 's', vector: vec(), metadata: { f: () => 1 } }, 4, 'entries.4.metadata'],
      [
        'a lone surrogate in the metadata',
        { scope: 's', vector: vec(), metadata: { s: 'x\udc00' } },
        4,
        'entries.4.metadata',
      ],
      [
        'a lone surrogate as a metadata key',
        { scope: 's', vector: vec(), metadata: { '\ud800': 1 } },
        4,
        'entries.4.metadata',
      ],
      ['a BigInt in the metadata', { scope: 's', vector: vec(), metadata: { big: 1n } }, 4, 'entries.4.metadata'],
      ['a NUL in the metadata', { scope: 's', vector: vec(), metadata: { s: 'a\0b' } }, 4, 'entries.4.metadata'],
      ['an unknown key', { scope: 's', vector: vec(), embedding: [] }, 0, 'entries.0.embedding'],
      ['null as entry', null, 2, 'entries.2'],
      ['a string as entry', 'entry', 2, 'entries.2'],
      ['an array as entry', [vec()], 2, 'entries.2'],
      ['an id given twice', { id: duplicate, scope: 's', vector: vec() }, 4, 'entries.4.id'],
      [
        'an id given twice, once in capitals',
        { id: duplicate.toUpperCase(), scope: 's', vector: vec() },
        4,
        'entries.4.id',
      ],
    ];

    let vectors: VectorStore;
    let existing: string[];
    beforeAll(async () => {
      vectors = vectorsOf();
      existing = await vectors.upsert([
        { scope: 'kept', vector: vec(), metadata: { old: true } },
        { scope: 'kept', vector: vec(768) },
      ]);
    });

    it.each(CASES)('%s', async (_what, bad, index, field) => {
      // Valid entries around the bad one, of every length, one of them replacing an existing row.
      const entries: unknown[] = [
        { id: duplicate, scope: 'batch', vector: vec() },
        { id: existing[0], scope: 'replaced', vector: vec(1536), metadata: { old: false } },
        { scope: 'batch', vector: vec(768) },
        { scope: 'batch', vector: vec(3072) },
        { scope: 'batch', vector: vec() },
        { scope: 'batch', vector: vec() },
      ];
      entries.splice(index, 1, bad);
      const before = await vectors.count();
      expect(await failure(vectors.upsert(entries as VectorEntry[]))).toEqual(invalid(field));
      expect(await vectors.count()).toBe(before);
      expect(await vectors.get([duplicate])).toEqual([]);
      const [kept] = await vectors.get([existing[0]!]);
      expect(kept).toMatchObject({ scope: 'kept', dimensions: 384, metadata: { old: true } });
    });

    it.each([
      ['a string', 'entries'],
      ['an object', { scope: 's', vector: [1] }],
      ['null', null],
      ['undefined', undefined],
      ['a Set', new Set([1])],
    ])('entries as %s: INVALID_INPUT entries', async (_what, entries) => {
      expect(await failure(vectors.upsert(entries as unknown as VectorEntry[]))).toEqual(invalid('entries'));
    });
  });

  describe('max_document_bytes (4096)', () => {
    let small: OpenedStorage;
    beforeAll(async () => {
      small = await openStorageTarget('memory', { max_document_bytes: 4096 });
    });
    afterAll(() => small?.dispose());

    it('refuses metadata larger than max_document_bytes as JSON, naming the entry; nothing written', async () => {
      const vectors = small.storage.tenant(newTenant()).vectors;
      await vectors.upsert([{ scope: 's', vector: vec() }]);
      const big = { text: 'x'.repeat(4100) };
      const entries = [0, 1, 2, 3, 4].map((n): VectorEntry => ({
        scope: 's',
        vector: vec(),
        metadata: n === 4 ? big : { n },
      }));
      expect(await failure(vectors.upsert(entries))).toEqual(invalid('entries.4.metadata'));
      // Multi-byte text counts in bytes: 1400 × '€' is 4200 bytes in 1408 characters of JSON.
      entries[4]!.metadata = { t: '€'.repeat(1400) };
      expect(await failure(vectors.upsert(entries))).toEqual(invalid('entries.4.metadata'));
      expect(await vectors.count()).toBe(1);
    });

    it('takes metadata just under the limit, and vectors whose text is longer than it', async () => {
      const vectors = small.storage.tenant(newTenant()).vectors;
      const metadata = { text: 'x'.repeat(4096 - '{"text":""}'.length) };
      expect(Buffer.byteLength(JSON.stringify(metadata))).toBe(4096);
      const v3072 = vec(3072);
      const ids = await vectors.upsert([
        { scope: 's', vector: vec(), metadata },
        { scope: 's', vector: v3072 },
      ]);
      const got = await vectors.get(ids);
      expect(got[0]!.metadata).toEqual(metadata);
      expectStored(got[1]!.vector, v3072);
    });

    it('searches with a query vector whose text is longer than max_document_bytes (it is not a stored value)', async () => {
      const vectors = small.storage.tenant(newTenant()).vectors;
      const query = vec(384); // about 7 KB as text: more than 4096 bytes
      const [id] = await vectors.upsert([{ scope: 's', vector: query }]);
      const result = await vectors.search({ vector: query, k: 1 });
      expect(result.hits.map((h) => h.id)).toEqual([id]);
    });
  });
});

describe('search', () => {
  const rows = dataSet(40);
  const query = vec();
  let vectors: VectorStore;
  beforeAll(async () => {
    vectors = vectorsOf();
    await vectors.upsert(rows);
    // Another length in the same tenant, which a search of 384 numbers never sees.
    await vectors.upsert([{ scope: 'a', vector: vec(768) }]);
  });

  it('returns the best k first, score = 1 − distance = the cosine of the stored vectors', async () => {
    const result = await vectors.search({ vector: query, k: 10 });
    const expected = exactTop(rows, query, 10);
    expect(result.hits.map((h) => h.id)).toEqual(expected.map((e) => e.id));
    result.hits.forEach((hit, n) => {
      expect(hit.score).toBeCloseTo(expected[n]!.score, 5);
      expect(hit.score).toBeCloseTo(1 - hit.distance, 12);
      if (n > 0) expect(hit.score).toBeLessThanOrEqual(result.hits[n - 1]!.score);
      const row = rows.find((r) => r.id === hit.id)!;
      expect(hit).toMatchObject({ scope: row.scope, metadata: row.metadata });
      expect(hit.createdAt.getTime()).toBeGreaterThan(0);
    });
    expect(result.route).toBe('exact');
    expect(result.complete).toBe(true);
  });

  it('respects k', async () => {
    for (const k of [1, 3, 7, 40]) {
      const { hits } = await vectors.search({ vector: query, k });
      expect(hits.map((h) => h.id)).toEqual(exactTop(rows, query, k).map((e) => e.id));
    }
  });

  it('returns every row, complete, when k is larger than the rows', async () => {
    const result = await vectors.search({ vector: query, k: 1000 });
    expect(result.hits).toHaveLength(40);
    expect(result.complete).toBe(true);
    expect(result.hits.map((h) => h.id)).toEqual(exactTop(rows, query, 40).map((e) => e.id));
  });

  it('restricts to the scope, the filter, and both', async () => {
    const byScope = await vectors.search({ vector: query, k: 5, scope: 'b' });
    expect(byScope.hits.map((h) => h.id)).toEqual(exactTop(rows, query, 5, (r) => r.scope === 'b').map((e) => e.id));
    const byFilter = await vectors.search({ vector: query, k: 5, filter: { tag: 'x' } });
    expect(byFilter.hits.map((h) => h.id)).toEqual(
      exactTop(rows, query, 5, (r) => r.metadata.tag === 'x').map((e) => e.id),
    );
    const both = await vectors.search({
      vector: query,
      k: 40,
      scope: 'a',
      filter: { n: { $gte: 10, $lt: 30 }, 'group.name': 'low' },
    });
    const keep = (r: Row) => r.scope === 'a' && (r.metadata.n as number) >= 10 && (r.metadata.n as number) < 20; // group low: n < 20
    expect(both.hits.map((h) => h.id)).toEqual(exactTop(rows, query, 40, keep).map((e) => e.id));
    expect(both.hits).toHaveLength(5);
    expect(both.complete).toBe(true);
    const none = await vectors.search({ vector: query, k: 5, scope: 'nowhere' });
    expect(none).toMatchObject({ hits: [], complete: true });
  });

  it('cuts on minScore (score ≥ minScore)', async () => {
    const all = exactTop(rows, query, 40);
    const threshold = (all[5]!.score + all[6]!.score) / 2;
    const { hits } = await vectors.search({ vector: query, k: 40, minScore: threshold });
    expect(hits.map((h) => h.id)).toEqual(all.slice(0, 6).map((e) => e.id));
    for (const hit of hits) expect(hit.score).toBeGreaterThanOrEqual(threshold);
    expect((await vectors.search({ vector: query, k: 40, minScore: -1 })).hits).toHaveLength(40);
    const self = rows[3]!;
    const exact = await vectors.search({ vector: self.vector, k: 40, minScore: 0.9999 });
    expect(exact.hits.map((h) => h.id)).toEqual([self.id]);
  });

  it('returns each hit’s vector only with includeVectors', async () => {
    const withVectors = await vectors.search({ vector: query, k: 3, includeVectors: true });
    for (const hit of withVectors.hits) {
      expectStored(hit.vector!, rows.find((r) => r.id === hit.id)!.vector);
      expect(hit.score).toBeCloseTo(cosine(query, hit.vector!), 5);
    }
    for (const options of [{}, { includeVectors: false }]) {
      const { hits } = await vectors.search({ vector: query, k: 3, ...options });
      for (const hit of hits) expect(Object.keys(hit)).not.toContain('vector');
      expect(Object.keys(hits[0]!).sort()).toEqual(['createdAt', 'distance', 'id', 'metadata', 'scope', 'score']);
    }
  });

  it('searches the table of the query’s length (3072 numbers: the halfvec-indexed table)', async () => {
    const own = vectorsOf();
    const long = dataSet(6, 3072);
    await own.upsert(long);
    await own.upsert(dataSet(5, 384));
    const q = vec(3072);
    const result = await own.search({ vector: q, k: 10 });
    expect(result.hits.map((h) => h.id)).toEqual(exactTop(long, q, 10).map((e) => e.id));
    result.hits.forEach((hit, n) => expect(hit.score).toBeCloseTo(exactTop(long, q, 10)[n]!.score, 5));
  });

  it('accepts a query as Float32Array', async () => {
    const { hits } = await vectors.search({ vector: Float32Array.from(query), k: 5 });
    expect(hits.map((h) => h.id)).toEqual(exactTop(rows, query, 5).map((e) => e.id));
  });

  describe('refuses bad options: INVALID_INPUT naming the option', () => {
    const withNumber = (at: number, value: unknown) => {
      const vector: unknown[] = vec();
      vector[at] = value;
      return vector;
    };
    const good = () => ({ vector: vec(), k: 5 });
    const CASES: [string, unknown, string][] = [
      ['k 0', { ...good(), k: 0 }, 'k'],
      ['k 1001', { ...good(), k: 1001 }, 'k'],
      ['k 1.5', { ...good(), k: 1.5 }, 'k'],
      ['k -1', { ...good(), k: -1 }, 'k'],
      ['k NaN', { ...good(), k: NaN }, 'k'],
      ['k as a string', { ...good(), k: '5' }, 'k'],
      ['no k', { vector: vec() }, 'k'],
      ['a vector of 100 numbers', { ...good(), vector: vec(100) }, 'vector'],
      ['a vector of 385 numbers', { ...good(), vector: vec(385) }, 'vector'],
      ['an all-zero vector', { ...good(), vector: new Array(384).fill(0) }, 'vector'],
      ['NaN in the vector', { ...good(), vector: withNumber(17, NaN) }, 'vector.17'],
      ['Infinity in the vector', { ...good(), vector: withNumber(17, Infinity) }, 'vector.17'],
      ['a string in the vector', { ...good(), vector: withNumber(17, '1') }, 'vector.17'],
      ['no vector', { k: 5 }, 'vector'],
      ['a string as vector', { ...good(), vector: '[1,2]' }, 'vector'],
      ['minScore 2', { ...good(), minScore: 2 }, 'minScore'],
      ['minScore -1.5', { ...good(), minScore: -1.5 }, 'minScore'],
      ['minScore NaN', { ...good(), minScore: NaN }, 'minScore'],
      ['minScore as a string', { ...good(), minScore: '0.5' }, 'minScore'],
      ['includeVectors "yes"', { ...good(), includeVectors: 'yes' }, 'includeVectors'],
      ['includeVectors 1', { ...good(), includeVectors: 1 }, 'includeVectors'],
      ['an unknown option', { ...good(), limit: 5 }, 'limit'],
      ['an empty scope', { ...good(), scope: '' }, 'scope'],
      ['a scope of 513 bytes', { ...good(), scope: 'x'.repeat(513) }, 'scope'],
      ['a number as scope', { ...good(), scope: 3 }, 'scope'],
      ['a bad operand deep in the filter', { ...good(), filter: { $or: [{ x: { $gt: {} } }] } }, 'filter.$or.0.x.$gt'],
      ['an unknown operator', { ...good(), filter: { x: { $regex: 'a' } } }, 'filter.x.$regex'],
      ['$in with no array', { ...good(), filter: { tag: { $in: 'x' } } }, 'filter.tag.$in'],
      ['an empty $and', { ...good(), filter: { $and: [] } }, 'filter.$and'],
      ['a string as filter', { ...good(), filter: 'tag = x' }, 'filter'],
      ['NaN in the filter', { ...good(), filter: { n: NaN } }, 'filter.n'],
    ];
    it.each(CASES)('%s', async (_what, options, field) => {
      expect(await failure(vectors.search(options as SearchOptions))).toEqual(invalid(field));
    });
    it.each([
      ['null', null],
      ['a string', 'query'],
      ['undefined', undefined],
      ['an array', [vec()]],
    ])('options as %s: INVALID_INPUT options', async (_what, options) => {
      expect(await failure(vectors.search(options as unknown as SearchOptions))).toEqual(invalid('options'));
    });
  });

  describe('each route, forced through its configuration, gives the exact ids', () => {
    const ours = dataSet(40);
    const tenant = newTenant();
    const q = vec();
    // For the fallback route, another tenant's rows all nearer to the query than any of ours, so that
    // the index walk's first candidates are not ours. pgvector checks max_scan_tuples only when the scan
    // resumes, after returning every candidate its first pass visited: there must be more of those other
    // rows than one pass visits for the walk to come back short.
    const noise = Array.from({ length: 1000 }, () => ({
      scope: 'a',
      vector: q.map((x) => x + (random() - 0.5) * 0.01),
      metadata: { tag: 'x' },
    }));
    const SEARCHES: [string, Omit<SearchOptions, 'vector'>, (row: Row) => boolean][] = [
      ['no filter', { k: 5 }, () => true],
      ['a scope', { k: 5, scope: 'a' }, (r) => r.scope === 'a'],
      ['a filter', { k: 4, filter: { tag: 'x' } }, (r) => r.metadata.tag === 'x'],
      [
        'a scope and a filter',
        { k: 3, scope: 'b', filter: { tag: { $ne: 'x' } } },
        (r) => r.scope === 'b' && r.metadata.tag !== 'x',
      ],
    ];
    const CONFIGS = [
      // The largest value the settings schema takes (the candidate count's cap is one more).
      ['exact', { exact_search_max_rows: 2 ** 31 - 1 }],
      ['index', { exact_search_max_rows: 0 }],
      ['fallback', { exact_search_max_rows: 0, max_scan_tuples: 1, ef_search: 1 }],
    ] as const;
    const opened = new Map<string, OpenedStorage>();
    beforeAll(async () => {
      for (const [route, config] of CONFIGS) {
        const target = await openStorageTarget('memory', { vector_embeddings: config });
        opened.set(route, target);
        await target.storage.tenant(tenant).vectors.upsert(ours);
        if (route === 'fallback') await target.storage.tenant(newTenant()).vectors.upsert(noise);
      }
    });
    afterAll(async () => {
      for (const target of opened.values()) await target.dispose();
    });

    for (const [route] of CONFIGS) {
      it.each(SEARCHES)(`${route}: %s`, async (_what, options, keep) => {
        const store = opened.get(route)!.storage.tenant(tenant).vectors;
        const result: SearchResult = await store.search({ vector: q, ...options });
        expect(result.route).toBe(route);
        expect(result.complete).toBe(true);
        const expected = exactTop(ours, q, options.k, keep);
        expect(result.hits.map((h) => h.id)).toEqual(expected.map((e) => e.id));
        result.hits.forEach((hit, n) => expect(hit.score).toBeCloseTo(expected[n]!.score, 5));
      });
    }

    it('index: a search that finds fewer than k rows falls back to the exact scan, complete', async () => {
      const store = opened.get('index')!.storage.tenant(tenant).vectors;
      const result = await store.search({ vector: q, k: 100, filter: { tag: 'x' } });
      expect(result.route).toBe('fallback');
      expect(result.complete).toBe(true);
      expect(result.hits.map((h) => h.id)).toEqual(
        exactTop(ours, q, 100, (r) => r.metadata.tag === 'x').map((e) => e.id),
      );
    });

    it('exact: includeVectors and minScore on the exact route', async () => {
      const store = opened.get('exact')!.storage.tenant(tenant).vectors;
      const result = await store.search({ vector: q, k: 2, minScore: -1, includeVectors: true });
      expect(result.route).toBe('exact');
      expect(result.hits).toHaveLength(2);
      for (const hit of result.hits) expectStored(hit.vector!, ours.find((r) => r.id === hit.id)!.vector);
    });
  });
});

describe("routing by the tenant's size", () => {
  let target: OpenedStorage;
  beforeAll(async () => {
    target = await openStorageTarget('memory', { vector_embeddings: { exact_search_max_rows: 5 } });
  });
  afterAll(async () => target?.dispose());

  it('a tenant found large walks the index; once it shrank, the answers are still exact and complete', async () => {
    const store = target.storage.tenant(newTenant()).vectors;
    const entries = Array.from({ length: 12 }, () => ({ scope: 'docs', vector: vec() }));
    const ids = await store.upsert(entries);
    const query = vec();
    expect((await store.search({ vector: query, k: 3 })).route).toBe('index');
    expect((await store.search({ vector: query, k: 3 })).route).toBe('index'); // no count: remembered as large
    await store.delete(ids.slice(2)); // two rows left, under the threshold
    const shrunk = await store.search({ vector: query, k: 3 });
    expect(['index', 'fallback']).toContain(shrunk.route); // still remembered as large, for a while
    expect(shrunk.complete).toBe(true);
    expect(shrunk.hits.map((hit) => hit.id).sort()).toEqual(ids.slice(0, 2).sort());
    // Another scope of the same tenant is counted on its own: it is small.
    expect((await store.search({ vector: query, k: 3, scope: 'other' })).route).toBe('exact');
  });
});

describe('VectorChord failures the search gets past, and a missing vector/0002 (fault injection on PGlite)', () => {
  // PGlite has no vchordrq: these replace the probes function of migration vector/0002 with one
  // that fails as VectorChord's planner does while a rebuild's new index stands beside the old
  // one, or drop it; a real server error either way, raised in the index search's transaction.
  let target: OpenedStorage;
  const probes = 'llmspell.vchordrq_probes(regclass, float8)';
  /** Runs each statement in turn, as the owner. */
  const exec = async (...statements: string[]) => {
    for (const text of statements) await target.storage.db.query(text);
  };
  /** Replaces the probes function with one that raises `message` (undone by {@link restore}). */
  const failWith = (message: string) =>
    exec(
      `ALTER FUNCTION ${probes} RENAME TO vchordrq_probes_real`,
      `CREATE FUNCTION llmspell.vchordrq_probes(tbl regclass, percent float8) RETURNS text
         LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '${message}'; END $$`,
      `GRANT EXECUTE ON FUNCTION ${probes} TO llmspell_app`,
    );
  const restore = () =>
    exec(
      `DROP FUNCTION IF EXISTS ${probes}`,
      'ALTER FUNCTION llmspell.vchordrq_probes_real(regclass, float8) RENAME TO vchordrq_probes',
    );
  /** The messages of an error and its causes. */
  const messages = (error: unknown): string[] =>
    error instanceof Error ? [error.message, ...messages(error.cause)] : [];
  beforeAll(async () => {
    target = await openStorageTarget('memory', { vector_embeddings: { exact_search_max_rows: 0 } });
  });
  afterAll(async () => target?.dispose());

  it("VectorChord's probes mismatch: answered exactly (route fallback); inside a transaction() the failure stands", async () => {
    const tenant = newTenant();
    const store = target.storage.tenant(tenant).vectors;
    const rows = Array.from({ length: 6 }, (_, n) => ({
      id: randomUUID(),
      scope: 's',
      vector: vec(),
      metadata: { n },
    }));
    await store.upsert(rows);
    const query = vec();
    const before = await store.search({ vector: query, k: 3 });
    expect(before.route).toBe('index');
    await failWith('need 1 probes, but 0 probes provided');
    try {
      const during = await store.search({ vector: query, k: 3 });
      expect(during.route).toBe('fallback');
      expect(during.complete).toBe(true);
      expect(during.hits.map((hit) => hit.id)).toEqual(exactTop(rows, query, 3).map((hit) => hit.id));
      const inTransaction = await rejection(
        target.storage.transaction(tenant, (t) => t.vectors.search({ vector: query, k: 3 })),
      );
      expect(messages(inTransaction).join('\n')).toMatch(/need 1 probes/);
    } finally {
      await restore();
    }
    expect((await store.search({ vector: query, k: 3 })).route).toBe('index');
  });

  it('another failure of the search is not taken for one: it rejects', async () => {
    const store = target.storage.tenant(newTenant()).vectors;
    await store.upsert([{ scope: 's', vector: vec() }]);
    await failWith('something else broke');
    try {
      expect(messages(await rejection(store.search({ vector: vec(), k: 1 }))).join('\n')).toMatch(
        /something else broke/,
      );
    } finally {
      await restore();
    }
  });

  it('without the functions of vector/0002 (migrations not run after an upgrade): MIGRATION_PENDING', async () => {
    const store = target.storage.tenant(newTenant()).vectors;
    await store.upsert([{ scope: 's', vector: vec() }]);
    await exec(`ALTER FUNCTION ${probes} RENAME TO vchordrq_probes_real`);
    try {
      expect(await failure(store.search({ vector: vec(), k: 1 }))).toEqual({ code: 'MIGRATION_PENDING' });
    } finally {
      await restore();
    }
  });
});

describe('vectors whose float4 norm under- or overflows', () => {
  /**
   * pgvector computes cosine distance in single precision: the sum of squares of a vector of tiny
   * numbers (≈ 1e-23) underflows to 0 and one of large numbers (≈ 1e19 and up) overflows to
   * infinity, although every number is a finite, non-zero float4. Such a vector must be refused, or
   * searched with the right score: not scored 1 or 0 whatever the other vector, nor break searches.
   */
  /** [what, scale, whether the other vector points near this one's direction (a cosine of about 0.9)]. */
  const SCALES: [string, number, boolean][] = [
    ['numbers about 1e-23 (the sum of squares underflows)', 1e-23, false],
    ['numbers about 1e19 (the sum of squares overflows)', 1e19, true],
    ['numbers about 3e38 (the distance is NaN)', 3e38, true],
  ];
  const clamp = (x: number) => Math.max(-3.4e38, Math.min(3.4e38, x));
  /** A pair: `other` (ordinary numbers) and `extreme` (`scale` times a direction near `other`'s or not). */
  const pair = (scale: number, near: boolean) => {
    const other = vec();
    const direction = near ? other.map((x) => x + (random() - 0.5) * 0.5) : vec();
    return { other, extreme: direction.map((x) => clamp(x * scale)) };
  };

  it.each(SCALES)('a stored vector of %s: refused, or scored right by a search', async (_what, scale, near) => {
    const vectors = vectorsOf();
    const { other: query, extreme: stored } = pair(scale, near);
    const outcome = await failure(vectors.upsert([{ scope: 's', vector: stored }]));
    if (outcome.code === 'no error: the call succeeded') {
      const { hits } = await vectors.search({ vector: query, k: 10 });
      expect(hits).toHaveLength(1);
      expect(hits[0]!.score).toBeCloseTo(cosine(query, float4(stored)), 5);
    } else {
      expect(outcome).toEqual(invalid('entries.0.vector'));
    }
  });

  it.each(SCALES.slice(0, 2))('a query vector of %s: refused, or scored right', async (_what, scale, near) => {
    const vectors = vectorsOf();
    const { other: stored, extreme: query } = pair(scale, near);
    await vectors.upsert([{ scope: 's', vector: stored }]);
    const outcome = await failure(vectors.search({ vector: query, k: 10 }));
    if (outcome.code === 'no error: the call succeeded') {
      const { hits } = await vectors.search({ vector: query, k: 10 });
      expect(hits[0]!.score).toBeCloseTo(cosine(float4(query), float4(stored)), 5);
    } else {
      expect(outcome).toEqual(invalid('vector'));
    }
  });
});

describe('get', () => {
  let vectors: VectorStore;
  let ids: string[];
  beforeAll(async () => {
    vectors = vectorsOf();
    ids = await vectors.upsert([
      { scope: 's', vector: vec(), metadata: { n: 0 } },
      { scope: 's', vector: vec(768), metadata: { n: 1 } },
      { scope: 's', vector: vec(1536), metadata: { n: 2 } },
      { scope: 's', vector: vec(3072), metadata: { n: 3 } },
    ]);
  });

  it('returns the entries in the order of the ids asked, leaving out unknown ids and repeats', async () => {
    const unknown = randomUUID();
    const got = await vectors.get([ids[3]!, unknown, ids[0]!, ids[2]!, ids[0]!, ids[3]!.toUpperCase()]);
    expect(got.map((v) => v.id)).toEqual([ids[3], ids[0], ids[2]]);
    expect(got.map((v) => v.metadata.n)).toEqual([3, 0, 2]);
    expect(got.map((v) => v.vector.length)).toEqual([3072, 384, 1536]);
    expect(Object.keys(got[0]!).sort()).toEqual([
      'createdAt',
      'dimensions',
      'id',
      'metadata',
      'scope',
      'updatedAt',
      'vector',
    ]);
  });

  it('accepts uppercase UUIDs and returns the stored (lowercase) id', async () => {
    const got = await vectors.get([ids[1]!.toUpperCase()]);
    expect(got.map((v) => v.id)).toEqual([ids[1]]);
  });

  it('returns [] for no ids and for unknown ids', async () => {
    expect(await vectors.get([])).toEqual([]);
    expect(await vectors.get([randomUUID(), randomUUID()])).toEqual([]);
  });

  it.each([
    ['a non-UUID id', ['00000000-0000-0000-0000-000000000000', 'doc-1'], 'ids.1'],
    ['a number', [randomUUID(), 7], 'ids.1'],
    ['null', [randomUUID(), null], 'ids.1'],
    ['a string, not an array', 'doc-1', 'ids'],
    ['null, not an array', null, 'ids'],
    ['undefined', undefined, 'ids'],
  ])('refuses %s: INVALID_INPUT', async (_what, bad, field) => {
    expect(await failure(vectors.get(bad as string[]))).toEqual(invalid(field));
  });
});

describe('updateMetadata', () => {
  it('merges at the top level, a null removes a key, and returns the record without its vector', async () => {
    const vectors = vectorsOf();
    const [id] = await vectors.upsert([
      { scope: 's', vector: vec(768), metadata: { a: 1, b: { deep: 1 }, gone: 'soon', list: [1] } },
    ]);
    const [before] = await vectors.get([id!]);
    await sleep(5);
    const record = await vectors.updateMetadata(id!, { b: { other: 2 }, gone: null, c: 'new', list: [] });
    expect(record).toMatchObject({
      id,
      scope: 's',
      dimensions: 768,
      metadata: { a: 1, b: { other: 2 }, c: 'new', list: [] },
    });
    expect(record.metadata).not.toHaveProperty('gone');
    expect(Object.keys(record)).not.toContain('vector');
    expect(Object.keys(record).sort()).toEqual(['createdAt', 'dimensions', 'id', 'metadata', 'scope', 'updatedAt']);
    expect(ns(record.createdAt)).toBe(ns(before!.createdAt));
    expect(ns(record.updatedAt)).toBeGreaterThan(ns(before!.updatedAt));
    const [after] = await vectors.get([id!]);
    expect(after!.metadata).toEqual(record.metadata);
    expect(after!.vector).toEqual(before!.vector);
    // An empty patch changes nothing but updatedAt; an uppercase id names the same row.
    const same = await vectors.updateMetadata(id!.toUpperCase(), {});
    expect(same.metadata).toEqual(record.metadata);
    expect(same.id).toBe(id);
  });

  it('is NOT_FOUND for an id that does not exist (and for another tenant’s)', async () => {
    const vectors = vectorsOf();
    expect(await failure(vectors.updateMetadata(randomUUID(), { a: 1 }))).toEqual({ code: 'NOT_FOUND' });
    const [theirs] = await vectorsOf().upsert([{ scope: 's', vector: vec() }]);
    expect(await failure(vectors.updateMetadata(theirs!, { a: 1 }))).toEqual({ code: 'NOT_FOUND' });
  });

  it.each([
    ['a non-UUID id', 'doc-1', { a: 1 }, 'id'],
    ['a number as id', 5, { a: 1 }, 'id'],
    ['an array as patch', 'ID', [1], 'patch'],
    ['null as patch', 'ID', null, 'patch'],
    ['a string as patch', 'ID', '{"a":1}', 'patch'],
    ['NaN in the patch', 'ID', { n: NaN }, 'patch'],
    ['a function in the patch', 'ID', { f: () => 1 }, 'patch'],
    ['a lone surrogate in the patch', 'ID', { s: '\ud800' }, 'patch'],
  ])('refuses %s: INVALID_INPUT', async (_what, id, patch, field) => {
    const vectors = vectorsOf();
    const [real] = await vectors.upsert([{ scope: 's', vector: vec(), metadata: { kept: true } }]);
    const call = vectors.updateMetadata((id === 'ID' ? real : id) as string, patch as Record<string, unknown>);
    expect(await failure(call)).toEqual(invalid(field));
    expect((await vectors.get([real!]))[0]!.metadata).toEqual({ kept: true });
  });

  it('keeps every one of 10 concurrent patches of different keys', async () => {
    const vectors = vectorsOf();
    const [id] = await vectors.upsert([{ scope: 's', vector: vec(), metadata: { base: true } }]);
    await Promise.all(Array.from({ length: 10 }, (_, n) => vectors.updateMetadata(id!, { [`k${n}`]: n })));
    const [got] = await vectors.get([id!]);
    expect(got!.metadata).toEqual({
      base: true,
      ...Object.fromEntries(Array.from({ length: 10 }, (_, n) => [`k${n}`, n])),
    });
  });
});

describe('delete, deleteWhere and count', () => {
  it('delete removes the ids given, over every table, and says how many there were', async () => {
    const vectors = vectorsOf();
    const ids = await vectors.upsert([
      { scope: 's', vector: vec() },
      { scope: 's', vector: vec(768) },
      { scope: 's', vector: vec(3072) },
      { scope: 's', vector: vec() },
    ]);
    expect(await vectors.delete([ids[0]!, ids[2]!.toUpperCase(), randomUUID(), ids[0]!])).toBe(2);
    expect(await vectors.count()).toBe(2);
    expect((await vectors.get(ids)).map((v) => v.id)).toEqual([ids[1], ids[3]]);
    expect(await vectors.delete([ids[0]!])).toBe(0);
    expect(await vectors.delete([])).toBe(0);
    expect(await vectors.delete([ids[1]!, ids[3]!])).toBe(2);
    expect(await vectors.count()).toBe(0);
  });

  it.each([
    ['a non-UUID id', [randomUUID(), 'doc-1'], 'ids.1'],
    ['an object id', [randomUUID(), {}], 'ids.1'],
    ['a string, not an array', randomUUID(), 'ids'],
    ['undefined', undefined, 'ids'],
  ])('delete refuses %s: INVALID_INPUT', async (_what, bad, field) => {
    const vectors = vectorsOf();
    await vectors.upsert([{ scope: 's', vector: vec() }]);
    expect(await failure(vectors.delete(bad as string[]))).toEqual(invalid(field));
    expect(await vectors.count()).toBe(1);
  });

  describe('over a tenant with rows in two scopes and every length', () => {
    let vectors: VectorStore;
    beforeAll(async () => {
      vectors = vectorsOf();
      const dims = [384, 768, 1536, 3072];
      await vectors.upsert(
        Array.from({ length: 24 }, (_, n) => ({
          scope: n % 2 === 0 ? 'even' : 'odd',
          vector: vec(dims[n % 4]),
          metadata: {
            n,
            tag: n % 3 === 0 ? 'x' : 'y',
            ...(n < 6 ? { flag: null } : {}),
            author: { name: n < 12 ? 'Ada' : 'Bob' },
            tags: n % 5 === 0 ? ['red', 'blue'] : ['green'],
          },
        })),
      );
    });

    it('count counts every row, by scope, by filter, and by both', async () => {
      expect(await vectors.count()).toBe(24);
      expect(await vectors.count({})).toBe(24);
      expect(await vectors.count({ scope: 'even' })).toBe(12);
      expect(await vectors.count({ scope: 'none' })).toBe(0);
      expect(await vectors.count({ filter: {} })).toBe(24);
      expect(await vectors.count({ filter: { tag: 'x' } })).toBe(8);
      expect(await vectors.count({ scope: 'even', filter: { tag: 'x' } })).toBe(4); // 0, 6, 12, 18
    });

    it.each([
      ['$eq', { tag: { $eq: 'y' } }, 16],
      ['$ne', { tag: { $ne: 'x' } }, 16],
      ['$gt and $lte', { n: { $gt: 4, $lte: 10 } }, 6],
      ['$in', { n: { $in: [1, 2, 3, 99] } }, 3],
      ['$nin', { n: { $nin: [1, 2, 3] } }, 21],
      ['$exists true (a null value too)', { flag: { $exists: true } }, 6],
      ['$exists false', { flag: { $exists: false } }, 18],
      ['null matches a stored null', { flag: null }, 6],
      ['a dotted path', { 'author.name': 'Ada' }, 12],
      ['an array holding the value', { tags: 'red' }, 5],
      ['$or', { $or: [{ n: 0 }, { n: 23 }] }, 2],
      ['$not', { $not: { tag: 'x' } }, 16],
      ['a field $not', { n: { $not: { $lt: 20 } } }, 4],
      ['no type coercion', { n: { $gt: '5' } }, 0],
    ])('count with a filter: %s', async (_what, filter, expected) => {
      expect(await vectors.count({ filter })).toBe(expected);
    });

    it.each([
      ['an unknown key', { scope: 'even', limit: 1 }, 'limit'],
      ['an empty scope', { scope: '' }, 'scope'],
      ['a bad filter', { filter: { n: { $gt: [] } } }, 'filter.n.$gt'],
      ['a string', 'even', 'selection'],
      ['null', null, 'selection'],
    ])('count and deleteWhere refuse %s: INVALID_INPUT', async (_what, selection, field) => {
      expect(await failure(vectors.count(selection as never))).toEqual(invalid(field));
      expect(await failure(vectors.deleteWhere(selection as never))).toEqual(invalid(field));
      expect(await vectors.count()).toBe(24);
    });

    it('deleteWhere refuses a selection with neither scope nor filter', async () => {
      expect(await failure(vectors.deleteWhere({}))).toEqual(invalid('selection'));
      expect(await failure(vectors.deleteWhere(undefined as never))).toEqual(invalid('selection'));
      expect(await vectors.count()).toBe(24);
    });
  });

  it('deleteWhere deletes by scope, by filter, by both, and everything with filter {}', async () => {
    const vectors = vectorsOf();
    await vectors.upsert(
      Array.from({ length: 20 }, (_, n) => ({
        scope: n % 2 === 0 ? 'even' : 'odd',
        vector: vec(n % 4 === 0 ? 1536 : 384),
        metadata: { n },
      })),
    );
    expect(await vectors.deleteWhere({ scope: 'even', filter: { n: { $lt: 6 } } })).toBe(3); // 0, 2, 4
    expect(await vectors.count()).toBe(17);
    expect(await vectors.deleteWhere({ filter: { n: { $gte: 15 } } })).toBe(5);
    expect(await vectors.count()).toBe(12);
    expect(await vectors.deleteWhere({ scope: 'odd' })).toBe(7); // 1, 3, … 13
    expect(await vectors.count()).toBe(5);
    expect(await vectors.deleteWhere({ scope: 'odd' })).toBe(0);
    expect(await vectors.deleteWhere({ filter: {} })).toBe(5); // 6, 8, … 14
    expect(await vectors.count()).toBe(0);
  });
});

describe('stats', () => {
  it('gives the rows per length, the HNSW index of each table, and no tenant index', async () => {
    const tenant = newTenant();
    const vectors = vectorsOf(tenant);
    const empty = await vectors.stats();
    expect(Object.keys(empty).sort()).toEqual(['1536', '3072', '384', '768']);
    for (const dims of VECTOR_DIMENSIONS) expect(empty[dims]).toEqual({ rows: 0, index: 'hnsw', tenantIndex: false });
    await vectors.upsert([
      { scope: 's', vector: vec(384) },
      { scope: 's', vector: vec(384) },
      { scope: 's', vector: vec(384) },
      { scope: 's', vector: vec(1536) },
      { scope: 's', vector: vec(3072) },
      { scope: 's', vector: vec(3072) },
    ]);
    const expected = {
      384: { rows: 3, index: 'hnsw', tenantIndex: false },
      768: { rows: 0, index: 'hnsw', tenantIndex: false },
      1536: { rows: 1, index: 'hnsw', tenantIndex: false },
      3072: { rows: 2, index: 'hnsw', tenantIndex: false },
    };
    expect(await vectors.stats()).toEqual(expected);
    await vectorsOf().upsert([
      { scope: 's', vector: vec(384) },
      { scope: 's', vector: vec(768) },
    ]);
    expect(await vectors.stats()).toEqual(expected);
    expect(await vectors.count()).toBe(6);
  });
});

describe('tenant isolation', () => {
  const a = newTenant();
  const b = newTenant();
  let aIds: string[];
  let aVectors: number[][];
  beforeAll(async () => {
    aVectors = [vec(), vec(), vec(768)];
    aIds = await vectorsOf(a).upsert(aVectors.map((vector) => ({ scope: 'shared', vector, metadata: { owner: 'a' } })));
    await vectorsOf(b).upsert([{ scope: 'shared', vector: vec(), metadata: { owner: 'b' } }]);
  });

  it('B never sees A’s rows: search, get, count, stats', async () => {
    const vb = vectorsOf(b);
    const result = await vb.search({ vector: aVectors[0]!, k: 10, scope: 'shared' });
    expect(result.hits).toHaveLength(1);
    expect(result.hits[0]!.metadata).toEqual({ owner: 'b' });
    expect((await vb.search({ vector: aVectors[2]!, k: 10 })).hits).toEqual([]);
    expect(await vb.get(aIds)).toEqual([]);
    expect(await vb.count()).toBe(1);
    expect(await vb.count({ filter: { owner: 'a' } })).toBe(0);
    expect((await vb.stats())[768].rows).toBe(0);
  });

  it('B cannot change or delete A’s rows, and B’s upsert of A’s id makes a row of B’s', async () => {
    const vb = vectorsOf(b);
    expect(await failure(vb.updateMetadata(aIds[0]!, { owner: 'b' }))).toEqual({ code: 'NOT_FOUND' });
    expect(await vb.delete(aIds)).toBe(0);
    expect(await vb.deleteWhere({ filter: { owner: 'a' } })).toBe(0);
    // The same id in B, in another table: A's row stays where it is.
    await vb.upsert([{ id: aIds[0]!, scope: 'mine', vector: vec(1536), metadata: { owner: 'b' } }]);
    expect((await vb.get([aIds[0]!]))[0]).toMatchObject({ scope: 'mine', dimensions: 1536 });
    const va = vectorsOf(a);
    const mine = await va.get(aIds);
    expect(mine.map((v) => [v.id, v.dimensions, v.metadata.owner])).toEqual([
      [aIds[0], 384, 'a'],
      [aIds[1], 384, 'a'],
      [aIds[2], 768, 'a'],
    ]);
    expect(await va.count()).toBe(3);
    expect(await vb.delete([aIds[0]!])).toBe(1);
    expect(await va.count()).toBe(3);
  });
});

describe('transactions and concurrency', () => {
  it('an upsert inside a transaction() that throws is rolled back', async () => {
    const tenant = newTenant();
    const boom = new Error('boom');
    await expect(
      storage.transaction(tenant, async (t) => {
        await t.vectors.upsert([{ scope: 's', vector: vec() }]);
        expect(await t.vectors.count()).toBe(1);
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await vectorsOf(tenant).count()).toBe(0);
  });

  it('8 concurrent upserts of distinct batches all land', async () => {
    const vectors = vectorsOf();
    const batches = Array.from({ length: 8 }, (_, b) =>
      Array.from({ length: 10 }, (_, n) => ({ scope: `b${b}`, vector: vec(b % 2 === 0 ? 384 : 768), metadata: { n } })),
    );
    const results = await Promise.all(batches.map((batch) => vectors.upsert(batch)));
    expect(new Set(results.flat()).size).toBe(80);
    expect(await vectors.count()).toBe(80);
    for (let b = 0; b < 8; b++) expect(await vectors.count({ scope: `b${b}` })).toBe(10);
    expect(await vectors.get(results.flat())).toHaveLength(80);
  });

  it('concurrent upserts of the same id end with one row (same length, and different lengths)', async () => {
    const vectors = vectorsOf();
    const same = randomUUID();
    await Promise.all(
      Array.from({ length: 8 }, (_, n) => vectors.upsert([{ id: same, scope: 's', vector: vec(), metadata: { n } }])),
    );
    expect(await vectors.count()).toBe(1);
    const moving = randomUUID();
    const lengths = [384, 768, 1536, 3072, 384, 768, 1536, 3072];
    await Promise.all(
      lengths.map((dims, n) => vectors.upsert([{ id: moving, scope: 's', vector: vec(dims), metadata: { n } }])),
    );
    expect(await vectors.count()).toBe(2);
    const got = await vectors.get([same, moving]);
    expect(got).toHaveLength(2);
    const stats = await vectors.stats();
    expect(VECTOR_DIMENSIONS.reduce((sum, d) => sum + stats[d].rows, 0)).toBe(2);
  });
});

describe('on PostgreSQL 18 (no pgvector)', () => {
  const calls = (vectors: VectorStore): [string, () => Promise<unknown>][] => [
    ['upsert', () => vectors.upsert([{ scope: 's', vector: vec() }])],
    ['search', () => vectors.search({ vector: vec(), k: 5 })],
    ['get', () => vectors.get([randomUUID()])],
    ['updateMetadata', () => vectors.updateMetadata(randomUUID(), { a: 1 })],
    ['delete', () => vectors.delete([randomUUID()])],
    ['deleteWhere', () => vectors.deleteWhere({ filter: {} })],
    ['count', () => vectors.count()],
    ['stats', () => vectors.stats()],
  ];

  describe('with the vector track disabled (the test settings there)', () => {
    let postgres: OpenedStorage;
    beforeAll(async () => {
      postgres = await openStorageTarget('postgres');
    });
    afterAll(() => postgres?.dispose());

    it('every method rejects with USAGE, naming storage.postgres.vector_embeddings.enabled', async () => {
      const vectors = postgres.storage.tenant(newTenant()).vectors;
      for (const [name, call] of calls(vectors)) {
        const error = await rejection(call());
        expect(error, name).toBeInstanceOf(LlmspellError);
        expect((error as LlmspellError).code, name).toBe('USAGE');
        expect((error as LlmspellError).message, name).toContain('storage.postgres.vector_embeddings.enabled');
      }
      // The other modules work there.
      await postgres.storage.tenant(newTenant()).agentState.put('a', { ok: true });
    });
  });

  it('with the vector track enabled but never migrated: openStorage refuses with MIGRATION_PENDING naming its migrations', async () => {
    const error = await openStorageTarget('postgres', { vector_embeddings: { enabled: true } }).then(
      async (opened) => {
        await opened.dispose();
        return undefined;
      },
      (e: unknown) => e as { code?: string; message?: string },
    );
    expect(error?.code).toBe('MIGRATION_PENDING');
    expect(error?.message).toMatch(/0001_vector_embeddings/);
  });
});
