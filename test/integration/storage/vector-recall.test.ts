/**
 * Search keeps its promise under tenants and filters: k rows whenever k rows match, at recall@10
 * ≥ 0.95 against an exact search computed here in JavaScript, for tenants holding 0.1% (share-01), 0.5% (share-05), 5%
 * and 40% of a 10,000 × 384 table of clustered low-rank vectors, with and without a metadata
 * filter matching 10% of the tenant's rows, on each route (forced through its configuration key)
 * and with and without per-tenant partial indexes.
 *
 * PGlite only (pgvector 0.8): the native test servers have no pgvector. The data is loaded once
 * (through `upsert`), dumped, and each configuration opens its own copy of the dump.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpMemoryDatabase } from '../../../src/db/open.js';
import { openStorage, type Storage } from '../../../src/storage/open-storage.js';
import type { SearchRoute, VectorEntry } from '../../../src/storage/modules/vectors/index.js';
import { cosineDistance, lowRankSpace, recall } from '../../helpers/low-rank.js';
import { pgliteSnapshot } from '../../helpers/pglite.js';
import { testSettings } from '../../helpers/settings.js';

const ROWS = 10_000;
const K = 10;
const QUERIES = 20;
/** The tenants under test and their share of the table; the rest of the rows belong to 40 others. */
const TENANTS = { 'share-01': 0.001, 'share-05': 0.005, 'share-5': 0.05, 'share-40': 0.4 } as const;
type Tenant = keyof typeof TENANTS;
const FILTER = { bucket: 7 } as const;

interface Row {
  id: string;
  tenant: string;
  bucket: number;
  vector: number[];
}

/** Rows as PostgreSQL stores them (float4), so that the exact answer here is the server's. */
const float4 = (vector: number[]) => vector.map((x) => Math.fround(x));

const space = lowRankSpace({ dims: 384, seed: 7 });
const rows: Row[] = [];
{
  const bounds: [string, number][] = [];
  let end = 0;
  for (const [tenant, share] of Object.entries(TENANTS)) bounds.push([tenant, (end += Math.round(share * ROWS))]);
  for (let i = 0; i < ROWS; i++) {
    const own = bounds.find(([, limit]) => i < limit);
    const tenant = own ? own[0] : `other-${i % 40}`;
    rows.push({ id: '', tenant, bucket: i % 10, vector: float4(space.next()) });
  }
}
const queries = Array.from({ length: QUERIES }, () => space.next());

/** The exact top k of `tenant` (filtered when `filtered`), by JavaScript. */
function exactTop(tenant: Tenant, filtered: boolean, query: number[]): string[] {
  return rows
    .filter((row) => row.tenant === tenant && (!filtered || row.bucket === FILTER.bucket))
    .map((row) => ({ id: row.id, distance: cosineDistance(query, row.vector) }))
    .sort((a, b) => a.distance - b.distance)
    .slice(0, K)
    .map((row) => row.id);
}

let loaded: Blob;
let indexed: Blob;
const opened: Storage[] = [];

async function open(snapshot: Blob, vectorEmbeddings: Record<string, unknown>): Promise<Storage> {
  const storage = await openStorage(
    testSettings({ backend: 'memory', postgres: { vector_embeddings: { ...vectorEmbeddings } } }),
    { memorySnapshot: snapshot },
  );
  opened.push(storage);
  return storage;
}

