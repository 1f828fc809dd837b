import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import type { Database } from '../../src/db/types.js';
import { compareVersions, PGVECTOR_MIN_SAFE } from '../../src/health/checks.js';
import { healthCheck } from '../../src/health/health-check.js';
import { migrationLimits, migrationSource } from '../../src/migrate/connect.js';
import { maintain } from '../../src/maintenance/maintain.js';
import { migrate } from '../../src/migrate/run.js';
import { openStorage, type Storage } from '../../src/storage/open-storage.js';
import { detectContainerRuntime } from '../helpers/containers.js';
import { createLoginRole } from '../helpers/postgres.js';
import { testSettings } from '../helpers/settings.js';

/**
 * The production image of the setup guide. Besides the schema and the health check, this file is
 * where VectorChord's search path is tested at all (nothing else in the suite has the vchordrq
 * access method): the probes worked out per search from the index's lists, the rebuilds of
 * maintenance as a table grows, the 3072 table's halfvec index, and a search through a rebuild.
 */
const IMAGE = 'ghcr.io/tensorchord/vchord-postgres:pg18-v0.5.3';

/**
 * Where a VectorChord server is: LLMSPELL_TEST_VCHORD_URL (the GitHub Actions service container),
 * or a container started here when a runtime answers; otherwise the reason to skip.
 */
async function vectorChordServer(): Promise<{ url: string; stop(): Promise<void> } | { skip: string }> {
  if (process.env.LLMSPELL_TEST_VCHORD_URL)
    return { url: process.env.LLMSPELL_TEST_VCHORD_URL, stop: async () => undefined };
  const runtime = await detectContainerRuntime();
  if (!runtime.available)
    return { skip: `no VectorChord server: LLMSPELL_TEST_VCHORD_URL is unset and ${runtime.reason}` };
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer(IMAGE)
    .withEnvironment({ POSTGRES_PASSWORD: 'vchord-test', POSTGRES_DB: 'llmspell' })
    .withCommand(['postgres', '-c', 'shared_preload_libraries=vchord'])
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  return {
    url: `postgresql://postgres:vchord-test@${container.getHost()}:${container.getMappedPort(5432)}/llmspell`,
    stop: async () => void (await container.stop()),
  };
}

const server = await vectorChordServer();
if ('skip' in server) console.warn(`skipped: ${server.skip}; these tests run on GitHub Actions (job "vectorchord")`);

