/**
 * Opened storage layers (`openStorage`) over the real schema, on each backend the library tests
 * run on. Every target runs the stores as the application role or bypasses RLS on purpose:
 *
 * | target                 | backend                          | RLS applies? | tenant wall              |
 * |------------------------|----------------------------------|--------------|--------------------------|
 * | `postgres`             | PostgreSQL 18, NOSUPERUSER login in `llmspell_app` | yes (SET LOCAL ROLE) | RLS and the predicate |
 * | `postgres-15`          | PostgreSQL 15 (the oldest supported), the same login as `postgres` | yes | RLS and the predicate |
 * | `postgres-superuser`   | PostgreSQL 18 superuser, `enforce_tenant_isolation = false` | no | the `tenant_id = $tenant` predicate alone |
 * | `memory`               | PGlite in memory (from the run's migrated snapshot) | yes (SET LOCAL ROLE) | RLS and the predicate |
 * | `memory-superuser`     | PGlite, `enforce_tenant_isolation = false` | no | the predicate alone |
 * | `embedded`             | PGlite on disk, fresh (initdb + migrations: seconds) | yes | RLS and the predicate |
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openStorage, type Storage } from '../../src/storage/open-storage.js';
import type { StatementObserver } from '../../src/storage/mechanism/tenant-transaction.js';
import { pgliteSnapshot } from './pglite.js';
import { createLoginRole } from './postgres.js';
import { migratedPostgres } from './schema.js';
import { testSettings } from './settings.js';

/** The targets of {@link openStorageTarget}. */
export const STORAGE_TARGETS = [
  'postgres',
  'postgres-15',
  'postgres-superuser',
  'memory',
  'memory-superuser',
  'embedded',
] as const;
export type StorageTarget = (typeof STORAGE_TARGETS)[number];

/** An open storage layer for a test file, and how to take it down. */
export interface OpenedStorage {
  readonly target: StorageTarget;
  readonly storage: Storage;
  /** The superuser URL of the PostgreSQL database (postgres targets only), to look behind the library. */
  readonly adminUrl?: string;
  dispose(): Promise<void>;
}

/**
 * Opens `target` with extra `storage.postgres` settings. Open one per test file (in `beforeAll`):
 * the PostgreSQL ones clone the run's migrated template (tens of ms), `memory` loads the migrated
 * snapshot (about a second), `embedded` builds a data directory (several seconds).
 */
export async function openStorageTarget(
  target: StorageTarget,
  postgres: Record<string, unknown> = {},
  options: {
    /** On the PostgreSQL targets, set `migration_url` to the superuser URL: owner work (`forgetTenant`, `maintain`) runs there. */
    ownerUrl?: boolean;
    /** Told of every statement the storage runs (`openStorage(settings, { observer })`). */
    observer?: StatementObserver;
  } = {},
): Promise<OpenedStorage> {
  const superuser = target.endsWith('-superuser');
  const observing = options.observer === undefined ? {} : { observer: options.observer };
  const settingsFor = (backend: 'postgres' | 'memory' | 'embedded', url?: string, embeddedPath?: string) =>
    testSettings({
      backend,
      ...(url ? { url } : {}),
      ...(embeddedPath ? { embeddedPath } : {}),
      postgres: {
        vector_embeddings: { enabled: backend !== 'postgres' },
        ...(superuser ? { enforce_tenant_isolation: false } : {}),
        ...postgres,
      },
    });
  if (target.startsWith('postgres')) {
    const m = await migratedPostgres({}, { major: target === 'postgres-15' ? 15 : 18 });
    await m.db.close();
    const url = m.url!;
    let role: string | undefined;
    try {
      let loginUrl = url;
      if (!superuser) {
        role = `llmspell_it_storage_${randomBytes(4).toString('hex')}`;
        loginUrl = (await createLoginRole(url, role, randomBytes(12).toString('hex'), { memberOf: ['llmspell_app'] }))
          .url;
      }
      const settings = settingsFor('postgres', loginUrl);
      if (options.ownerUrl === true) settings.storage.postgres.migration_url = url;
      const storage = await openStorage(settings, observing);
      return {
        target,
        storage,
        adminUrl: url,
        async dispose() {
          await storage.close();
          if (role) await dropRole(url, role);
          await m.dispose();
        },
      };
    } catch (error) {
      if (role) await dropRole(url, role);
      await m.dispose();
      throw error;
    }
  }
  if (target === 'embedded') {
    const root = await mkdtemp(join(tmpdir(), 'llmspell-test-storage-'));
    const settings = settingsFor('embedded', undefined, join(root, 'pgdata'));
    settings.storage.postgres.auto_migrate = true; // a fresh data directory, migrated as it opens
    const storage = await openStorage(settings, observing).catch(async (error: unknown) => {
      await rm(root, { recursive: true, force: true });
      throw error;
    });
    return {
      target,
      storage,
      async dispose() {
        await storage.close();
        await rm(root, { recursive: true, force: true });
      },
    };
  }
  const snapshot = await pgliteSnapshot('migrated');
  const storage = await openStorage(settingsFor('memory'), {
    ...observing,
    ...(snapshot ? { memorySnapshot: snapshot } : {}),
  });
  return { target, storage, dispose: () => storage.close() };
}

async function dropRole(adminUrl: string, role: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP OWNED BY ${pg.escapeIdentifier(role)}`);
    await client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`);
  } finally {
    await client.end();
  }
}
