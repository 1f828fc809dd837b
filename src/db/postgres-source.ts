import pg from 'pg';
import type { Settings } from '../config/schema.js';
import { redactConnectionString } from '../config/redact.js';
import { checkPostgresUrl } from '../config/urls.js';
import { lend, type ConnectionSource, type Lease } from './database.js';

/** Pool settings taken from `[storage.postgres]`. */
export type PostgresPoolSettings = Pick<
  Settings['storage']['postgres'],
  'url' | 'pool_size' | 'pool_timeout_secs' | 'idle_timeout_secs' | 'max_lifetime_secs'
>;

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
      return lend(client, (discard) => client.release(discard));
    },
    stats: () => ({
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
      max: settings.pool_size,
    }),
    close: () => (closing ??= pool.end()),
  };
}
