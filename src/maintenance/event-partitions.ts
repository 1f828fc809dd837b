import type { Settings } from '../config/schema.js';
import type { Queryable } from '../db/types.js';

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
 */
export async function ensureEventPartitions(
  client: Queryable,
  settings: Settings,
  options: EventPartitionOptions = {},
): Promise<PartitionChange[]> {
  const log = settings.storage.postgres.event_log;
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
  return rows.map((row) => ({
    action: row.action,
    partition: row.partition_name,
    rangeStart: row.range_start,
    rangeEnd: row.range_end,
    rows: Number(row.rows_moved),
  }));
}