describe.skipIf('skip' in server)(`VectorChord image (${IMAGE})`, () => {
  const url = 'url' in server ? server.url : '';
  const database = `llmspell_vchord_${process.pid}`;
  let databaseUrl: string;
  let db: Database;
  const settings = () => testSettings({ backend: 'postgres', url: databaseUrl });

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
    await admin.end();
    const parsed = new URL(url);
    parsed.pathname = `/${database}`;
    databaseUrl = parsed.toString();
    db = await openDatabase(settings());
    await migrate(db, { ...migrationLimits(settings()), ...migrationSource(settings()) });
  });
  afterAll(async () => {
    await db?.close();
    if ('stop' in server) await server.stop();
  });

  it('indexes every vector table with vchordrq', async () => {
    const { rows } = await db.query<{ table: string; method: string }>(
      `SELECT t.relname AS table, am.amname AS method FROM pg_index i
         JOIN pg_class t ON t.oid = i.indrelid JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_am am ON am.oid = x.relam
        WHERE t.relnamespace = 'llmspell'::regnamespace AND t.relname LIKE 'vector_embeddings_%' AND am.amname NOT IN ('btree')
        ORDER BY 1`,
    );
    expect(rows).toEqual(
      ['1536', '3072', '384', '768'].map((d) => ({ table: `vector_embeddings_${d}`, method: 'vchordrq' })),
    );
  });

  it('health-check reports VectorChord and pgvector with their versions', async () => {
    const report = await healthCheck(settings(), { timeoutMs: 10_000 });
    const vchord = report.checks.find((c) => c.id === 'vectorchord')!;
    expect(vchord).toMatchObject({ status: 'ok', data: { version: '0.5.3' } });
    const pgvector = report.checks.find((c) => c.id === 'pgvector')!;
    const version = String(pgvector.data?.version);
    expect(pgvector.status).toBe(compareVersions(version, PGVECTOR_MIN_SAFE) < 0 ? 'warn' : 'ok');
    expect(report.checks.find((c) => c.id === 'rls')).toMatchObject({ status: 'ok', data: { tables: 16 } });
  });

  it("finds a tenant's nearest neighbours, and only that tenant's", async () => {
    const vector = (x: number) => `[${Array.from({ length: 384 }, (_, i) => (i === 0 ? x : 0.01)).join(',')}]`;
    for (const [tenant, x] of [
      ['tenant-a', 1],
      ['tenant-b', 0.9],
    ] as const) {
      await db.withTenant(tenant, (tx) =>
        tx.query("INSERT INTO llmspell.vector_embeddings_384 (tenant_id, scope, embedding) VALUES ($1, 'test', $2)", [
          tenant,
          vector(x),
        ]),
      );
    }
    const found = await db.withTenant(
      'tenant-a',
      async (tx) =>
        (
          await tx.query<{ tenant_id: string }>(
            'SELECT tenant_id FROM llmspell.vector_embeddings_384 ORDER BY embedding <=> $1 LIMIT 5',
            [vector(0.95)],
          )
        ).rows,
    );
    expect(found).toEqual([{ tenant_id: 'tenant-a' }]);
  });

  describe('searches and maintenance on vchordrq', () => {
    let storage: Storage;
    let exactStorage: Storage;
    const role = `llmspell_vchord_it_${process.pid}`;
    const owner = (sql: string, values?: unknown[]) => db.query(sql, values);
    const probesOf = async (dims: number) =>
      (await owner(`SELECT llmspell.vchordrq_probes('llmspell.vector_embeddings_${dims}'::regclass, 10) AS probes`))
        .rows[0]!.probes as string | null;
    const indexDef = async (dims: number) =>
      (await owner(`SELECT pg_get_indexdef(to_regclass('llmspell.vector_embeddings_${dims}_embedding')) AS def`))
        .rows[0]!.def as string | null;
    /** 50 clusters of 384 numbers; a row is its cluster's centre plus noise. */
    const clusters = `CREATE TABLE IF NOT EXISTS public.centres AS
        SELECT c, (SELECT array_agg(random() * 2 - 1) FROM generate_series(1, 384) WHERE c > 0) AS v
          FROM generate_series(1, 50) c`;
    const noisy = (centre: string) =>
      `(SELECT array_agg(${centre}[i] + (random() - 0.5) * 0.4 ORDER BY i) FROM generate_series(1, 384) i)::real[]::vector(384)`;

    beforeAll(async () => {
      const login = await createLoginRole(databaseUrl, role, `pw-${process.pid}`, {
        memberOf: ['llmspell_app'],
        ifExists: 'alter',
      });
      const open = (vector_embeddings: Record<string, unknown>) =>
        openStorage(testSettings({ backend: 'postgres', url: login.url, postgres: { vector_embeddings } }));
      storage = await open({});
      exactStorage = await open({ exact_search_max_rows: 2 ** 31 - 1 });
    });
    afterAll(async () => {
      await storage?.close();
      await exactStorage?.close();
    });

    it('before any rows: no lists, so no probes; maintenance indexes the 3072 table through halfvec(3072)', async () => {
      expect(await probesOf(384)).toBe('');
      expect(await indexDef(3072)).not.toMatch(/halfvec/);
      const report = await maintain(db, settings());
      expect(report.vectorIndexes.rebuilt).toEqual([
        expect.objectContaining({ table: 'vector_embeddings_3072', from: [], lists: [], status: 'rebuilt' }),
      ]);
      expect(await indexDef(3072)).toMatch(/USING vchordrq \(\(\(embedding\)::halfvec\(3072\)\) halfvec_cosine_ops\)/);
      expect((await maintain(db, settings())).vectorIndexes.rebuilt).toEqual([]); // idempotent
      const plan = await db.withTenant('t', async (client) => {
        await client.query('SET LOCAL enable_seqscan = off');
        await client.query('SET LOCAL enable_sort = off');
        const vector = `[${Array.from({ length: 3072 }, (_, i) => (i % 7) / 7 + 0.01).join(',')}]`;
        const { rows } = await client.query(
          `EXPLAIN (FORMAT JSON) SELECT id FROM llmspell.vector_embeddings_3072 WHERE tenant_id = 't'
            ORDER BY embedding::halfvec(3072) <=> $1::halfvec(3072) LIMIT 5`,
          [vector],
        );
        return JSON.stringify(rows);
      });
      expect(plan).toContain('vector_embeddings_3072_embedding');
    });

    it('120,000 rows: maintenance divides the index into 240 lists, searches probe 24 of them and keep k rows and their recall', async () => {
      await owner(clusters);
      await owner(
        `INSERT INTO llmspell.vector_embeddings_384 (tenant_id, scope, embedding)
         SELECT CASE WHEN g % 10 = 0 THEN 'big' ELSE 'other-' || (g % 97) END, 's', ${noisy('centres.v')}
           FROM generate_series(1, 119998) g -- with the 2 rows of an earlier test: 120,000 JOIN centres ON centres.c = 1 + g % 50`,
      );
      await owner('ANALYZE llmspell.vector_embeddings_384');
      const report = await maintain(db, settings());
      expect(report.vectorIndexes.rebuilt).toEqual([
        expect.objectContaining({ table: 'vector_embeddings_384', from: [], lists: [240], status: 'rebuilt' }),
      ]);
      expect(await indexDef(384)).toMatch(/lists = \[240\]/);
      expect(await probesOf(384)).toBe('24');

      const queries = (await owner(`SELECT (${noisy('v')})::text AS q FROM centres WHERE c % 10 = 1`)).rows.map(
        (row) => JSON.parse(row.q as string) as number[],
      );
      let found = 0;
      for (const vector of queries) {
        const result = await storage.tenant('big').vectors.search({ vector, k: 10 });
        const exact = await exactStorage.tenant('big').vectors.search({ vector, k: 10 });
        expect(exact.route).toBe('exact');
        expect(['index', 'fallback']).toContain(result.route);
        expect(result.hits).toHaveLength(10);
        const truth = new Set(exact.hits.map((hit) => hit.id));
        found += result.hits.filter((hit) => truth.has(hit.id)).length;
      }
      console.warn(
        `vchordrq recall@10 over ${queries.length} queries of tenant "big": ${found / (queries.length * 10)}`,
      );
      expect(found / (queries.length * 10)).toBeGreaterThanOrEqual(0.95);
    }, 600_000);

    it("a rebuild's new index beside the old one (other levels): searches answer exactly; the next run swaps it in", async () => {
      const vector768 = (i: string) =>
        `(SELECT array_agg(sin(${i} * k) ORDER BY k) FROM generate_series(1, 768) k)::real[]::vector(768)`;
      await owner(
        `INSERT INTO llmspell.vector_embeddings_768 (tenant_id, scope, embedding)
         SELECT 'mid', 's', ${vector768('g')} FROM generate_series(1, 3000) g`,
      );
      await owner(
        `CREATE INDEX CONCURRENTLY vector_embeddings_768_embedding_next ON llmspell.vector_embeddings_768
           USING vchordrq (embedding vector_cosine_ops) WITH (options = $$[build.internal]\nlists = [4]$$)`,
      );
      expect(await probesOf(768)).toBeNull(); // two valid indexes, 0 and 1 levels: no value suits both
      const query = Array.from({ length: 768 }, (_, k) => Math.sin(1.5 * (k + 1)));
      const during = await storage.tenant('mid').vectors.search({ vector: query, k: 5 });
      expect(during.route).toBe('fallback');
      expect(during.hits).toHaveLength(5);

      const resumed = await maintain(db, settings());
      expect(resumed.vectorIndexes.rebuilt).toEqual([
        expect.objectContaining({ table: 'vector_embeddings_768', from: null, lists: [4], status: 'rebuilt' }),
      ]);
      expect(await probesOf(768)).toBe('1');
      const after = await storage.tenant('mid').vectors.search({ vector: query, k: 5 });
      expect(['index', 'fallback']).toContain(after.route);
      expect(after.hits).toHaveLength(5);
      // 3000 rows are under half the threshold: the next run divides it back to no lists.
      expect((await maintain(db, settings())).vectorIndexes.rebuilt).toEqual([
        expect.objectContaining({ table: 'vector_embeddings_768', from: [4], lists: [], status: 'rebuilt' }),
      ]);
      expect(await probesOf(768)).toBe('');
    }, 300_000);
  });
});
