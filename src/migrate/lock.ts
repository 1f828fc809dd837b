import type { Queryable } from '../db/types.js';
import { LlmspellError } from '../errors.js';

/**
 * The advisory-lock key of llmspell migrations: "llmspell" in ASCII, as a bigint. Each migration
 * takes it for its own transaction (`pg_advisory_xact_lock`), so it works through a transaction
 * pooler and can never be left behind; a `--! no-transaction` migration holds it at session level
 * for its duration, on a direct connection only.
 */
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

/** The session holding the migration lock now, if any. */
export async function findLockHolder(client: Queryable): Promise<LockHolder | undefined> {
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
      WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid AND l.objsubid = 1
        -- the lock is per database: a migrator of another database on the server is not the holder
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
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
 * The `LOCK_HELD` error after waiting `waitedMs` for another migrator: names the holder (pid,
 * application_name, user, how long it has been connected) when it still holds the lock.
 */
export async function lockHeldError(client: Queryable, waitedMs: number): Promise<LlmspellError> {
  const holder = await findLockHolder(client).catch(() => undefined);
  const who = holder
    ? `pid ${holder.pid} (application_name "${holder.applicationName}", user ${holder.user}, connected for ${formatDuration(holder.connectedSecs)}, ${holder.state})`
    : 'another session';
  return new LlmspellError(
    'LOCK_HELD',
    `another migration holds the lock: ${who}; waited ${formatDuration(Math.round(waitedMs / 1000))}`,
    {
      hint: `Let it finish, or stop it (SELECT pg_terminate_backend(${holder?.pid ?? 'PID'});). storage.postgres.migration_timeout_secs sets how long to wait.`,
    },
  );
}

/**
 * Runs `fn` in a transaction holding the migration lock (`pg_advisory_xact_lock`), waiting for
 * another migrator at most `waitMs` (then `LOCK_HELD`, naming the holder). Transaction-scoped, so
 * it is released by COMMIT or ROLLBACK whatever stands in front of the server.
 */
export async function withMigrationTransaction<T>(client: Queryable, waitMs: number, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL lock_timeout = ${lockWait(waitMs)}`);
    await client.query('SET LOCAL statement_timeout = 0');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
    } catch (error) {
      if ((error as { code?: unknown }).code !== LOCK_NOT_AVAILABLE) throw error;
      await client.query('ROLLBACK');
      throw await lockHeldError(client, waitMs);
    }
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** SQLSTATE of a lock wait that ran past lock_timeout. */
export const LOCK_NOT_AVAILABLE = '55P03';

/** A lock wait in ms as SQL text: checked to be an integer PostgreSQL accepts (at least 1: 0 means forever). */
export function lockWait(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > 2_147_483_647) throw new Error(`invalid lock wait ${ms} ms`);
  return String(Math.max(1, ms));
}
