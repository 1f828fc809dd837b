import { check } from '../../../health/check.js';

const PERIOD_UNIT = { daily: 'day', weekly: 'week', monthly: 'month' } as const;

/** The event log has partitions for the current and the next period, and its DEFAULT partition is empty. */
export const eventPartitionsCheck = check('event-partitions', async ({ client, settings }) => {
  const { rows: present } = await client.query<{ ok: boolean }>(
    "SELECT to_regprocedure('llmspell.event_log_partitions()') IS NOT NULL AS ok",
  );
  if (!present[0]?.ok)
    return { id: 'event-partitions', status: 'skip', summary: 'Event log partitions: no event_log yet' };
  const strategy = settings.storage.postgres.event_log.partition_strategy;
  const { rows } = await client.query<{ current: boolean; next: boolean; partitions: number; can_count: boolean }>(
    `WITH p AS (SELECT * FROM llmspell.event_log_partitions() WHERE NOT is_default),
          period AS (SELECT date_trunc($1, now(), 'UTC') AS this, date_trunc($1, now(), 'UTC') + ('1 ' || $1)::interval AS next)
     SELECT EXISTS (SELECT 1 FROM p, period WHERE p.range_start <= period.this AND period.this < p.range_end) AS current,
            EXISTS (SELECT 1 FROM p, period WHERE p.range_start <= period.next AND period.next < p.range_end) AS next,
            (SELECT count(*)::int FROM p) AS partitions,
            has_table_privilege('llmspell.event_log_default', 'SELECT') AS can_count`,
    [PERIOD_UNIT[strategy]],
  );
  const row = rows[0]!;
  // The application role may not read partitions: the DEFAULT partition is counted only by those who may.
  const defaultRows = row.can_count
    ? Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM llmspell.event_log_default')).rows[0]!.n)
    : null;
  const data = { strategy, partitions: row.partitions, current: row.current, next: row.next, defaultRows };
  const hint =
    'Run `llmspell database maintain` (schedule it daily): it creates upcoming partitions and moves rows out of the default one.';
  if (!row.current || !row.next) {
    const missing = [!row.current ? 'the current' : '', !row.next ? 'the next' : ''].filter(Boolean).join(' and ');
    return {
      id: 'event-partitions',
      status: 'warn',
      summary: `Event log has no ${strategy} partition for ${missing} period (events go to the DEFAULT partition)`,
      hint,
      data,
    };
  }
  if (defaultRows !== null && defaultRows > 0) {
    return {
      id: 'event-partitions',
      status: 'warn',
      summary: `Event log DEFAULT partition holds ${defaultRows} rows`,
      hint,
      data,
    };
  }
  return {
    id: 'event-partitions',
    status: 'ok',
    summary: `Event log partitions ready (${row.partitions} ${strategy}, current and next period covered)`,
    data,
  };
});
