import { setTimeout as sleep } from 'node:timers/promises';
import type { Settings } from '../../../config/schema.js';
import type { Queryable } from '../../../db/types.js';
import { LOCK_NOT_AVAILABLE } from '../../../migrate/lock.js';

/** One thing maintenance did to the event log. */
export interface PartitionChange {
  action: 'created' | 'dropped' | 'purged';
  partition: string;
  rangeStart: Date | null;
  rangeEnd: Date | null;
  /** Rows moved out of the DEFAULT partition into a created one, or purged from it. */
  rows: number;
}

/** Options of {@link ensureEventPartitions}. */
export interface EventPartitionOptions {
  /** How many periods after the current one get a partition ahead of time; default 3. */
  periodsAhead?: number;
  /** The moment to maintain for; default now (tests pass other times). */
  at?: Date;
  /**
   * `lock_timeout` of each attempt, in ms; default `storage.postgres.maintenance_lock_timeout_secs`.
   * Event writers queue behind a waiting DDL lock, so this bounds how long they can be held up.
   */
  lockTimeoutMs?: number;
  /** Attempts before giving up as `busy`; default 4. */
  attempts?: number;
  /** Wait before the second attempt, doubled for each later one; default 250 ms. */
  backoffMs?: number;
  /**
   * Work out exactly what would change, then roll it back: nothing is kept. It takes the same
   * locks as a real run, for at most `lockTimeoutMs`, so it can report `busy` too.
   */
  dryRun?: boolean;
}

/** What event-log maintenance did: `busy` when every attempt met a lock held longer than `lockTimeoutMs`. */
export interface EventLogMaintenance {
  status: 'done' | 'busy';
  changes: PartitionChange[];
  attempts: number;
}

/** Whether the event log (and its maintenance function) exists yet. */
export async function hasEventLog(client: Queryable): Promise<boolean> {
  const { rows } = await client.query<{ present: boolean }>(
    "SELECT to_regprocedure('llmspell.ensure_event_partitions(text, integer, integer, timestamptz)') IS NOT NULL AS present",
  );
  return rows[0]?.present === true;
}

/**
 * Event-log maintenance (as the owner): creates the partitions of the current period and the
 * next ones per `partition_strategy`, moving any rows the DEFAULT partition holds for them, and
 * drops partitions past `retention_days`. Idempotent; run it after `migrate` and daily.
 *
 * Each attempt is one transaction under `SET LOCAL lock_timeout`, so it never stalls event
 * writers for longer than that: when a reader or writer holds a conflicting lock longer, the
 * attempt gives up, backs off, and after the last one the result is `busy` (nothing changed; run
 * it again later). Needs no session state, so it works through a transaction pooler.
 */
export async function ensureEventPartitions(
  client: Queryable,
  settings: Settings,
  options: EventPartitionOptions = {},
): Promise<EventLogMaintenance> {
  const log = settings.storage.postgres.event_log;
  const lockTimeoutMs = options.lockTimeoutMs ?? settings.storage.postgres.maintenance_lock_timeout_secs * 1000;
  const attempts = Math.max(1, options.attempts ?? 4);
  for (let attempt = 1; ; attempt++) {
    try {
      await client.query('BEGIN');
      await client.query("SELECT set_config('lock_timeout', $1, true)", [
        String(Math.max(1, Math.round(lockTimeoutMs))),
      ]);
      const { rows } = await client.query<{
        action: PartitionChange['action'];
        partition_name: string;
        range_start: Date | null;
        range_end: Date | null;
        rows_moved: string;
      }>('SELECT * FROM llmspell.ensure_event_partitions($1, $2, $3, $4)', [
        log.partition_strategy,
        log.retention_days,
        options.periodsAhead ?? 3,
        options.at ?? new Date(),
      ]);
      await client.query(options.dryRun ? 'ROLLBACK' : 'COMMIT');
      const changes = rows.map((row) => ({
        action: row.action,
        partition: row.partition_name,
        rangeStart: row.range_start,
        rangeEnd: row.range_end,
        rows: Number(row.rows_moved),
      }));
      return { status: 'done', changes, attempts: attempt };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      if ((error as { code?: unknown }).code !== LOCK_NOT_AVAILABLE) throw error;
      if (attempt >= attempts) return { status: 'busy', changes: [], attempts: attempt };
      await sleep((options.backoffMs ?? 250) * 2 ** (attempt - 1));
    }
  }
}
