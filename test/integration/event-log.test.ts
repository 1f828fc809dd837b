/**
 * Event-log partition maintenance (`ensureEventPartitions`, run as the owner) on PostgreSQL 18 and
 * PGlite, over the real schema: events of a period without a partition wait in the DEFAULT
 * partition, maintenance creates the partition and moves them into it, drops partitions past
 * retention, is idempotent, and never creates a partition that overlaps an existing one.
 *
 * The tests share one database per target and build on each other, in order: 2031 is far enough
 * ahead of the partitions the migration made (around now) that nothing else touches it.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Settings } from '../../src/config/schema.js';
import type { Database } from '../../src/db/types.js';
import { ensureEventPartitions, type PartitionChange } from '../../src/storage/modules/events/partitions.js';
import { migratedPglite, migratedPostgres, type MigratedDatabase } from '../helpers/schema.js';
import { testSettings } from '../helpers/settings.js';

const DAY_MS = 86_400_000;
const utc = (iso: string): Date => new Date(`${iso}Z`);

/** Retention long enough that nothing is dropped: these runs are about creating partitions. */
const KEEP_ALL = testSettings({ postgres: { event_log: { retention_days: 36_500 } } });

interface Partition {
  name: string;
  start: Date | null;
  end: Date | null;
  isDefault: boolean;
}

interface Event {
  eventId: string;
  partition: string;
}

const targets = {
  postgres: () => migratedPostgres(),
  pglite: () => migratedPglite(),
} satisfies Record<string, () => Promise<MigratedDatabase>>;

