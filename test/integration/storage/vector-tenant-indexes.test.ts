/**
 * Per-tenant partial HNSW indexes (`src/storage/modules/vectors/tenant-indexes.ts`), end to end through
 * `storage.maintain()`, `maintain()` and the `vector-indexes` health check: a large tenant gets
 * its own index (`WHERE tenant_id = '…'`, comment = tenant id), its searches walk it (EXPLAIN of
 * the statement as the library sends it, and the index's own scan counter), the cap keeps the
 * largest tenants, a shrinking tenant loses its index only under half the threshold
 * (hysteresis), an invalid index is dropped and built again, a dry run changes nothing, the
 * 3072-dimension table gets a `halfvec` expression index, the cap counts all four tables, a memory
 * storage builds the indexes as it opens (it is maintained then), and the migration's own indexes
 * (`vector_embeddings_<n>_tenant_scope` among them, whose names look alike) are never touched.
 *
 * PGlite only (pgvector 0.8, in process): the native test servers have no pgvector. Thresholds
 * are small (`tenant_index_min_rows: 50`, `max_tenant_indexes: 2`) so that the data loads in a
 * second or two; each `describe` opens its own memory database from the run's migrated snapshot.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Settings } from '../../../src/config/schema.js';
import type { Queryable } from '../../../src/db/types.js';
import type { CheckResult } from '../../../src/health/checks.js';
import { vectorIndexesCheck } from '../../../src/storage/modules/vectors/health.js';
import { maintain } from '../../../src/maintenance/maintain.js';
import type { Storage } from '../../../src/storage/open-storage.js';
import * as sql from '../../../src/storage/modules/vectors/sql.js';
import { countTenantIndexes, tenantIndexName } from '../../../src/storage/modules/vectors/tenant-indexes.js';
import type { VectorDimension } from '../../../src/storage/modules/vectors/types.js';
import { cosineDistance, lowRankSpace } from '../../helpers/low-rank.js';
import { openStorageTarget, type OpenedStorage } from '../../helpers/storage.js';
import { testSettings } from '../../helpers/settings.js';

const MIN_ROWS = 50;
const MAX_INDEXES = 2;
/** The `vector_embeddings` settings of every storage here (the search settings as the library's defaults). */
const VECTOR_CONFIG = { tenant_index_min_rows: MIN_ROWS, max_tenant_indexes: MAX_INDEXES, exact_search_max_rows: 0 };

/** The settings `openStorageTarget('memory', …)` builds, for calls that take settings themselves. */
function settingsFor(vectorEmbeddings: Record<string, unknown> = VECTOR_CONFIG): Settings {
  return testSettings({ backend: 'memory', postgres: { vector_embeddings: { enabled: true, ...vectorEmbeddings } } });
}

async function open(vectorEmbeddings: Record<string, unknown> = VECTOR_CONFIG): Promise<OpenedStorage> {
  return openStorageTarget('memory', { vector_embeddings: vectorEmbeddings });
}

/** Rows as PostgreSQL stores them (float4), so that distances computed here are the server's. */
const float4 = (vector: number[]) => vector.map((x) => Math.fround(x));
const spaces = new Map<number, ReturnType<typeof lowRankSpace>>();
const draw = (dims: VectorDimension = 384) => {
  if (!spaces.has(dims)) spaces.set(dims, lowRankSpace({ dims, seed: dims }));
  return float4(spaces.get(dims)!.next());
};

/** Stores `count` vectors for `tenant` and returns their ids and vectors. */
async function load(storage: Storage, tenant: string, count: number, dims: VectorDimension = 384) {
  const vectors = Array.from({ length: count }, () => draw(dims));
  const ids = await storage.tenant(tenant).vectors.upsert(vectors.map((vector) => ({ scope: 'docs', vector })));
  return ids.map((id, i) => ({ id, vector: vectors[i]! }));
}

interface IndexRow {
  name: string;
  table: string;
  definition: string;
  predicate: string | null;
  valid: boolean;
  comment: string | null;
}

