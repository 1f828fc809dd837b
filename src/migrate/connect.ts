import type { Settings } from '../config/schema.js';
import { openDatabase, type OpenDatabaseOptions } from '../db/open.js';
import { checkPostgresUrl } from '../db/postgres-source.js';
import type { Database } from '../db/types.js';
import { LlmspellError } from '../errors.js';
import type { MigrationLimits } from './run.js';

/**
 * Whether a URL points at a connection pooler rather than PostgreSQL itself: PgBouncer's port
 * 6432, a host named like one, or `pgbouncer=true` in the query. A heuristic; `migration_url`
 * is the way to be explicit.
 */
export function looksLikePooler(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.port === '6432' || /pgbouncer|pooler/i.test(parsed.hostname) || parsed.searchParams.get('pgbouncer') === 'true';
  } catch {
    return false;
  }
}

/** The migration limits configured in `[storage.postgres]`. */
export function migrationLimits(settings: Settings): MigrationLimits {
  const pg = settings.storage.postgres;
  return { lockWaitMs: pg.migration_timeout_secs * 1000, statementTimeoutMs: pg.migration_timeout_secs * 1000, lockTimeoutMs: pg.migration_lock_timeout_secs * 1000 };
}

/**
 * Opens the database migrations run on: for `postgres`, a direct connection
 * (`migration_url`, else `url`) — never a transaction-mode pooler, which breaks the session-level
 * migration lock. Refuses a URL that looks like a pooler unless `migration_url` is set.
 */
export async function openMigrationDatabase(settings: Settings, options: OpenDatabaseOptions = {}): Promise<Database> {
  const backend = options.backend ?? settings.storage.backend;
  if (backend !== 'postgres') return openDatabase(settings, options);
  const pg = settings.storage.postgres;
  const url = checkPostgresUrl(pg.migration_url ?? pg.url, pg.migration_url ? 'storage.postgres.migration_url' : 'storage.postgres.url');
  if (!pg.migration_url && looksLikePooler(url)) {
    throw new LlmspellError('POOLER_NOT_SUPPORTED', 'storage.postgres.url looks like a connection pooler (PgBouncer); migrations need a direct connection to PostgreSQL', {
      hint: 'Set storage.postgres.migration_url to the server itself, e.g. llmspell config set storage.postgres.migration_url "postgresql://USER:PASSWORD@HOST:5432/DATABASE". Transaction pooling breaks the session-level lock that keeps concurrent migrations apart.',
    });
  }
  return openDatabase({ ...settings, storage: { ...settings.storage, postgres: { ...pg, url, pool_size: 1 } } }, { ...options, backend });
}
