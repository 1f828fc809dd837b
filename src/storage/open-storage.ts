import type { Settings } from '../config/schema.js';
import { openDatabase, type OpenDatabaseOptions } from '../db/open.js';
import type { Database } from '../db/types.js';
import { maintain, type MaintenanceReport } from '../maintenance/maintain.js';
import { migrationLimits, migrationSource, openMigrationDatabase } from '../migrate/connect.js';
import { migrate, type MigrationRunResult } from '../migrate/run.js';

/** Options of {@link openStorage}. */
export interface OpenStorageOptions extends OpenDatabaseOptions {
  /** Migrations directory for `auto_migrate`; default the package's. */
  migrationsDir?: string;
}

/** An open storage layer: the database handle, and what `auto_migrate` did on open. */
export interface Storage {
  readonly db: Database;
  /** The migration run of `auto_migrate = true`, if it ran. */
  readonly migrated?: MigrationRunResult;
  /** The maintenance that followed `auto_migrate`'s migration run, if it ran. */
  readonly maintenance?: MaintenanceReport;
  /**
   * Runs maintenance now (event-log partitions for the coming periods, retention), for a
   * long-running process: call it daily, or use `llmspell database maintain` from cron. It needs
   * the schema owner: on `postgres` it connects with `migration_url` (else `url`) for the run.
   */
  maintain(): Promise<MaintenanceReport>;
  close(): Promise<void>;
}

/**
 * Opens the storage layer the settings describe. With `storage.postgres.auto_migrate = true` it
 * first applies pending migrations and then runs maintenance (over the migration connection for
 * `postgres`, the same handle for the embedded and memory backends, which allow one); a
 * maintenance that meets a lock held too long reports `busy` and does not stop the open.
 *
 * @example
 * const storage = await openStorage((await loadSettings()).settings);
 * try { … storage.db.withTenant('acme', …) … } finally { await storage.close(); }
 */
export async function openStorage(settings: Settings, options: OpenStorageOptions = {}): Promise<Storage> {
  const backend = options.backend ?? settings.storage.backend;
  const autoMigrate = settings.storage.postgres.auto_migrate;
  const limits = { ...migrationLimits(settings), ...migrationSource(settings, options.migrationsDir) };
  const upkeep = async (db: Database) => {
    const migrated = await migrate(db, limits);
    return { migrated, maintenance: await maintain(db, settings) };
  };
  /** Runs `fn` on the owner's connection: a short-lived one for postgres, the storage's own for PGlite. */
  const asOwner = async <T>(db: Database | undefined, fn: (owner: Database) => Promise<T>): Promise<T> => {
    if (backend !== 'postgres' && db) return fn(db);
    const direct = await openMigrationDatabase(settings, options);
    try {
      return await fn(direct);
    } finally {
      await direct.close();
    }
  };
  let done: Awaited<ReturnType<typeof upkeep>> | undefined;
  if (autoMigrate && backend === 'postgres') done = await asOwner(undefined, upkeep);
  const db = await openDatabase(settings, options);
  if (autoMigrate && backend !== 'postgres') {
    try {
      done = await upkeep(db);
    } catch (error) {
      await db.close();
      throw error;
    }
  }
  return {
    db,
    ...(done ?? {}),
    maintain: () => asOwner(db, (owner) => maintain(owner, settings)),
    close: () => db.close(),
  };
}