/** The partial vector indexes in the catalog, by name. */
async function tenantIndexes(storage: Storage): Promise<IndexRow[]> {
  const { rows } = await storage.db.query<IndexRow>(
    `SELECT c.relname AS name, t.relname AS "table", pg_get_indexdef(c.oid) AS definition,
            pg_get_expr(i.indpred, i.indrelid) AS predicate, i.indisvalid AS valid,
            obj_description(c.oid, 'pg_class') AS comment
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'llmspell' AND c.relname ~ '^vector_embeddings_[0-9]+_tenant_[0-9a-f]{24}$'
      ORDER BY c.relname`,
  );
  return rows;
}

/** The migration's own indexes of the vector tables (every index but the partial ones), sorted. */
async function migrationIndexes(storage: Storage): Promise<string[]> {
  const { rows } = await storage.db.query<{ name: string }>(
    `SELECT indexname AS name FROM pg_indexes
      WHERE schemaname = 'llmspell' AND tablename LIKE 'vector_embeddings_%'
        AND indexname !~ '^vector_embeddings_[0-9]+_tenant_[0-9a-f]{24}$'
      ORDER BY indexname`,
  );
  return rows.map((row) => row.name);
}

/** What `migrations/vector/0001` creates on each table: the key, the tenant/scope btree, the shared HNSW index. */
const MIGRATION_INDEXES = [384, 768, 1536, 3072]
  .flatMap((dims) => ['pkey', 'tenant_scope', 'embedding'].map((suffix) => `vector_embeddings_${dims}_${suffix}`))
  .sort();

/** The tenants that have a valid partial index on the `dims` table, sorted. */
async function indexedTenants(storage: Storage, dims: VectorDimension = 384): Promise<string[]> {
  return (await tenantIndexes(storage))
    .filter((row) => row.table === `vector_embeddings_${dims}` && row.valid)
    .map((row) => row.comment!)
    .sort();
}

/** Runs the `vector-indexes` health check on the storage's database. */
function runCheck(storage: Storage, settings: Settings): Promise<CheckResult> {
  return storage.db.withClient((client: Queryable) =>
    vectorIndexesCheck.run({ db: storage.db, client, settings, tracks: [] }),
  );
}

/**
 * EXPLAIN of the index-route search statement, as the store sends it: as the tenant (the app
 * role, `app.current_tenant_id`), after the `SET LOCAL`s the store sends, with the statement's
 * text and its parameters in the statement's order (`$1` the tenant).
 */
