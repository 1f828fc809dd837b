/** The tenant-conformance registration of vectors (see `harness.ts`). */
import { randomBytes, randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { SearchOptions, SearchResult, VectorDimension } from '../../../../src/storage/modules/vectors/index.js';
import { testSettings } from '../../../helpers/settings.js';
import { attemptsOf, plain, register, token } from './harness.js';

interface VectorRow {
  id: string;
  dims: VectorDimension;
  scope: string;
  vector: number[];
}

interface VectorHandle {
  /** In A's metadata (`secret`): what B filters on. */
  marker: string;
  /** A's scope of most rows (one per table but 768), and its other scope. */
  scope: string;
  otherScope: string;
  /** A's rows, in every table; the first is the 384 row of `scope` that `locate` names. */
  rows: VectorRow[];
  ids: string[];
  /**
   * A's scope of {@link EXACT_MAX} + 1 more 384 rows (not in `rows`): more candidates than an exact
   * search takes, so a routing count that saw A's rows would send B's searches to the index.
   */
  bulkScope: string;
}

const vector = attemptsOf<'vectors', VectorHandle>();

/** A deterministic vector of `dims` numbers, none all zero, different for each seed. */
const wave = (seed: number, dims: number) =>
  Array.from({ length: dims }, (_, i) => Math.sin(seed * 12.9898 + i * 0.731) + 0.1 * Math.cos(seed + i));

/** A's row of `dims` in A's main scope. */
const rowOf = (h: VectorHandle, dims: VectorDimension) =>
  h.rows.find((row) => row.dims === dims && row.scope === h.scope)!;

/** A filter on A's marker that B's own rows (`mine: 'b'`) also pass. */
const markerOrMine = (h: VectorHandle) => ({ $or: [{ secret: h.marker }, { mine: 'b' }] });

/** The candidate count up to which a search scans exactly (the exact route); one more takes the index route. */
const EXACT_MAX = testSettings().storage.postgres.vector_embeddings.exact_search_max_rows;

/** B's hits are B's own rows alone: none of A's ids, every one of `own`. */
function onlyOwnHits(result: SearchResult, h: VectorHandle, own: readonly string[]): void {
  const ids = result.hits.map((hit) => hit.id);
  expect(ids.filter((id) => h.ids.includes(id))).toEqual([]);
  expect(ids.filter((id) => !own.includes(id))).toEqual([]);
}

export const vectors = register({
  module: 'vectors',
  needs: 'pgvector',
  async seed(a, marker) {
    const scope = `docs-${token()}`;
    const otherScope = `notes-${token()}`;
    const base = randomBytes(2).readUInt16BE() + 1;
    const plan: [VectorDimension, string, Record<string, unknown>][] = [
      [384, scope, { secret: marker, kind: 'doc', n: 1 }],
      [384, scope, { secret: marker, kind: 'doc', tags: ['x', marker] }],
      [384, otherScope, { secret: marker, nested: { secret: marker } }],
      [768, otherScope, { secret: marker }],
      [1536, scope, { secret: marker }],
      [3072, scope, { secret: marker, kind: 'big' }],
      [3072, otherScope, { secret: marker }],
    ];
    const entries = plan.map(([dims, where, metadata], index) => ({
      // Half the ids are A's choice, half the store's.
      ...(index % 2 === 0 ? { id: randomUUID() } : {}),
      scope: where,
      vector: wave(base + index, dims),
      metadata,
    }));
    const ids = await a.vectors.upsert(entries);
    const bulkScope = `bulk-${token()}`;
    await a.vectors.upsert(
      Array.from({ length: EXACT_MAX + 1 }, (_, index) => ({
        scope: bulkScope,
        vector: wave(base + 100 + index, 384),
        metadata: { secret: marker, bulk: index },
      })),
    );
    const rows = entries.map((entry, index) => ({
      id: ids[index]!,
      dims: plan[index]![0],
      scope: entry.scope,
      vector: entry.vector,
    }));
    expect((await a.vectors.updateMetadata(ids[0]!, { n: 2 })).metadata).toMatchObject({ secret: marker, n: 2 });
    return { marker, scope, otherScope, rows, ids, bulkScope };
  },
  async snapshot(a, h) {
    const main = rowOf(h, 384);
    // In A's scope: few candidates, an exact search (the index route's answer could change as B writes).
    const search = await a.vectors.search({ vector: main.vector, k: 1000, scope: h.scope });
    return plain({
      rows: await a.vectors.get(h.ids),
      counts: [
        await a.vectors.count(),
        await a.vectors.count({ scope: h.scope }),
        await a.vectors.count({ scope: h.otherScope }),
        await a.vectors.count({ scope: h.bulkScope }),
        await a.vectors.count({ filter: { secret: h.marker } }),
      ],
      stats: await a.vectors.stats(),
      search: search.hits.map((hit) => hit.id),
    });
  },
  locate: (h) => ({ table: 'vector_embeddings_384', column: 'id', value: h.rows[0]!.id }),
  probe: (stores) => stores.vectors.count(),
  signalled: {
    upsert: (b, h, signal) => b.vectors.upsert([{ vector: rowOf(h, 384).vector, scope: 'b' }], { signal }),
    search: (b, h, signal) => b.vectors.search({ vector: rowOf(h, 384).vector, k: 10, signal }),
    get: (b, h, signal) => b.vectors.get(h.ids, { signal }),
    updateMetadata: (b, h, signal) => b.vectors.updateMetadata(rowOf(h, 384).id, { mine: 'b' }, { signal }),
    delete: (b, h, signal) => b.vectors.delete(h.ids, { signal }),
    deleteWhere: (b, h, signal) => b.vectors.deleteWhere({ scope: h.scope }, { signal }),
    count: (b, _h, signal) => b.vectors.count({}, { signal }),
    stats: (b, _h, signal) => b.vectors.stats({ signal }),
  },
  attempts: [
    // upsert with A's ids: B's own rows, A's untouched (the snapshot after each attempt).
    vector({
      method: 'upsert',
      kind: 'same-key',
      name: "upsert with A's 384 id, twice: B's own row, replaced the second time",
      run: async (b, h) => {
        const main = rowOf(h, 384);
        const entry = { id: main.id, scope: h.scope, vector: main.vector };
        expect(await b.vectors.upsert([{ ...entry, metadata: { mine: 'b', n: 1 } }])).toEqual([main.id]);
        return b.vectors.upsert([{ ...entry, metadata: { mine: 'b', n: 2 } }]);
      },
      expect: {
        async check(result, b, h) {
          const main = rowOf(h, 384);
          expect(result).toEqual([main.id]);
          const got = await b.vectors.get([main.id]);
          expect(got.map(({ id, scope, dimensions, metadata }) => ({ id, scope, dimensions, metadata }))).toEqual([
            { id: main.id, scope: h.scope, dimensions: 384, metadata: { mine: 'b', n: 2 } },
          ]);
          expect(await b.vectors.count()).toBe(1);
        },
      },
    }),
    vector({
      method: 'upsert',
      kind: 'same-key',
      name: "upsert A's 384 id as a 3072 vector (an id moves between tables): B's own, A's 384 row stays",
      run: (b, h) =>
        b.vectors.upsert([
          { id: rowOf(h, 384).id, scope: h.scope, vector: rowOf(h, 3072).vector, metadata: { mine: 'b' } },
        ]),
      expect: {
        async check(result, b, h) {
          expect(result).toEqual([rowOf(h, 384).id]);
          expect((await b.vectors.get(result)).map((row) => row.dimensions)).toEqual([3072]);
          const stats = await b.vectors.stats();
          expect([384, 768, 1536, 3072].map((dims) => stats[dims as VectorDimension].rows)).toEqual([0, 0, 0, 1]);
        },
      },
    }),
    vector({
      method: 'upsert',
      kind: 'same-key',
      name: "upsert every one of A's ids, each into another table than A's: B's own rows",
      run: (b, h) =>
        b.vectors.upsert(
          h.rows.map((row, index) => ({
            id: row.id,
            scope: row.scope,
            vector: wave(index + 1, row.dims === 384 ? 768 : 384),
            metadata: { mine: 'b' },
          })),
        ),
      expect: {
        async check(result, b, h) {
          expect(result).toEqual(h.ids);
          const got = await b.vectors.get(h.ids);
          expect(got.map((row) => row.id)).toEqual(h.ids);
          expect(got.every((row) => JSON.stringify(row.metadata) === '{"mine":"b"}')).toBe(true);
          expect(await b.vectors.count()).toBe(h.ids.length);
        },
      },
    }),
    // search, exact route: B's candidates are at most EXACT_MAX.
    vector({
      method: 'search',
      kind: 'list',
      name: "search A's exact 384 vector, no filter, k 1000 (B has no rows): no hits, exact route",
      run: (b, h) => b.vectors.search({ vector: rowOf(h, 384).vector, k: 1000 }),
      expect: { resolves: { hits: [], complete: true, route: 'exact' } },
    }),
    vector({
      method: 'search',
      kind: 'list',
      name: "search A's exact vector of every table, k 1000: no hits",
      run: (b, h) => Promise.all(h.rows.map((row) => b.vectors.search({ vector: row.vector, k: 1000 }))),
      expect: {
        check(result, _b, h) {
          expect(result).toEqual(h.rows.map(() => ({ hits: [], complete: true, route: 'exact' })));
        },
      },
    }),
    vector({
      method: 'search',
      kind: 'list',
      name: "search with a filter on A's marker, k 1000: no hits",
      run: (b, h) => b.vectors.search({ vector: rowOf(h, 384).vector, k: 1000, filter: { secret: h.marker } }),
      expect: { resolves: { hits: [], complete: true, route: 'exact' } },
    }),
    vector({
      method: 'search',
      kind: 'list',
      name: `search in A's scope of ${EXACT_MAX + 1} rows, unfiltered and on A's marker: no hits, exact route (the routing count is B's)`,
      run: (b, h) =>
        Promise.all([
          b.vectors.search({ vector: wave(1, 384), k: 1000, scope: h.bulkScope }),
          b.vectors.search({ vector: wave(1, 384), k: 1000, scope: h.bulkScope, filter: { secret: h.marker } }),
        ]),
      expect: {
        resolves: [
          { hits: [], complete: true, route: 'exact' },
          { hits: [], complete: true, route: 'exact' },
        ],
      },
    }),
    vector({
      method: 'search',
      kind: 'list',
      name: "search in A's scope, k 1000: no hits",
      run: (b, h) => b.vectors.search({ vector: rowOf(h, 384).vector, k: 1000, scope: h.scope }),
      expect: { resolves: { hits: [], complete: true, route: 'exact' } },
    }),
    vector({
      method: 'search',
      kind: 'list',
      name: "search A's vector with B's own rows, unfiltered / on A's marker / in A's scope: B's own rows only",
      run: async (b, h) => {
        const main = rowOf(h, 384);
        const own = await b.vectors.upsert([
          { scope: h.scope, vector: main.vector, metadata: { mine: 'b' } },
          { scope: h.otherScope, vector: wave(7, 384), metadata: { mine: 'b' } },
          { scope: 'b-own', vector: wave(8, 384), metadata: { mine: 'b' } },
        ]);
        const searches: SearchOptions[] = [
          { vector: main.vector, k: 1000 },
          { vector: main.vector, k: 1000, filter: markerOrMine(h) },
          { vector: main.vector, k: 1000, scope: h.scope },
          { vector: main.vector, k: 1000, scope: h.scope, filter: markerOrMine(h), minScore: -1, includeVectors: true },
        ];
        return { own, results: await Promise.all(searches.map((options) => b.vectors.search(options))) };
      },
      expect: {
        check({ own, results }, _b, h) {
          expect(results.map((result) => [result.route, result.hits.length])).toEqual([
            ['exact', 3],
            ['exact', 3],
            ['exact', 1],
            ['exact', 1],
          ]);
          for (const result of results) onlyOwnHits(result, h, own);
          expect(results[2]!.hits[0]).toMatchObject({ id: own[0], scope: h.scope, metadata: { mine: 'b' } });
          expect(results[2]!.hits[0]!.score).toBeCloseTo(1, 5);
        },
      },
    }),
    vector({
      method: 'search',
      kind: 'list',
      name: "search A's exact 3072 vector in A's scope, filter on A's marker, with vectors: B's own row only",
      run: async (b, h) => {
        const big = rowOf(h, 3072);
        const own = await b.vectors.upsert([{ scope: h.scope, vector: wave(9, 3072), metadata: { mine: 'b' } }]);
        const result = await b.vectors.search({
          vector: big.vector,
          k: 1000,
          scope: h.scope,
          filter: markerOrMine(h),
          includeVectors: true,
        });
        return { own, result };
      },
      expect: {
        check({ own, result }, _b, h) {
          expect(result.route).toBe('exact');
          expect(result.hits.map((hit) => hit.id)).toEqual(own);
          onlyOwnHits(result, h, own);
          expect(result.hits[0]!.vector).toHaveLength(3072);
        },
      },
    }),
    // search, index route: more candidates of B's own than EXACT_MAX, near A's vector.
    vector({
      method: 'search',
      kind: 'list',
      name: `search with ${EXACT_MAX + 1} rows of B's own in A's scope near A's vector (index route), unfiltered / on A's marker / in A's scope: B's own only`,
      run: async (b, h) => {
        const main = rowOf(h, 384);
        const own = await b.vectors.upsert(
          Array.from({ length: EXACT_MAX + 1 }, (_, index) => ({
            scope: h.scope,
            vector: main.vector.map((x, i) => x + 0.05 * Math.sin(index * 3.7 + i)),
            metadata: { mine: 'b' },
          })),
        );
        const searches: SearchOptions[] = [
          { vector: main.vector, k: 1000 },
          { vector: main.vector, k: 1000, filter: markerOrMine(h) },
          { vector: main.vector, k: 1000, scope: h.scope },
        ];
        const results: SearchResult[] = [];
        for (const options of searches) results.push(await b.vectors.search(options));
        return { own, results };
      },
      expect: {
        check({ own, results }, _b, h) {
          for (const result of results) {
            expect(['index', 'fallback']).toContain(result.route);
            expect(result.hits).toHaveLength(1000);
            onlyOwnHits(result, h, own);
          }
        },
      },
    }),
    // get
    vector({
      method: 'get',
      kind: 'read',
      name: "get A's ids (every table): []",
      run: (b, h) => b.vectors.get(h.ids),
      expect: { resolves: [] },
    }),
    vector({
      method: 'get',
      kind: 'read',
      name: "get A's ids upper-cased: []",
      run: (b, h) => b.vectors.get(h.ids.map((id) => id.toUpperCase())),
      expect: { resolves: [] },
    }),
    vector({
      method: 'get',
      kind: 'read',
      name: "get A's ids and B's own: B's own only",
      run: async (b, h) => {
        const [own] = await b.vectors.upsert([
          { scope: h.scope, vector: rowOf(h, 384).vector, metadata: { mine: 'b' } },
        ]);
        return { own: own!, got: await b.vectors.get([...h.ids, own!]) };
      },
      expect: {
        check({ own, got }) {
          expect(got.map((row) => [row.id, row.metadata])).toEqual([[own, { mine: 'b' }]]);
        },
      },
    }),
    // updateMetadata
    vector({
      method: 'updateMetadata',
      kind: 'write',
      name: "updateMetadata of A's 384 id",
      run: (b, h) => b.vectors.updateMetadata(rowOf(h, 384).id, { mine: 'b' }),
      expect: { rejects: 'NOT_FOUND' },
    }),
    vector({
      method: 'updateMetadata',
      kind: 'write',
      name: "updateMetadata of A's 3072 id, removing A's marker (null)",
      run: (b, h) => b.vectors.updateMetadata(rowOf(h, 3072).id, { secret: null }),
      expect: { rejects: 'NOT_FOUND' },
    }),
    vector({
      method: 'updateMetadata',
      kind: 'write',
      name: "updateMetadata of A's 768 id with an empty patch",
      run: (b, h) => b.vectors.updateMetadata(h.rows.find((row) => row.dims === 768)!.id, {}),
      expect: { rejects: 'NOT_FOUND' },
    }),
    vector({
      method: 'updateMetadata',
      kind: 'same-key',
      name: "updateMetadata of A's id once B has a row of its own with it: B's own row only",
      run: async (b, h) => {
        const main = rowOf(h, 384);
        await b.vectors.upsert([{ id: main.id, scope: 'b-own', vector: main.vector, metadata: { mine: 'b' } }]);
        return b.vectors.updateMetadata(main.id, { n: 9, secret: null });
      },
      expect: {
        check(result, _b, h) {
          expect(result).toMatchObject({ id: rowOf(h, 384).id, scope: 'b-own', dimensions: 384 });
          expect(result.metadata).toEqual({ mine: 'b', n: 9 });
        },
      },
    }),
    // delete
    vector({
      method: 'delete',
      kind: 'delete',
      name: "delete A's ids (every table): 0",
      run: (b, h) => b.vectors.delete(h.ids),
      expect: { resolves: 0 },
    }),
    vector({
      method: 'delete',
      kind: 'delete',
      name: "delete A's ids upper-cased: 0",
      run: (b, h) => b.vectors.delete(h.ids.map((id) => id.toUpperCase())),
      expect: { resolves: 0 },
    }),
    vector({
      method: 'delete',
      kind: 'delete',
      name: "delete A's ids once B has a row of its own with one of them: B's own (1)",
      run: async (b, h) => {
        const big = rowOf(h, 3072);
        await b.vectors.upsert([{ id: big.id, scope: h.scope, vector: wave(3, 384), metadata: { mine: 'b' } }]);
        return { deleted: await b.vectors.delete(h.ids), left: await b.vectors.count() };
      },
      expect: { resolves: { deleted: 1, left: 0 } },
    }),
    // deleteWhere
    vector({
      method: 'deleteWhere',
      kind: 'bulk',
      name: "deleteWhere A's scope: 0",
      run: (b, h) => b.vectors.deleteWhere({ scope: h.scope }),
      expect: { resolves: 0 },
    }),
    vector({
      method: 'deleteWhere',
      kind: 'bulk',
      name: "deleteWhere A's other scope: 0",
      run: (b, h) => b.vectors.deleteWhere({ scope: h.otherScope }),
      expect: { resolves: 0 },
    }),
    vector({
      method: 'deleteWhere',
      kind: 'bulk',
      name: `deleteWhere A's scope of ${EXACT_MAX + 1} rows: 0`,
      run: (b, h) => b.vectors.deleteWhere({ scope: h.bulkScope }),
      expect: { resolves: 0 },
    }),
    vector({
      method: 'deleteWhere',
      kind: 'bulk',
      name: "deleteWhere filter on A's marker: 0",
      run: (b, h) => b.vectors.deleteWhere({ filter: { secret: h.marker } }),
      expect: { resolves: 0 },
    }),
    vector({
      method: 'deleteWhere',
      kind: 'bulk',
      name: "deleteWhere A's scope and a filter on A's marker: 0",
      run: (b, h) => b.vectors.deleteWhere({ scope: h.scope, filter: { secret: h.marker } }),
      expect: { resolves: 0 },
    }),
    vector({
      method: 'deleteWhere',
      kind: 'bulk',
      name: 'deleteWhere filter {} (every embedding), B having none: 0',
      run: (b) => b.vectors.deleteWhere({ filter: {} }),
      expect: { resolves: 0 },
    }),
    vector({
      method: 'deleteWhere',
      kind: 'bulk',
      name: "deleteWhere A's scope / filter {}, B having rows of its own there: B's own only",
      run: async (b, h) => {
        const put = () =>
          b.vectors.upsert([
            { scope: h.scope, vector: rowOf(h, 384).vector, metadata: { mine: 'b' } },
            { scope: h.scope, vector: rowOf(h, 3072).vector, metadata: { mine: 'b' } },
          ]);
        await put();
        const inScope = await b.vectors.deleteWhere({ scope: h.scope });
        await put();
        const onMarker = await b.vectors.deleteWhere({ filter: markerOrMine(h) });
        await put();
        const every = await b.vectors.deleteWhere({ filter: {} });
        return { inScope, onMarker, every, left: await b.vectors.count() };
      },
      expect: { resolves: { inScope: 2, onMarker: 2, every: 2, left: 0 } },
    }),
    // count: never A's rows
    vector({
      method: 'count',
      kind: 'list',
      name: 'count(): 0',
      run: (b) => b.vectors.count(),
      expect: { resolves: 0 },
    }),
    vector({
      method: 'count',
      kind: 'list',
      name: "count A's scope / other scope / filter on A's marker / both / filter {} / $exists: 0 each",
      run: (b, h) =>
        Promise.all([
          b.vectors.count({ scope: h.scope }),
          b.vectors.count({ scope: h.otherScope }),
          b.vectors.count({ scope: h.bulkScope }),
          b.vectors.count({ filter: { secret: h.marker } }),
          b.vectors.count({ scope: h.scope, filter: { secret: h.marker } }),
          b.vectors.count({ filter: {} }),
          b.vectors.count({ filter: { secret: { $exists: true } } }),
          b.vectors.count({ filter: { 'nested.secret': h.marker } }),
        ]),
      expect: { resolves: [0, 0, 0, 0, 0, 0, 0, 0] },
    }),
    vector({
      method: 'count',
      kind: 'list',
      name: "count with B's own rows in A's scope: B's own only",
      run: async (b, h) => {
        await b.vectors.upsert([
          { id: rowOf(h, 384).id, scope: h.scope, vector: rowOf(h, 384).vector, metadata: { mine: 'b' } },
          { scope: h.scope, vector: rowOf(h, 3072).vector, metadata: { mine: 'b' } },
          { scope: 'b-own', vector: wave(5, 768), metadata: { mine: 'b' } },
        ]);
        return Promise.all([
          b.vectors.count(),
          b.vectors.count({ scope: h.scope }),
          b.vectors.count({ filter: markerOrMine(h) }),
          b.vectors.count({ filter: { secret: h.marker } }),
          b.vectors.count({ scope: h.otherScope }),
        ]);
      },
      expect: { resolves: [3, 2, 3, 0, 0] },
    }),
    // stats: B's own zeros
    vector({
      method: 'stats',
      kind: 'list',
      name: "stats: B's own zeros in every table, no index of its own",
      run: (b) => b.vectors.stats(),
      expect: {
        check(result) {
          expect(Object.keys(result).sort()).toEqual(['1536', '3072', '384', '768']);
          for (const table of Object.values(result)) expect(table).toMatchObject({ rows: 0, tenantIndex: false });
        },
      },
    }),
    vector({
      method: 'stats',
      kind: 'list',
      name: "stats with B's own row under A's 384 id: 1 there, 0 elsewhere",
      run: async (b, h) => {
        const main = rowOf(h, 384);
        await b.vectors.upsert([{ id: main.id, scope: h.scope, vector: main.vector, metadata: { mine: 'b' } }]);
        return b.vectors.stats();
      },
      expect: {
        check(result) {
          expect([384, 768, 1536, 3072].map((dims) => result[dims as VectorDimension].rows)).toEqual([1, 0, 0, 0]);
        },
      },
    }),
  ],
  async control(a, h) {
    const main = rowOf(h, 384);
    const found = await a.vectors.search({ vector: main.vector, k: 1, filter: { secret: h.marker }, scope: h.scope });
    expect(found.hits.map((hit) => hit.id)).toEqual([main.id]);
    expect(found.hits[0]!.score).toBeCloseTo(1, 5);
    expect((await a.vectors.get(h.ids)).map((row) => row.id)).toEqual(h.ids);
    expect((await a.vectors.updateMetadata(main.id, { checked: true })).metadata).toMatchObject({
      secret: h.marker,
      checked: true,
    });
    expect(await a.vectors.count({ filter: { secret: h.marker } })).toBe(h.ids.length + EXACT_MAX + 1);
    expect((await a.vectors.search({ vector: wave(1, 384), k: 1000, scope: h.bulkScope })).route).not.toBe('exact');
    expect(await a.vectors.deleteWhere({ scope: h.bulkScope, filter: { secret: h.marker } })).toBe(EXACT_MAX + 1);
    const inOther = h.rows.filter((row) => row.scope === h.otherScope).length;
    expect(await a.vectors.deleteWhere({ scope: h.otherScope })).toBe(inOther);
    expect(await a.vectors.delete(h.ids)).toBe(h.ids.length - inOther);
    expect(await a.vectors.count()).toBe(0);
  },
});
