import type { Settings } from '../config/schema.js';
import { openDatabase, type OpenDatabaseOptions } from '../db/open.js';
import type { Database } from '../db/types.js';
import { migrationLimits, migrationSource, openMigrationDatabase } from '../migrate/connect.js';
import { migrate, type MigrationRunResult } from '../migrate/run.js';

/** Options of {@link openStorage}. */
export interface OpenStorageOptions extends OpenDatabaseOptions {
  /** Migrations directory for `auto_migrate`; default the package's. */
  migrationsDir?: string;
}

/** An open storage layer: the database handle, and what `auto_migrate` applied on open. */
export interface Storage {
  readonly db: Database;
  /** The migration run of `auto_migrate = true`, if it ran. */
  readonly migrated?: MigrationRunResult;
  close(): Promise<void>;
}

/**
 * Opens the storage layer the settings describe. With `storage.postgres.auto_migrate = true` it
 * first applies pending migrations (over a direct connection for `postgres`, the same handle for
 * the embedded and memory backends, which allow one).
 *
 * @example
 * const storage = await openStorage((await loadSettings()).settings);
 * try { … storage.db.withTenant('acme', …) … } finally { await storage.close(); }
 */
export async function openStorage(settings: Settings, options: OpenStorageOptions = {}): Promise<Storage> {
  const backend = options.backend ?? settings.storage.backend;
  const autoMigrate = settings.storage.postgres.auto_migrate;
  const limits = { ...migrationLimits(settings), ...migrationSource(settings, options.migrationsDir) };
  let migrated: MigrationRunResult | undefined;
  if (autoMigrate && backend === 'postgres') {
    const direct = await openMigrationDatabase(settings, options);
    try {
      migrated = await migrate(direct, limits);
    } finally {
      await direct.close();
    }
  }
  const db = await openDatabase(settings, options);
  if (autoMigrate && backend !== 'postgres') {
    try {
      migrated = await migrate(db, limits);
    } catch (error) {
      await db.close();
      throw error;
    }
  }
  return { db, ...(migrated ? { migrated } : {}), close: () => db.close() };
}