async function explainSearch(storage: Storage, tenant: string, query: number[], dims: VectorDimension = 384) {
  const statement = sql.byDimension[dims].index;
  const settings = settingsFor().storage.postgres.vector_embeddings;
  const params: Record<string, unknown> = { vector: `[${query.join(',')}]`, k: 10, withVectors: false };
  return storage.db.withTenant(tenant, async (client) => {
    await client.query(`SET LOCAL hnsw.ef_search = ${settings.ef_search}`);
    await client.query(`SET LOCAL hnsw.iterative_scan = ${settings.iterative_scan}`);
    await client.query(`SET LOCAL hnsw.max_scan_tuples = ${settings.max_scan_tuples}`);
    await client.query('SET LOCAL enable_sort = off');
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (COSTS OFF) ${statement.text}`, [
      tenant,
      ...statement.order.map((name) => params[name] ?? null),
    ]);
    return rows.map((row) => row['QUERY PLAN']).join('\n');
  });
}

/** The index an EXPLAIN walks (`Index Scan using <name>`). */
const scannedIndex = (plan: string) => /Index Scan using (\S+)/.exec(plan)?.[1];

/** How many scans the index has had (cumulative statistics, flushed first). */
async function indexScans(storage: Storage, index: string): Promise<number> {
  await storage.db.query('SELECT pg_stat_force_next_flush()');
  await storage.db.query('SELECT 1');
  const { rows } = await storage.db.query<{ scans: string }>(
    `SELECT idx_scan AS scans FROM pg_stat_user_indexes WHERE schemaname = 'llmspell' AND indexrelname = $1`,
    [index],
  );
  expect(rows, `statistics of ${index}`).toHaveLength(1);
  return Number(rows[0]!.scans);
}

describe('a large tenant gets a partial index', () => {
  let opened: OpenedStorage;
  let storage: Storage;
  let big: Awaited<ReturnType<typeof load>>;
  const index = tenantIndexName(384, 'big-tenant');

  beforeAll(async () => {
    opened = await open();
    storage = opened.storage;
    big = await load(storage, 'big-tenant', 120);
    await load(storage, 'small-tenant', 20);
    // Between half the threshold and the threshold without an index: too small to get one.
    await load(storage, 'middle-tenant', 40);
  });
  afterAll(() => opened?.dispose());

  it("has none before maintenance; the maintenance of the open left the migration's indexes alone", async () => {
    expect(storage.maintenance?.vectorIndexes).toEqual({ status: 'done', changes: [], indexes: 0, rebuilt: [] });
    expect(await tenantIndexes(storage)).toEqual([]);
    expect(await migrationIndexes(storage)).toEqual(MIGRATION_INDEXES);
    expect((await storage.tenant('big-tenant').vectors.stats())[384]).toEqual({
      rows: 120,
      index: 'hnsw',
      tenantIndex: false,
    });
    expect(await runCheck(storage, settingsFor())).toMatchObject({
      id: 'vector-indexes',
      status: 'ok',
      data: { indexes: 0, invalid: 0, max: MAX_INDEXES, minRows: MIN_ROWS },
    });
  });

  it('a dry run reports the plan and changes nothing', async () => {
    const report = await maintain(storage.db, settingsFor(), { dryRun: true });
    expect(report.vectorIndexes).toEqual({
      status: 'done',
      changes: [{ action: 'created', table: 'vector_embeddings_384', index, tenant: 'big-tenant', rows: 120 }],
      indexes: 1,
      rebuilt: [],
    });
    expect(await tenantIndexes(storage)).toEqual([]);
  });

  it('storage.maintain() creates it for the tenant with at least tenant_index_min_rows, and only for it', async () => {
    const report = await storage.maintain();
    expect(report.vectorIndexes).toEqual({
      status: 'done',
      changes: [{ action: 'created', table: 'vector_embeddings_384', index, tenant: 'big-tenant', rows: 120 }],
      indexes: 1,
      rebuilt: [],
    });
    expect(index).toMatch(/^vector_embeddings_384_tenant_[0-9a-f]{24}$/);
    expect(await countTenantIndexes(storage.db)).toBe(1);
  });

  it('the index is in the catalog: partial on the tenant, valid, HNSW with the configured build settings, commented with the tenant id', async () => {
    const rows = await tenantIndexes(storage);
    expect(rows).toEqual([
      {
        name: index,
        table: 'vector_embeddings_384',
        definition: expect.stringContaining('USING hnsw (embedding vector_cosine_ops)') as string,
        predicate: "(tenant_id = 'big-tenant'::text)",
        valid: true,
        comment: 'big-tenant',
      },
    ]);
    expect(rows[0]!.definition).toContain("WITH (m='16', ef_construction='128')");
    const { rows: viaView } = await storage.db.query<{ indexdef: string }>(
      `SELECT indexdef FROM pg_indexes WHERE schemaname = 'llmspell' AND indexname = $1`,
      [index],
    );
    expect(viaView[0]?.indexdef).toMatch(/WHERE \(tenant_id = 'big-tenant'::text\)$/);
  });

  it('stats() says which tenant has its own index', async () => {
    expect((await storage.tenant('big-tenant').vectors.stats())[384]).toEqual({
      rows: 120,
      index: 'hnsw',
      tenantIndex: true,
    });
    expect((await storage.tenant('small-tenant').vectors.stats())[384].tenantIndex).toBe(false);
    expect((await storage.tenant('middle-tenant').vectors.stats())[384].tenantIndex).toBe(false);
    // Only the 384 table: the tenant has no rows (and no index) in the others.
    const stats = await storage.tenant('big-tenant').vectors.stats();
    expect([stats[768].tenantIndex, stats[1536].tenantIndex, stats[3072].tenantIndex]).toEqual([false, false, false]);
  });

  it('a second run changes nothing (idempotent)', async () => {
    const before = await tenantIndexes(storage);
    const report = await storage.maintain();
    expect(report.vectorIndexes).toEqual({ status: 'done', changes: [], indexes: 1, rebuilt: [] });
    expect(await tenantIndexes(storage)).toEqual(before);
    const dry = await maintain(storage.db, settingsFor(), { dryRun: true });
    expect(dry.vectorIndexes).toEqual({ status: 'done', changes: [], indexes: 1, rebuilt: [] });
  });

  it('the index-route statement walks the partial index for its tenant and the shared index for another', async () => {
    const query = draw();
    const own = await explainSearch(storage, 'big-tenant', query);
    expect(scannedIndex(own), own).toBe(index);
    const other = await explainSearch(storage, 'small-tenant', query);
    expect(scannedIndex(other), other).toBe('vector_embeddings_384_embedding');
    expect(other).toContain("Filter: (tenant_id = 'small-tenant'::text)");
  });

  it('index-route searches of the big tenant walk its index and return the exact top 10', async () => {
    const scansBefore = await indexScans(storage, index);
    const sharedBefore = await indexScans(storage, 'vector_embeddings_384_embedding');
    const queries = Array.from({ length: 5 }, () => draw());
    for (const query of queries) {
      const result = await storage.tenant('big-tenant').vectors.search({ vector: query, k: 10 });
      expect(result.route).toBe('index');
      expect(result.complete).toBe(true);
      const exact = big
        .map((row) => ({ id: row.id, distance: cosineDistance(query, row.vector) }))
        .sort((a, b) => a.distance - b.distance)
        .slice(0, 10)
        .map((row) => row.id);
      expect(result.hits.map((hit) => hit.id)).toEqual(exact);
    }
    expect(await indexScans(storage, index)).toBe(scansBefore + queries.length);
    expect(await indexScans(storage, 'vector_embeddings_384_embedding')).toBe(sharedBefore);
  });

  it('the health check counts it', async () => {
    const result = await runCheck(storage, settingsFor());
    expect(result).toMatchObject({
      id: 'vector-indexes',
      status: 'ok',
      data: { indexes: 1, invalid: 0, max: MAX_INDEXES, minRows: MIN_ROWS },
    });
    expect(result.summary).toContain('1');
  });

  it('a memory storage opened from a dump of this database builds the indexes as it opens (auto-maintenance)', async () => {
    // Dropped first, so that the open has something to do.
    await storage.db.query(`DROP INDEX llmspell.${index}`);
    const { dumpMemoryDatabase } = await import('../../../src/db/open.js');
    const { openStorage } = await import('../../../src/storage/open-storage.js');
    const copy = await openStorage(settingsFor(), { memorySnapshot: await dumpMemoryDatabase(storage.db) });
    try {
      expect(copy.maintenance?.vectorIndexes.changes).toEqual([
        { action: 'created', table: 'vector_embeddings_384', index, tenant: 'big-tenant', rows: 120 },
      ]);
      expect(await indexedTenants(copy)).toEqual(['big-tenant']);
    } finally {
      await copy.close();
    }
    expect((await storage.maintain()).vectorIndexes.changes).toHaveLength(1);
  });
});

describe('the cap (max_tenant_indexes) and the hysteresis', () => {
  let opened: OpenedStorage;
  let storage: Storage;
  const ids: Record<string, string[]> = {};
  const add = async (tenant: string, count: number) => {
    ids[tenant] = [...(ids[tenant] ?? []), ...(await load(storage, tenant, count)).map((row) => row.id)];
  };
  /** Deletes all but `keep` of the tenant's embeddings. */
  const shrink = async (tenant: string, keep: number) => {
    const own = ids[tenant]!;
    expect(await storage.tenant(tenant).vectors.delete(own.slice(keep))).toBe(own.length - keep);
    ids[tenant] = own.slice(0, keep);
    expect(await storage.tenant(tenant).vectors.count()).toBe(keep);
  };

  beforeAll(async () => {
    opened = await open();
    storage = opened.storage;
    await add('tenant-a', 150);
    await add('tenant-b', 100);
    await add('tenant-c', 60);
  });
  afterAll(() => opened?.dispose());

  it('three tenants over the threshold, two places: the two largest get indexes', async () => {
    const report = await storage.maintain();
    expect(report.vectorIndexes).toEqual({
      status: 'done',
      changes: [
        {
          action: 'created',
          table: 'vector_embeddings_384',
          index: tenantIndexName(384, 'tenant-a'),
          tenant: 'tenant-a',
          rows: 150,
        },
        {
          action: 'created',
          table: 'vector_embeddings_384',
          index: tenantIndexName(384, 'tenant-b'),
          tenant: 'tenant-b',
          rows: 100,
        },
      ],
      indexes: 2,
      rebuilt: [],
    });
    expect(await indexedTenants(storage)).toEqual(['tenant-a', 'tenant-b']);
    expect((await storage.tenant('tenant-c').vectors.stats())[384].tenantIndex).toBe(false);
  });

  it('a third tenant that outgrows one of them takes its place (reason cap); dry run first reports the same plan', async () => {
    await add('tenant-c', 60); // 120 > tenant-b's 100
    const expected = {
      status: 'done',
      changes: [
        {
          action: 'dropped',
          table: 'vector_embeddings_384',
          index: tenantIndexName(384, 'tenant-b'),
          tenant: 'tenant-b',
          rows: 100,
          reason: 'cap',
        },
        {
          action: 'created',
          table: 'vector_embeddings_384',
          index: tenantIndexName(384, 'tenant-c'),
          tenant: 'tenant-c',
          rows: 120,
        },
      ],
      indexes: 2,
      rebuilt: [],
    };
    const catalog = await tenantIndexes(storage);
    expect((await maintain(storage.db, settingsFor(), { dryRun: true })).vectorIndexes).toEqual(expected);
    expect(await tenantIndexes(storage)).toEqual(catalog);

    expect((await storage.maintain()).vectorIndexes).toEqual(expected);
    expect(await indexedTenants(storage)).toEqual(['tenant-a', 'tenant-c']);
    expect((await storage.tenant('tenant-b').vectors.stats())[384].tenantIndex).toBe(false);
    expect((await storage.tenant('tenant-c').vectors.stats())[384].tenantIndex).toBe(true);
    expect((await storage.maintain()).vectorIndexes.changes).toEqual([]);
  });

  it('a tenant between half the threshold and the threshold keeps its index; one without an index gets none', async () => {
    await shrink('tenant-b', 30); // no index, 30 < 50: stays without
    await shrink('tenant-c', 40); // index, 25 ≤ 40 < 50: keeps it
    const report = await storage.maintain();
    expect(report.vectorIndexes).toEqual({ status: 'done', changes: [], indexes: 2, rebuilt: [] });
    expect(await indexedTenants(storage)).toEqual(['tenant-a', 'tenant-c']);
  });

  it('a tenant exactly at half the threshold keeps it too', async () => {
    await shrink('tenant-c', MIN_ROWS / 2);
    expect((await storage.maintain()).vectorIndexes.changes).toEqual([]);
    expect(await indexedTenants(storage)).toEqual(['tenant-a', 'tenant-c']);
  });

  it('a tenant under half the threshold loses it (reason shrank)', async () => {
    await shrink('tenant-c', MIN_ROWS / 2 - 1);
    const report = await storage.maintain();
    expect(report.vectorIndexes).toEqual({
      status: 'done',
      changes: [
        {
          action: 'dropped',
          table: 'vector_embeddings_384',
          index: tenantIndexName(384, 'tenant-c'),
          tenant: 'tenant-c',
          rows: MIN_ROWS / 2 - 1,
          reason: 'shrank',
        },
      ],
      indexes: 1,
      rebuilt: [],
    });
    expect(await indexedTenants(storage)).toEqual(['tenant-a']);
  });

  it('a tenant that leaves (every row deleted) loses it, with 0 rows', async () => {
    await shrink('tenant-a', 0);
    const report = await storage.maintain();
    expect(report.vectorIndexes.changes).toEqual([
      {
        action: 'dropped',
        table: 'vector_embeddings_384',
        index: tenantIndexName(384, 'tenant-a'),
        tenant: 'tenant-a',
        rows: 0,
        reason: 'shrank',
      },
    ]);
    expect(report.vectorIndexes.indexes).toBe(0);
    expect(await tenantIndexes(storage)).toEqual([]);
  });

  it("leaves the migration's indexes (the `…_tenant_scope` btrees among them) alone through every run", async () => {
    expect(await migrationIndexes(storage)).toEqual(MIGRATION_INDEXES);
  });

  it('max_tenant_indexes = 0 builds none', async () => {
    await add('tenant-d', 60);
    const none = settingsFor({ ...VECTOR_CONFIG, max_tenant_indexes: 0 });
    expect((await maintain(storage.db, none)).vectorIndexes).toEqual({
      status: 'done',
      changes: [],
      indexes: 0,
      rebuilt: [],
    });
    expect(await tenantIndexes(storage)).toEqual([]);
  });
});

describe('an invalid index (an interrupted build)', () => {
  let opened: OpenedStorage;
  let storage: Storage;
  const index = tenantIndexName(384, 'tenant-x');
  const invalidate = (name: string) =>
    storage.db.query(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'llmspell.${name}'::regclass`);

  beforeAll(async () => {
    opened = await open();
    storage = opened.storage;
    await load(storage, 'tenant-x', 80);
  });
  afterAll(() => opened?.dispose());

  it('the health check warns, stats() and the planner ignore it, and maintenance drops it and builds it again', async () => {
    expect((await storage.maintain()).vectorIndexes.changes).toHaveLength(1);
    await invalidate(index);

    expect(await runCheck(storage, settingsFor())).toMatchObject({
      id: 'vector-indexes',
      status: 'warn',
      data: { indexes: 0, invalid: 1 },
      hint: expect.stringContaining('llmspell database maintain') as string,
    });
    expect(await countTenantIndexes(storage.db)).toBe(0);
    expect((await storage.tenant('tenant-x').vectors.stats())[384].tenantIndex).toBe(false);
    expect(scannedIndex(await explainSearch(storage, 'tenant-x', draw()))).toBe('vector_embeddings_384_embedding');

    const dry = await maintain(storage.db, settingsFor(), { dryRun: true });
    const expected = [
      {
        action: 'dropped',
        table: 'vector_embeddings_384',
        index,
        tenant: 'tenant-x',
        rows: 80,
        reason: 'invalid',
      },
      { action: 'created', table: 'vector_embeddings_384', index, tenant: 'tenant-x', rows: 80 },
    ];
    expect(dry.vectorIndexes).toEqual({ status: 'done', changes: expected, indexes: 1, rebuilt: [] });
    expect((await tenantIndexes(storage))[0]?.valid).toBe(false);

    expect((await storage.maintain()).vectorIndexes).toEqual({
      status: 'done',
      changes: expected,
      indexes: 1,
      rebuilt: [],
    });
    expect(await tenantIndexes(storage)).toMatchObject([{ name: index, valid: true, comment: 'tenant-x' }]);
    expect(await runCheck(storage, settingsFor())).toMatchObject({ status: 'ok', data: { indexes: 1, invalid: 0 } });
    expect(scannedIndex(await explainSearch(storage, 'tenant-x', draw()))).toBe(index);
  });

  it('one a build left behind before its comment was set is dropped and built again, and the report names its tenant', async () => {
    // What an interrupted `CREATE INDEX CONCURRENTLY` leaves: the index (invalid), without the
    // comment maintenance sets only once the build is done.
    await storage.db.query(`DROP INDEX llmspell.${index}`);
    await storage.db.query(
      `CREATE INDEX ${index} ON llmspell.vector_embeddings_384 USING hnsw (embedding vector_cosine_ops)
        WHERE tenant_id = 'tenant-x'`,
    );
    await invalidate(index);
    expect(await runCheck(storage, settingsFor())).toMatchObject({ status: 'warn', data: { invalid: 1 } });

    const report = await storage.maintain();
    expect(await tenantIndexes(storage)).toMatchObject([{ name: index, valid: true, comment: 'tenant-x' }]);
    expect(report.vectorIndexes.indexes).toBe(1);
    expect(report.vectorIndexes.changes.map((change) => [change.action, change.reason])).toEqual([
      ['dropped', 'invalid'],
      ['created', undefined],
    ]);
    // The drop is reported for the tenant whose index it was, with its rows.
    expect(report.vectorIndexes.changes[0]).toMatchObject({ index, tenant: 'tenant-x', rows: 80 });
  });

  it('a valid index whose comment is missing (a run stopped between the build and COMMENT) is not reported as shrunk', async () => {
    await storage.db.query(`COMMENT ON INDEX llmspell.${index} IS NULL`);
    const report = await storage.maintain();
    // Whatever it does (keep it and set the comment, or build it again), the tenant ends with its index…
    expect(await tenantIndexes(storage)).toMatchObject([{ name: index, valid: true, comment: 'tenant-x' }]);
    // …and the report does not say that a tenant of 80 rows fell under half of 50.
    expect(report.vectorIndexes.changes.filter((change) => change.reason === 'shrank')).toEqual([]);
  });

  it("leaves the migration's indexes alone", async () => {
    expect(await migrationIndexes(storage)).toEqual(MIGRATION_INDEXES);
  });
});

