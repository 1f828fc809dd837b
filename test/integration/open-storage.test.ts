import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { migrationStatus } from '../../src/migrate/status.js';
import { migratedPostgres } from '../helpers/schema.js';
import { openStorage } from '../../src/storage/open-storage.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { testSettings } from '../helpers/settings.js';

const FIXTURE = new URL('../fixtures/migrations/basic', import.meta.url).pathname;

describe('openStorage with auto_migrate', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database?.drop());

  it('leaves a database alone by default, and refuses to open one that lacks migrations (MIGRATION_PENDING, saying what to run)', async () => {
    const opening = openStorage(testSettings({ backend: 'postgres', url: database.url }), { migrationsDir: FIXTURE });
    const error = await opening.then(
      () => undefined,
      (e: unknown) => e as { code?: string; hint?: string },
    );
    expect(error?.code).toBe('MIGRATION_PENDING');
    expect(error?.hint).toMatch(/llmspell database migrate.*auto_migrate/s);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      expect((await migrationStatus(client, [{ id: 'core', dir: FIXTURE }])).pending).toBe(3);
    } finally {
      await client.end();
    }
  });

  it('a fresh embedded database that was never migrated: MIGRATION_PENDING at open, not a role error at the first call', async () => {
    const root = await mkdtemp(join(tmpdir(), 'llmspell-test-unmigrated-'));
    try {
      const settings = testSettings({ backend: 'embedded', embeddedPath: join(root, 'pgdata') });
      const error = await openStorage(settings).then(
        () => undefined,
        (e: unknown) => e as { code?: string },
      );
      expect(error?.code).toBe('MIGRATION_PENDING');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it.each(['postgres', 'memory'] as const)('migrates on open when auto_migrate = true (%s)', async (backend) => {
    const settings = testSettings({ backend, url: database.url, postgres: { auto_migrate: true } });
    const storage = await openStorage(settings, { migrationsDir: FIXTURE });
    try {
      expect(storage.migrated?.done.length).toBe(3);
      const status = await migrationStatus(storage.db, [{ id: 'core', dir: FIXTURE }]);
      expect(status).toMatchObject({ applied: 3, pending: 0 });
      const rows = await storage.db.withTenant('tenant-a', (tx) =>
        tx.query('SELECT count(*)::int AS n FROM llmspell.notes'),
      );
      expect(rows.rows[0]).toEqual({ n: 0 });
    } finally {
      await storage.close();
    }
  });
});

describe('openStorage keeps the event log maintained', () => {
  it('maintains after migrating on open, and storage.maintain() on demand (postgres)', async () => {
    const m = await migratedPostgres();
    try {
      // Time passes: the partition of the next month is missing (as three months after a migrate).
      const admin = new pg.Client({ connectionString: m.url! });
      await admin.connect();
      const next = await admin.query<{ name: string }>(
        `SELECT partition_name AS name FROM llmspell.event_log_partitions()
          WHERE range_start = date_trunc('month', now(), 'UTC') + interval '1 month'`,
      );
      expect(next.rows).toHaveLength(1);
      await admin.query(`DROP TABLE llmspell.${pg.escapeIdentifier(next.rows[0]!.name)}`);
      await admin.end();
      const settings = testSettings({
        backend: 'postgres',
        url: m.url!,
        postgres: { auto_migrate: true, vector_embeddings: { enabled: false } },
      });
      const storage = await openStorage(settings);
      try {
        expect(storage.migrated?.done).toEqual([]);
        expect(storage.maintenance?.eventLog.status).toBe('done');
        expect(storage.maintenance?.eventLog.changes.map((c) => `${c.action} ${c.partition}`)).toEqual([
          `created ${next.rows[0]!.name}`,
        ]);
        const again = await storage.maintain();
        expect(again.eventLog).toEqual({ status: 'done', changes: [], attempts: 1 });
        expect(again.vectorIndexes.status).toBe('skipped'); // the postgres test servers have no pgvector
      } finally {
        await storage.close();
      }
    } finally {
      await m.dispose();
    }
  });
});
