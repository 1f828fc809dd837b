import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationStatus } from '../../src/migrate/status.js';
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

  it('leaves a database alone by default', async () => {
    const storage = await openStorage(testSettings({ backend: 'postgres', url: database.url }), {
      migrationsDir: FIXTURE,
    });
    try {
      expect(storage.migrated).toBeUndefined();
      expect((await migrationStatus(storage.db, [{ id: 'core', dir: FIXTURE }])).pending).toBe(3);
    } finally {
      await storage.close();
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
