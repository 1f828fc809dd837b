import { join } from 'node:path';
import type { Settings } from '../config/schema.js';
import { openDatabase, type OpenDatabaseOptions } from '../db/open.js';
import { checkPostgresUrl } from '../config/urls.js';
import type { Database } from '../db/types.js';
import { LlmspellError } from '../errors.js';
import type { Queryable } from '../db/types.js';
import { EXTENSION_HINT } from '../db/errors.js';
import { DEFAULT_MIGRATIONS_DIR, type MigrationTrack } from './catalog.js';
import type { MigrationLimits, MigrationSource } from './run.js';

/** The migration limits configured in `[storage.postgres]`. */
export function migrationLimits(settings: Settings): MigrationLimits {
  const pg = settings.storage.postgres;
  return {
    lockWaitMs: pg.migration_timeout_secs * 1000,
    statementTimeoutMs: pg.migration_timeout_secs * 1000,
    lockTimeoutMs: pg.migration_lock_timeout_secs * 1000,
  };
}

/** Options of {@link openMigrationDatabase}. */
export interface MigrationDatabaseOptions extends OpenDatabaseOptions {
  /**
   * Where `storage.postgres.migration_url` was set (as {@link OpenDatabaseOptions.urlOrigin} is
   * for `storage.postgres.url`), named in errors when that URL is the one used.
   */
  migrationUrlOrigin?: string;
}

/**
 * Opens the database migrations run on: for `postgres`, `migration_url` when set (a direct
 * connection beside a pooler), else `url`, with one connection. Transactional migrations are safe
 * through a transaction pooler too (each takes the migration lock for its own transaction); a
 * `--! no-transaction` one is refused when a pooler answers (the runner tells by behaviour).
 * Errors name the key of the URL used, and where it was set when `urlOrigin` /
 * `migrationUrlOrigin` say so.
 */
export async function openMigrationDatabase(
  settings: Settings,
  options: MigrationDatabaseOptions = {},
): Promise<Database> {
  const { migrationUrlOrigin, ...open } = options;
  const backend = open.backend ?? settings.storage.backend;
  if (backend !== 'postgres') return openDatabase(settings, open);
  const pg = settings.storage.postgres;
  const direct = pg.migration_url !== undefined;
  const urlKey = direct ? 'storage.postgres.migration_url' : 'storage.postgres.url';
  const urlOrigin = direct ? migrationUrlOrigin : open.urlOrigin;
  const url = checkPostgresUrl(direct ? pg.migration_url : pg.url, urlKey, {
    ...(open.env ? { env: open.env } : {}),
    ...(urlOrigin ? { origin: urlOrigin } : {}),
  });
  const { urlOrigin: _origin, ...rest } = open;
  return openDatabase(
    { ...settings, storage: { ...settings.storage, postgres: { ...pg, url, pool_size: 1 } } },
    { ...rest, backend, urlKey, ...(urlOrigin ? { urlOrigin } : {}) },
  );
}

/** Stops a run before anything is applied when the server has no vector extension at all. */
async function vectorPreflight(client: Queryable): Promise<void> {
  const { rows } = await client.query<{ name: string }>(
    "SELECT name FROM pg_available_extensions WHERE name IN ('vchord', 'vector')",
  );
  if (rows.length > 0) return;
  throw new LlmspellError(
    'DB_EXTENSION_MISSING',
    'the server has neither VectorChord (vchord) nor pgvector (vector), so the vector_embeddings tables cannot be created; nothing was migrated',
    {
      hint: `${EXTENSION_HINT}\nOr run without vector storage: llmspell config set storage.postgres.vector_embeddings.enabled false (enable it and migrate again later).`,
    },
  );
}

/**
 * The migrations a configuration asks for: the core track, then the vector track when
 * `storage.postgres.vector_embeddings.enabled`, with the parameters migrations read
 * (`llmspell.hnsw_m`, `llmspell.hnsw_ef_construction`, `llmspell.partition_strategy`,
 * `llmspell.retention_days`). `migrationsDir` replaces all of it with one core track (tests,
 * custom builds).
 */
export function migrationSource(settings: Settings, migrationsDir?: string): Required<MigrationSource> {
  const pg = settings.storage.postgres;
  const parameters = {
    hnsw_m: pg.vector_embeddings.hnsw_m,
    hnsw_ef_construction: pg.vector_embeddings.hnsw_ef_construction,
    partition_strategy: pg.event_log.partition_strategy,
    retention_days: pg.event_log.retention_days,
  };
  if (migrationsDir) return { tracks: [{ id: 'core', dir: migrationsDir }], parameters };
  const tracks: MigrationTrack[] = [{ id: 'core', dir: DEFAULT_MIGRATIONS_DIR }];
  if (pg.vector_embeddings.enabled)
    tracks.push({ id: 'vector', dir: join(DEFAULT_MIGRATIONS_DIR, 'vector'), preflight: vectorPreflight });
  return { tracks, parameters };
}

/**
 * Everything {@link migrate} and {@link rollback} need from the settings: the limits and the
 * migration source (tracks and parameters). `migrationsDir` replaces the package's migrations.
 *
 * @example
 * const db = await openMigrationDatabase(settings);
 * try { await migrate(db, migrationOptions(settings)); } finally { await db.close(); }
 */
export function migrationOptions(
  settings: Settings,
  migrationsDir?: string,
): MigrationLimits & Required<MigrationSource> {
  return { ...migrationLimits(settings), ...migrationSource(settings, migrationsDir) };
}
