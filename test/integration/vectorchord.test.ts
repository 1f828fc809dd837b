import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import type { Database } from '../../src/db/types.js';
import { compareVersions, PGVECTOR_MIN_SAFE } from '../../src/health/checks.js';
import { healthCheck } from '../../src/health/health-check.js';
import { migrationLimits, migrationSource } from '../../src/migrate/connect.js';
import { migrate } from '../../src/migrate/run.js';
import { detectContainerRuntime } from '../helpers/containers.js';
import { testSettings } from '../helpers/settings.js';

/** The production image of the setup guide. */
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
});