describe.each(Object.keys(targets) as Array<keyof typeof targets>)('event-log maintenance on %s', (kind) => {
  let m: MigratedDatabase;
  let db: Database;

  beforeAll(async () => {
    m = await targets[kind]();
    db = m.db;
  });
  afterAll(() => m?.dispose());

  const maintain = async (settings: Settings, at: Date, periodsAhead?: number): Promise<PartitionChange[]> => {
    const result = await db.withClient((client) =>
      ensureEventPartitions(client, settings, { at, ...(periodsAhead === undefined ? {} : { periodsAhead }) }),
    );
    expect(result.status).toBe('done');
    return result.changes;
  };

  async function partitions(): Promise<Partition[]> {
    const { rows } = await db.query<{
      partition_name: string;
      range_start: Date | null;
      range_end: Date | null;
      is_default: boolean;
    }>('SELECT * FROM llmspell.event_log_partitions()');
    return rows.map((row) => ({
      name: row.partition_name,
      start: row.range_start,
      end: row.range_end,
      isDefault: row.is_default,
    }));
  }

  /** Rows the DEFAULT partition holds in [from, to), read by the owner. */
  async function defaultRows(from: Date, to: Date): Promise<number> {
    const { rows } = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM llmspell.event_log_default WHERE emitted_at >= $1 AND emitted_at < $2',
      [from, to],
    );
    return rows[0]!.n;
  }

  /** The tenant's events of 2030 and later, read through the parent table as the application role. */
  async function tenantEvents(tenant: string): Promise<Event[]> {
    const { rows } = await db.withTenant(tenant, (tx) =>
      tx.query<{ event_id: string; partition: string }>(
        "SELECT event_id, tableoid::regclass::text AS partition FROM llmspell.event_log WHERE emitted_at >= '2030-01-01Z' ORDER BY emitted_at",
      ),
    );
    return rows.map((row) => ({ eventId: row.event_id, partition: row.partition }));
  }

  async function emit(tenant: string, at: Date): Promise<string> {
    const eventId = randomUUID();
    await db.withTenant(tenant, (tx) =>
      tx.query(
        "INSERT INTO llmspell.event_log (tenant_id, event_id, event_type, emitted_at) VALUES ($1, $2, 'agent.step', $3)",
        [tenant, eventId, at],
      ),
    );
    return eventId;
  }

  const march = { start: utc('2031-03-01T00:00:00'), end: utc('2031-04-01T00:00:00') };
  let eventsA: string[] = [];
  let eventB: string;

  it('keeps events of a period without a partition in the DEFAULT partition, readable through the parent', async () => {
    const covering = (await partitions()).filter(
      (p) => !p.isDefault && p.start! <= march.start && p.end! > march.start,
    );
    expect(covering).toEqual([]);

    eventsA = [
      await emit('tenant-a', utc('2031-03-01T00:00:00')),
      await emit('tenant-a', utc('2031-03-15T12:00:00')),
      await emit('tenant-a', utc('2031-03-31T23:59:59.999')),
    ];
    eventB = await emit('tenant-b', utc('2031-03-20T08:00:00'));

    expect(await tenantEvents('tenant-a')).toEqual(
      eventsA.map((eventId) => ({ eventId, partition: 'llmspell.event_log_default' })),
    );
    expect(await tenantEvents('tenant-b')).toEqual([{ eventId: eventB, partition: 'llmspell.event_log_default' }]);
    expect(await defaultRows(march.start, march.end)).toBe(4);
  });

  it("creates the period's partition, moving its rows out of the DEFAULT partition", async () => {
    const changes = await maintain(KEEP_ALL, utc('2031-03-10T09:30:00'));
    expect(changes).toEqual([
      { action: 'created', partition: 'event_log_20310301', rangeStart: march.start, rangeEnd: march.end, rows: 4 },
      {
        action: 'created',
        partition: 'event_log_20310401',
        rangeStart: utc('2031-04-01T00:00:00'),
        rangeEnd: utc('2031-05-01T00:00:00'),
        rows: 0,
      },
      {
        action: 'created',
        partition: 'event_log_20310501',
        rangeStart: utc('2031-05-01T00:00:00'),
        rangeEnd: utc('2031-06-01T00:00:00'),
        rows: 0,
      },
      {
        action: 'created',
        partition: 'event_log_20310601',
        rangeStart: utc('2031-06-01T00:00:00'),
        rangeEnd: utc('2031-07-01T00:00:00'),
        rows: 0,
      },
    ]);
    expect(await defaultRows(march.start, march.end)).toBe(0);
    expect(await tenantEvents('tenant-a')).toEqual(
      eventsA.map((eventId) => ({ eventId, partition: 'llmspell.event_log_20310301' })),
    );
    expect(await tenantEvents('tenant-b')).toEqual([{ eventId: eventB, partition: 'llmspell.event_log_20310301' }]);
  });

  it('is idempotent: the same run again changes nothing', async () => {
    const before = await partitions();
    expect(await maintain(KEEP_ALL, utc('2031-03-10T09:30:00'))).toEqual([]);
    expect(await partitions()).toEqual(before);
  });

  it('with the daily strategy, creates daily partitions only where no partition overlaps', async () => {
    const daily = testSettings({ postgres: { event_log: { partition_strategy: 'daily', retention_days: 36_500 } } });
    // 29 and 30 June lie in the monthly June partition; 1 and 2 July have none.
    const changes = await maintain(daily, utc('2031-06-29T12:00:00'), 3);
    expect(changes).toEqual([
      {
        action: 'created',
        partition: 'event_log_20310701',
        rangeStart: utc('2031-07-01T00:00:00'),
        rangeEnd: utc('2031-07-02T00:00:00'),
        rows: 0,
      },
      {
        action: 'created',
        partition: 'event_log_20310702',
        rangeStart: utc('2031-07-02T00:00:00'),
        rangeEnd: utc('2031-07-03T00:00:00'),
        rows: 0,
      },
    ]);
    // Back to monthly: July is partly covered by the daily partitions, so only the rest of it gets one.
    expect(await maintain(KEEP_ALL, utc('2031-07-10T00:00:00'), 0)).toEqual([
      {
        action: 'created',
        partition: 'event_log_20310703',
        rangeStart: utc('2031-07-03T00:00:00'),
        rangeEnd: utc('2031-08-01T00:00:00'),
        rows: 0,
      },
    ]);

    const ranged = (await partitions()).filter((p) => !p.isDefault);
    for (const [i, a] of ranged.entries()) {
      for (const b of ranged.slice(i + 1))
        expect(a.start! < b.end! && b.start! < a.end!, `${a.name} overlaps ${b.name}`).toBe(false);
    }
  });

  it('drops partitions that ended more than retention_days before `at`, and purges expired DEFAULT rows', async () => {
    const retention = testSettings({ postgres: { event_log: { retention_days: 30 } } });
    const at = utc('2031-07-25T00:00:00');
    const cutoff = new Date(at.getTime() - 30 * DAY_MS);
    const expired = await emit('tenant-a', utc('2030-01-15T00:00:00'));
    expect(await tenantEvents('tenant-a')).toContainEqual({
      eventId: expired,
      partition: 'llmspell.event_log_default',
    });

    const before = (await partitions()).filter((p) => !p.isDefault);
    const due = before.filter((p) => p.end! <= cutoff).map((p) => p.name);
    // The partitions the migration made (around now) and March to May 2031; June ends after the cutoff.
    expect(due).toEqual(expect.arrayContaining(['event_log_20310301', 'event_log_20310401', 'event_log_20310501']));
    expect(due).not.toContain('event_log_20310601');

    const changes = await maintain(retention, at, 0);
    expect(changes.filter((c) => c.action === 'created')).toEqual([]);
    const dropped = changes.filter((c) => c.action === 'dropped');
    expect(dropped.map((c) => c.partition).sort()).toEqual([...due].sort());
    for (const change of dropped) expect(change.rangeEnd!.getTime()).toBeLessThanOrEqual(cutoff.getTime());
    expect(changes.filter((c) => c.action === 'purged')).toEqual([
      { action: 'purged', partition: 'event_log_default', rangeStart: null, rangeEnd: cutoff, rows: 1 },
    ]);

    const after = await partitions();
    expect(after.filter((p) => !p.isDefault).map((p) => p.name)).toEqual(
      before.filter((p) => !due.includes(p.name)).map((p) => p.name),
    );
    expect(after.filter((p) => p.isDefault)).toHaveLength(1);
    // March's events went with their partition, the expired one with the purge.
    expect(await tenantEvents('tenant-a')).toEqual([]);
    expect(await tenantEvents('tenant-b')).toEqual([]);

    // And a second run finds nothing more to do.
    expect(await maintain(retention, at, 0)).toEqual([]);
  });

  const withLog = (eventLog: Partial<Settings['storage']['postgres']['event_log']>): Settings => ({
    ...m.settings,
    storage: {
      ...m.settings.storage,
      postgres: {
        ...m.settings.storage.postgres,
        event_log: { ...m.settings.storage.postgres.event_log, ...eventLog },
      },
    },
  });

  /** True when every instant in [from, to) is covered by exactly one non-default partition. */
  async function coveredWithoutGaps(from: Date, to: Date): Promise<boolean> {
    const parts = (await partitions())
      .filter((p) => !p.isDefault && p.end! > from && p.start! < to)
      .sort((a, b) => a.start!.getTime() - b.start!.getTime());
    let cursor = from.getTime();
    for (const part of parts) {
      if (part.start!.getTime() > cursor) return false;
      cursor = Math.max(cursor, part.end!.getTime());
    }
    return cursor >= to.getTime();
  }

  it('cuts UTC months that meet, whatever the session time zone', async () => {
    const changes = await db.withClient(async (client) => {
      await client.query("SET TimeZone = 'America/New_York'");
      try {
        const settings = withLog({ partition_strategy: 'monthly', retention_days: 36_500 });
        return (await ensureEventPartitions(client, settings, { at: utc('2032-10-15T12:00:00'), periodsAhead: 3 }))
          .changes;
      } finally {
        await client.query('RESET TimeZone');
      }
    });
    expect(changes.map((c) => [c.partition, c.rangeStart?.toISOString(), c.rangeEnd?.toISOString()])).toEqual([
      ['event_log_20321001', '2032-10-01T00:00:00.000Z', '2032-11-01T00:00:00.000Z'],
      ['event_log_20321101', '2032-11-01T00:00:00.000Z', '2032-12-01T00:00:00.000Z'],
      ['event_log_20321201', '2032-12-01T00:00:00.000Z', '2033-01-01T00:00:00.000Z'],
      ['event_log_20330101', '2033-01-01T00:00:00.000Z', '2033-02-01T00:00:00.000Z'],
    ]);
  });

  it('after a change from monthly to weekly, partitions the rest of a straddling week, leaving no gap', async () => {
    // January 2033 is monthly (previous test); ISO week 2033-01-31 .. 02-07 straddles its end.
    const changes = await maintain(
      withLog({ partition_strategy: 'weekly', retention_days: 36_500 }),
      utc('2033-01-26T00:00:00'),
      2,
    );
    expect(changes.map((c) => c.partition)).toEqual(['event_log_20330201', 'event_log_20330207']);
    expect(changes[0]!.rangeStart!.toISOString()).toBe('2033-02-01T00:00:00.000Z');
    expect(await coveredWithoutGaps(utc('2032-10-01T00:00:00'), utc('2033-02-14T00:00:00'))).toBe(true);
  });
});

