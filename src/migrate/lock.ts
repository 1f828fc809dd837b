import { setTimeout as sleep } from 'node:timers/promises';
import type { Queryable } from '../db/types.js';
import { LlmspellError } from '../errors.js';

/** The advisory-lock key of llmspell migrations: "llmspell" in ASCII, as a bigint. */
export const MIGRATION_LOCK_KEY = 0x6c6c6d7370656c6cn;

/** Who holds the migration lock, from pg_locks and pg_stat_activity. */
export interface LockHolder {
  pid: number;
  applicationName: string;
  user: string;
  /** Seconds since the holder's connection opened. */
  connectedSecs: number;
  state: string;
}

async function findHolder(client: Queryable): Promise<LockHolder | undefined> {
  // A bigint advisory key is stored as classid (high 32 bits), objid (low 32 bits), objsubid 1.
  const high = Number(MIGRATION_LOCK_KEY >> 32n);
  const low = Number(MIGRATION_LOCK_KEY & 0xffffffffn);
  const { rows } = await client.query<{
    pid: number;
    application_name: string;
    usename: string;
    secs: number;
    state: string;
  }>(
    `SELECT a.pid, a.application_name, a.usename, a.state,
            floor(extract(epoch FROM now() - a.backend_start))::int AS secs
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid AND l.objsubid = 1`,
    [high, low],
  );
  const row = rows[0];
  return row
    ? {
        pid: row.pid,
        applicationName: row.application_name,
        user: row.usename,
        connectedSecs: row.secs,
        state: row.state,
      }
    : undefined;
}

function formatDuration(secs: number): string {
  if (secs < 60) return `${secs}s`;
  if (secs < 3600) return `${Math.floor(secs / 60)}m ${secs % 60}s`;
  return `${Math.floor(secs / 3600)}h ${Math.floor((secs % 3600) / 60)}m`;
}

/**
 * Runs `fn` holding the session-level migration lock of this connection. Waits for another
 * migrator at most `timeoutMs`; then fails with `LOCK_HELD`, naming the holder (pid,
 * application_name, user, how long it has been connected).
 */
export async function withMigrationLock<T>(client: Queryable, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [
      MIGRATION_LOCK_KEY.toString(),
    ]);
    if (rows[0]?.locked) break;
    if (Date.now() >= deadline) {
      const holder = await findHolder(client);
      const who = holder
        ? `pid ${holder.pid} (application_name "${holder.applicationName}", user ${holder.user}, connected for ${formatDuration(holder.connectedSecs)}, ${holder.state})`
        : 'another session';
      throw new LlmspellError(
        'LOCK_HELD',
        `another migration holds the lock: ${who}; waited ${formatDuration(Math.round(timeoutMs / 1000))}`,
        {
          hint: `Let it finish, or stop it (SELECT pg_terminate_backend(${holder?.pid ?? 'PID'});). storage.postgres.migration_timeout_secs sets how long to wait.`,
        },
      );
    }
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
  }
  try {
    return await fn();
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY.toString()]).catch(() => undefined);
  }
}