describe('the 3072-dimension table', () => {
  let opened: OpenedStorage;
  let storage: Storage;
  const index = tenantIndexName(3072, 'wide-tenant');

  beforeAll(async () => {
    opened = await open();
    storage = opened.storage;
    await load(storage, 'wide-tenant', 60, 3072);
    await load(storage, 'narrow-tenant', 10, 3072);
  });
  afterAll(() => opened?.dispose());

  it('a big tenant gets a halfvec expression partial index, which its searches walk', async () => {
    const report = await storage.maintain();
    expect(report.vectorIndexes).toEqual({
      status: 'done',
      changes: [{ action: 'created', table: 'vector_embeddings_3072', index, tenant: 'wide-tenant', rows: 60 }],
      indexes: 1,
      rebuilt: [],
    });
    const [row] = await tenantIndexes(storage);
    expect(row).toMatchObject({
      name: index,
      table: 'vector_embeddings_3072',
      predicate: "(tenant_id = 'wide-tenant'::text)",
      valid: true,
      comment: 'wide-tenant',
    });
    expect(row!.definition).toContain('USING hnsw (((embedding)::halfvec(3072)) halfvec_cosine_ops)');
    expect((await storage.tenant('wide-tenant').vectors.stats())[3072].tenantIndex).toBe(true);
    expect((await storage.tenant('wide-tenant').vectors.stats())[384].tenantIndex).toBe(false);

    const query = draw(3072);
    expect(scannedIndex(await explainSearch(storage, 'wide-tenant', query, 3072))).toBe(index);
    expect(scannedIndex(await explainSearch(storage, 'narrow-tenant', query, 3072))).toBe(
      'vector_embeddings_3072_embedding',
    );
    const result = await storage.tenant('wide-tenant').vectors.search({ vector: query, k: 5 });
    expect(result).toMatchObject({ route: 'index', complete: true });
    expect(result.hits).toHaveLength(5);
  });

  it('the cap spans the four tables: larger tenants of other tables take the places', async () => {
    await load(storage, 'tenant-768', 80, 768);
    await load(storage, 'wide-tenant', 70, 384); // the same tenant in another table: an index of its own there
    const report = await storage.maintain();
    expect(report.vectorIndexes).toEqual({
      status: 'done',
      changes: [
        {
          action: 'dropped',
          table: 'vector_embeddings_3072',
          index,
          tenant: 'wide-tenant',
          rows: 60,
          reason: 'cap',
        },
        {
          action: 'created',
          table: 'vector_embeddings_768',
          index: tenantIndexName(768, 'tenant-768'),
          tenant: 'tenant-768',
          rows: 80,
        },
        {
          action: 'created',
          table: 'vector_embeddings_384',
          index: tenantIndexName(384, 'wide-tenant'),
          tenant: 'wide-tenant',
          rows: 70,
        },
      ],
      indexes: 2,
      rebuilt: [],
    });
    const stats = await storage.tenant('wide-tenant').vectors.stats();
    expect([stats[384].tenantIndex, stats[3072].tenantIndex]).toEqual([true, false]);
    expect(await indexedTenants(storage, 768)).toEqual(['tenant-768']);
    expect(await migrationIndexes(storage)).toEqual(MIGRATION_INDEXES);
  });
});

describe('with the vector track disabled', () => {
  let opened: OpenedStorage;

  beforeAll(async () => {
    // The migrated snapshot has the vector tables; the setting alone turns the track off.
    opened = await open({ ...VECTOR_CONFIG, enabled: false });
  });
  afterAll(() => opened?.dispose());

  it('the health check skips and maintenance skips the vector indexes', async () => {
    const settings = settingsFor({ ...VECTOR_CONFIG, enabled: false });
    const result = await runCheck(opened.storage, settings);
    expect(result).toMatchObject({ id: 'vector-indexes', status: 'skip' });
    expect(result.summary).toMatch(/disabled/);
    expect((await opened.storage.maintain()).vectorIndexes).toEqual({
      status: 'skipped',
      changes: [],
      indexes: 0,
      rebuilt: [],
    });
    expect((await maintain(opened.storage.db, settings)).vectorIndexes.status).toBe('skipped');
  });
});