/**
 * Maintenance against live traffic (PostgreSQL 18: it takes several sessions). It must never hold
 * event writers up for longer than `maintenance_lock_timeout_secs`, and never fail on an event
 * that a writer commits while it works.
 */
describe('event-log maintenance under traffic (PostgreSQL 18)', () => {
  let m: MigratedDatabase;
  let owner: pg.Client;
  beforeAll(async () => {
    m = await migratedPostgres();
    owner = new pg.Client({ connectionString: m.url! });
    await owner.connect();
  });
  afterAll(async () => {
    await owner?.end();
    await m?.dispose();
  });

  const insertEvent = (client: pg.Client, tenant: string, at: Date) =>
    client.query("INSERT INTO llmspell.event_log (tenant_id, event_type, emitted_at) VALUES ($1, 'test.event', $2)", [
      tenant,
      at,
    ]);

  it('gives up as busy behind a long reader, and writers are not held up meanwhile', async () => {
    const reader = new pg.Client({ connectionString: m.url! });
    const writer = new pg.Client({ connectionString: m.url! });
    await Promise.all([reader.connect(), writer.connect()]);
    try {
      await reader.query('BEGIN');
      await reader.query('SELECT count(*) FROM llmspell.event_log'); // ACCESS SHARE on every partition, kept
      const settings = testSettings({ postgres: { event_log: { retention_days: 36_500 } } });
      const maintaining = m.db.withClient((client) =>
        ensureEventPartitions(client, settings, {
          at: utc('2036-03-10T00:00:00'),
          periodsAhead: 0,
          lockTimeoutMs: 400,
          attempts: 3,
          backoffMs: 50,
        }),
      );
      await sleep(100); // maintenance is now waiting for its lock
      const started = Date.now();
      await writer.query("SELECT set_config('app.current_tenant_id', 'tenant-w', false)");
      await writer.query('SET ROLE llmspell_app');
      await insertEvent(writer, 'tenant-w', new Date());
      const writerMs = Date.now() - started;
      const result = await maintaining;
      expect(result).toEqual({ status: 'busy', changes: [], attempts: 3 });
      expect(writerMs).toBeLessThan(400); // not queued behind the waiting maintenance
    } finally {
      await reader.end();
      await writer.end();
    }
  });

  it('moves an event committed by a writer in flight instead of failing (23514)', async () => {
    const writer = new pg.Client({ connectionString: m.url! });
    await writer.connect();
    try {
      const at = utc('2037-05-20T12:00:00');
      await writer.query('BEGIN');
      await writer.query("SELECT set_config('app.current_tenant_id', 'tenant-w', true)");
      await writer.query('SET LOCAL ROLE llmspell_app');
      await insertEvent(writer, 'tenant-w', at); // into DEFAULT: May 2037 has no partition yet
      const settings = testSettings({ postgres: { event_log: { retention_days: 36_500 } } });
      const maintaining = m.db.withClient((client) =>
        ensureEventPartitions(client, settings, { at, periodsAhead: 0, lockTimeoutMs: 5_000 }),
      );
      await sleep(300);
      await writer.query('COMMIT'); // while maintenance works on May 2037
      const result = await maintaining;
      expect(result.status).toBe('done');
      expect(result.changes).toEqual([
        expect.objectContaining({ action: 'created', partition: 'event_log_20370501', rows: 1 }),
      ]);
      const { rows } = await owner.query<{ part: string }>(
        'SELECT tableoid::regclass::text AS part FROM llmspell.event_log_20370501',
      );
      expect(rows).toEqual([{ part: 'llmspell.event_log_20370501' }]);
    } finally {
      await writer.end();
    }
  });
});