beforeAll(async () => {
  const migrated = await pgliteSnapshot('migrated');
  if (!migrated) throw new Error('the run built no migrated PGlite snapshot (LLMSPELL_TEST_NO_POSTGRES?)');
  const storage = await open(migrated, {});
  // The shared HNSW index is built after the load (as a bulk load would), from the migration's own
  // definition: a build is several times faster than inserting into the graph row by row.
  const { rows: definition } = await storage.db.query<{ sql: string }>(
    "SELECT pg_get_indexdef('llmspell.vector_embeddings_384_embedding'::regclass) AS sql",
  );
  await storage.db.query('DROP INDEX llmspell.vector_embeddings_384_embedding');
  const started = performance.now();
  const byTenant = new Map<string, Row[]>();
  for (const row of rows) byTenant.set(row.tenant, [...(byTenant.get(row.tenant) ?? []), row]);
  for (const [tenant, own] of byTenant) {
    const entries: VectorEntry[] = own.map((row) => ({
      scope: 'docs',
      vector: row.vector,
      metadata: { bucket: row.bucket },
    }));
    const ids = await storage.tenant(tenant).vectors.upsert(entries, { atomic: false });
    own.forEach((row, index) => (row.id = ids[index]!));
  }
  const upserted = performance.now();
  await storage.db.query(definition[0]!.sql);
  console.warn(
    `loaded ${ROWS} × 384 through upsert in ${Math.round(upserted - started)} ms, HNSW built in ${Math.round(performance.now() - upserted)} ms`,
  );
  loaded = await dumpMemoryDatabase(storage.db);
  // The same data with per-tenant partial indexes for the 5% and 40% tenants (a memory storage
  // is migrated and maintained as it opens).
  const withIndexes = await open(loaded, { tenant_index_min_rows: 400, max_tenant_indexes: 10 });
  await withIndexes.maintain();
  const own: Record<string, boolean> = {};
  for (const tenant of Object.keys(TENANTS))
    own[tenant] = (await withIndexes.tenant(tenant).vectors.stats())[384].tenantIndex;
  expect(own).toEqual({ 'share-01': false, 'share-05': false, 'share-5': true, 'share-40': true });
  indexed = await dumpMemoryDatabase(withIndexes.db);
}, 600_000);

afterAll(async () => {
  await Promise.all(opened.map((storage) => storage.close()));
});

/**
 * The configurations that force each route, and the default, which chooses. An index walk comes
 * back short (and falls back to exact) whenever fewer than k rows match; `max_scan_tuples: 1`
 * cuts every walk short, so that the fallback runs for every query that the first steps of the
 * walk do not answer: its answers must be exact. (That crippled walk's own answers are not held
 * to the recall bound: it is no configuration anyone would run.)
 */
const ROUTES: Record<string, { config: Record<string, unknown>; routes: readonly SearchRoute[] }> = {
  exact: { config: { exact_search_max_rows: 2 ** 31 - 1 }, routes: ['exact'] },
  index: { config: { exact_search_max_rows: 0 }, routes: ['index'] },
  fallback: { config: { exact_search_max_rows: 0, max_scan_tuples: 1 }, routes: ['index', 'fallback'] },
  default: { config: {}, routes: ['exact', 'index'] },
};

describe.each([
  ['without partial indexes', () => loaded],
  ['with partial indexes', () => indexed],
] as const)('search %s', (_name, snapshot) => {
  describe.each(Object.entries(ROUTES))('route %s', (routeName, { config, routes }) => {
    let storage: Storage;
    beforeAll(async () => {
      storage = await open(snapshot(), config);
    }, 120_000);

    it.each(
      (Object.keys(TENANTS) as Tenant[]).flatMap((tenant) => [
        [tenant, false],
        [tenant, true],
      ]) as [Tenant, boolean][],
    )('tenant %s, filtered %s: k rows whenever k match, recall@10 ≥ 0.95', async (tenant, filtered) => {
      const matching = rows.filter(
        (row) => row.tenant === tenant && (!filtered || row.bucket === FILTER.bucket),
      ).length;
      const seen = new Map<SearchRoute, number>();
      let total = 0;
      for (const query of queries) {
        const result = await storage
          .tenant(tenant)
          .vectors.search({ vector: query, k: K, ...(filtered ? { filter: FILTER } : {}) });
        const ids = result.hits.map((hit) => hit.id);
        expect(ids).toHaveLength(Math.min(K, matching));
        expect(result.complete).toBe(true);
        expect(matching < K && result.route === 'fallback' ? 'fallback' : routes).toContain(result.route);
        expect(new Set(ids).size).toBe(ids.length);
        seen.set(result.route, (seen.get(result.route) ?? 0) + 1);
        const found = recall(ids, exactTop(tenant, filtered, query));
        if (result.route !== 'index') expect(found).toBe(1);
        total += routeName === 'fallback' && result.route === 'index' ? 1 : found;
      }
      const mean = total / queries.length;
      console.warn(
        `${_name}, ${routeName}, ${tenant}${filtered ? ' filtered' : ''}: ${matching} match, recall@10 ${mean.toFixed(3)}, routes ${JSON.stringify(Object.fromEntries(seen))}`,
      );
      expect(mean).toBeGreaterThanOrEqual(0.95);
      if (routeName === 'exact') expect(mean).toBe(1);
    });
  });
});
