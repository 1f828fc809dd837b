/**
 * PostgreSQL 15 to 18: what differs between majors works on each (the schema's version-specific
 * parts, the warning below 18), and a server below 15 is refused before anything is applied.
 * The deep schema, isolation, rollback and health tests run on every major from their own files.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import { healthCheck } from '../../src/health/health-check.js';
import { migrationOptions } from '../../src/migrate/connect.js';
import { migrate } from '../../src/migrate/run.js';
import { codeOf } from '../helpers/outcome.js';
import { testMajors } from '../helpers/postgres.js';
import { startPostgresServer, type PostgresServer } from '../helpers/postgres-server.js';
import { migratedPostgres, type MigratedDatabase } from '../helpers/schema.js';
import { testSettings } from '../helpers/settings.js';

describe.each(testMajors())('PostgreSQL %i', (major) => {
  let m: MigratedDatabase;
  beforeAll(async () => {
    m = await migratedPostgres({}, { major, fresh: true });
  });
  afterAll(() => m?.dispose());

  it('migrates the whole schema, with a warning below 18', async () => {
    expect(m.migrated!.done.length).toBeGreaterThanOrEqual(11);
    expect(m.migrated!.server).toMatchObject({
      versionNum: expect.any(Number),
      support: major >= 18 ? 'recommended' : 'supported',
    });
    expect(Math.floor(m.migrated!.server.versionNum / 10_000)).toBe(major);
  });

  it('makes time-ordered version 7 UUIDs for event ids', async () => {
    const ids = await m.db.withTenant('tenant-v7', async (tx) => {
      const made: string[] = [];
      for (let i = 0; i < 3; i++) {
        const { rows } = await tx.query<{ event_id: string }>(
          "INSERT INTO llmspell.event_log (tenant_id, event_type) VALUES ('tenant-v7', 'e') RETURNING event_id",
        );
        made.push(rows[0]!.event_id);
        await new Promise((resolve) => setTimeout(resolve, 3)); // the next millisecond
      }
      return made;
    });
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect([...ids].sort()).toEqual(ids);
    // The first 48 bits are the Unix time in milliseconds.
    const millis = Number.parseInt(ids[0]!.replace(/-/g, '').slice(0, 12), 16);
    expect(Math.abs(millis - Date.now())).toBeLessThan(60_000);
  });

  it('lets a non-superuser owner become the application role (SET membership on 16+, plain on 15)', async () => {
    const admin = new pg.Client({ connectionString: m.url! });
    await admin.connect();
    const owner = `llmspell_owner_${major}_${Date.now()}`;
    try {
      await admin.query(`CREATE ROLE ${owner} LOGIN PASSWORD 'owner-pass-123' CREATEROLE`);
      await admin.query(`CREATE DATABASE ${owner} OWNER ${owner}`);
      // From 16, CREATEROLE grants only roles it administers: an administrator grants the SET
      // membership once (the migration's hint says so). On 15 the owner grants it itself.
      if (major >= 16) await admin.query(`GRANT llmspell_app TO ${owner} WITH INHERIT FALSE, SET TRUE`);
      const url = new URL(m.url!);
      url.username = owner;
      url.password = 'owner-pass-123';
      url.pathname = `/${owner}`;
      const settings = testSettings({
        backend: 'postgres',
        url: url.toString(),
        postgres: { vector_embeddings: { enabled: false } },
      });
      const db = await openDatabase(settings);
      try {
        await migrate(db, migrationOptions(settings));
        const role = await db.withTenant(
          'tenant-a',
          async (tx) => (await tx.query('SELECT current_user AS r')).rows[0],
        );
        expect(role).toEqual({ r: 'llmspell_app' });
        const report = await healthCheck(settings, { timeoutMs: 10_000 });
        expect(report.checks.find((c) => c.id === 'app-role')?.status).toBe('ok');
        expect(report.checks.find((c) => c.id === 'connection')?.status).toBe(major >= 18 ? 'ok' : 'warn');
      } finally {
        await db.close();
      }
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${owner} WITH (FORCE)`);
      await admin.query(`DROP OWNED BY ${owner} CASCADE`).catch(() => undefined);
      await admin.query(`DROP ROLE IF EXISTS ${owner}`).catch(() => undefined);
      await admin.end();
    }
  });
});

describe('PostgreSQL 14 (below the supported range)', () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgresServer({ major: 14 });
  }, 120_000);
  afterAll(() => server?.stop());

  it('is refused by migrate before anything is applied, and fails the health check', async () => {
    const settings = testSettings({
      backend: 'postgres',
      url: server.url('postgres'),
      postgres: { vector_embeddings: { enabled: false } },
    });
    const db = await openDatabase(settings);
    try {
      const error = await migrate(db, migrationOptions(settings)).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'DB_VERSION_UNSUPPORTED', message: expect.stringMatching(/PostgreSQL 14/) });
      const { rows } = await db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_namespace WHERE nspname IN ('llmspell', 'llmspell_migrations')",
      );
      expect(rows).toEqual([{ n: 0 }]);
      expect(await codeOf(migrate(db, { ...migrationOptions(settings), dryRun: true }))).toBe('DB_VERSION_UNSUPPORTED');
    } finally {
      await db.close();
    }
    const report = await healthCheck(settings, { timeoutMs: 10_000 });
    expect(report.checks.find((c) => c.id === 'connection')).toMatchObject({ status: 'fail' });
    expect(report.status).toBe('unhealthy');
  });
});
