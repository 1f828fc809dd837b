import pg from 'pg';
import { parse as parseConnectionString } from 'pg-connection-string';
import { ConfigError } from '../errors.js';
import type { Settings } from '../config/schema.js';
import { redactConnectionString } from '../config/redact.js';
import type { ConnectionSource, Lease } from './database.js';

/** Pool settings taken from `[storage.postgres]`. */
export type PostgresPoolSettings = Pick<Settings['storage']['postgres'], 'url' | 'pool_size' | 'pool_timeout_secs' | 'idle_timeout_secs' | 'max_lifetime_secs'>;

/**
 * Checks that a URL is one `pg` can use, naming the key in the error (never the password).
 * Returns the URL unchanged.
 */
export function checkPostgresUrl(url: string | undefined, key = 'storage.postgres.url'): string {
  if (!url) {
    throw new ConfigError('CONFIG_INVALID', `${key} is not set, and storage.backend is postgres`, {
      issues: [{ key, message: 'required when storage.backend = postgres' }],
      hint: `Set it: llmspell config set ${key} "postgresql://USER:PASSWORD@HOST:5432/DATABASE" (or export LLMSPELL_STORAGE_POSTGRES_URL).`,
    });
  }
  const bad = (why: string) =>
    new ConfigError('CONFIG_INVALID', `${key} is not a usable connection URL (${why}): ${redactConnectionString(url)}`, {
      issues: [{ key, message: why }],
      hint: 'Expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE?PARAMS (percent-encode special characters in the password).',
    });
  if (!/^postgres(ql)?:\/\//i.test(url)) throw bad('it must start with postgresql://');
  try {
    const parsed = parseConnectionString(url);
    if (!parsed.host && !parsed.database) throw bad('no host and no database');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw bad((error as Error).message);
  }
  return url;
}

/**
 * A `pg.Pool` to a real server: `pool_size` → max, `pool_timeout_secs` → acquire timeout,
 * `idle_timeout_secs`, `max_lifetime_secs`, `application_name = llmspell` unless the URL names one.
 */
export function createPostgresSource(settings: PostgresPoolSettings): ConnectionSource {
  const url = checkPostgresUrl(settings.url);
  const pool = new pg.Pool({
    connectionString: url,
    application_name: 'llmspell',
    max: settings.pool_size,
    connectionTimeoutMillis: settings.pool_timeout_secs * 1000,
    idleTimeoutMillis: settings.idle_timeout_secs * 1000,
    maxLifetimeSeconds: settings.max_lifetime_secs,
  });
  // An idle connection dropped by the server is removed from the pool by pg; without a listener the
  // 'error' event would crash the process. The next acquire opens a fresh connection.
  pool.on('error', () => undefined);
  let closing: Promise<void> | undefined;
  return {
    kind: 'postgres',
    target: redactConnectionString(url),
    async acquire(): Promise<Lease> {
      const client = await pool.connect();
      return { client, release: (discard) => client.release(discard === true) };
    },
    stats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: settings.pool_size }),
    close: () => (closing ??= pool.end()),
  };
}
