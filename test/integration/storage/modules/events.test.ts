/**
 * The event log through `openStorage`, on real databases: PostgreSQL 18 as the application role,
 * PostgreSQL 15, and PGlite in memory. Appends (streams, expected versions, retries, batches of
 * several statements), reads (commit order, cursors, filters), and how bad input is refused: by
 * error code and `details.field`. Gap safety under concurrent writers is in `events-gaps.test.ts`.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { rangeAsc } from '../../../../src/storage/modules/events/sql.js';
import { newUuidV7 } from '../../../../src/storage/kit/uuid-v7.js';
import type { NewEvent } from '../../../../src/storage/modules/events/index.js';
import { failure, invalid } from '../../../helpers/outcome.js';
import { testMajors } from '../../../helpers/postgres.js';
import { BAD_DOCUMENTS, coded, eventsUntil, newTenant, useStorageTarget } from '../../../helpers/storage-cases.js';
import type { StorageTarget } from '../../../helpers/storage.js';

const TARGETS: StorageTarget[] = ['postgres', 'memory'];
if (testMajors().includes(15)) TARGETS.push('postgres-15');
else console.warn('skipped: the event log on PostgreSQL 15 (not in LLMSPELL_TEST_PG_MAJORS)');

const CORRELATION = '0f0f0f0f-0000-4000-8000-000000000001';

describe.each(TARGETS)('the event log on %s', (target) => {
  const { fresh, opened } = useStorageTarget(target);

  it('appends a batch and reads it back whole, in order, with each event’s time taken from its UUIDv7', async () => {
    const stores = fresh();
    const before = Date.now();
    const { events } = await stores.events.append([
      { type: 'started', payload: { task: 'research' }, metadata: { by: 'planner' }, correlationId: CORRELATION },
      { type: 'tool.called', payload: { tool: 'search' }, causationId: CORRELATION },
    ]);
    expect(events).toHaveLength(2);
    expect(events[1]!.position).toBeGreaterThan(events[0]!.position);
    expect(events.map((e) => e.streamVersion)).toEqual([null, null]);
    const read = await eventsUntil(stores, events[1]!.eventId);
    expect(read.map((e) => e.eventId)).toEqual(events.map((e) => e.eventId));
    expect(read[0]).toMatchObject({
      type: 'started',
      payload: { task: 'research' },
      metadata: { by: 'planner' },
      correlationId: CORRELATION,
      causationId: null,
      streamId: null,
      streamVersion: null,
      position: events[0]!.position,
    });
    expect(read[1]).toMatchObject({
      type: 'tool.called',
      payload: { tool: 'search' },
      metadata: {},
      causationId: CORRELATION,
    });
    const ms = read[0]!.emittedAt.getTime();
    expect(ms).toBeGreaterThanOrEqual(before - 5);
    expect(ms).toBeLessThanOrEqual(Date.now() + 5);
    expect(read[0]!.eventId.slice(14, 15)).toBe('7');
  });

  it('a stream: versions 1…n, the head moves, expectedVersion checked in every form', async () => {
    const stores = fresh();
    const stream = (expectedVersion?: number | 'no_stream' | 'exists' | 'any') => ({
      stream: { id: 'order-1', ...(expectedVersion === undefined ? {} : { expectedVersion }) },
    });
    expect(await failure(stores.events.append([{ type: 'x' }], stream('exists')))).toMatchObject(coded('CONFLICT'));
    expect(await failure(stores.events.append([{ type: 'x' }], stream(1)))).toMatchObject(coded('CONFLICT'));
    const first = await stores.events.append([{ type: 'a' }, { type: 'b' }], stream('no_stream'));
    expect([first.streamVersion, first.events.map((e) => e.streamVersion)]).toEqual([2, [1, 2]]);
    const conflict = await failure(stores.events.append([{ type: 'x' }], stream('no_stream')));
    expect(conflict).toMatchObject(coded('CONFLICT'));
    expect(await stores.events.append([{ type: 'x' }], stream('no_stream')).catch((e: Error) => e.message)).toMatch(
      /version 2.*'no_stream'/,
    );
    expect(await failure(stores.events.append([{ type: 'x' }], stream(1)))).toMatchObject(coded('CONFLICT'));
    expect((await stores.events.append([{ type: 'c' }], stream(2))).streamVersion).toBe(3);
    expect((await stores.events.append([{ type: 'd' }], stream('exists'))).streamVersion).toBe(4);
    expect((await stores.events.append([{ type: 'e' }], stream('any'))).streamVersion).toBe(5);
    expect((await stores.events.append([{ type: 'f' }], stream())).streamVersion).toBe(6);
    // Nothing of the refused appends was written.
    const all = await eventsUntil(stores, (await stores.events.append([{ type: 'end' }])).events[0]!.eventId);
    expect(all.map((e) => [e.type, e.streamVersion])).toEqual([
      ['a', 1],
      ['b', 2],
      ['c', 3],
      ['d', 4],
      ['e', 5],
      ['f', 6],
      ['end', null],
    ]);
  });

  it('an append made again with the same event ids appends nothing and answers as the first did', async () => {
    const stores = fresh();
    const batch: NewEvent[] = [
      { eventId: newUuidV7(), type: 'a' },
      { eventId: newUuidV7(), type: 'b' },
    ];
    const loose = await stores.events.append(batch);
    expect(await stores.events.append(batch)).toEqual(loose);
    const streamed: NewEvent[] = [{ eventId: newUuidV7(), type: 'c' }];
    const options = { stream: { id: 's', expectedVersion: 'no_stream' as const } };
    const first = await stores.events.append(streamed, options);
    // The retry finds the stream moved on, and its events stored: the same answer, nothing appended.
    expect(await stores.events.append(streamed, options)).toEqual(first);
    expect(await stores.events.append(streamed, { stream: { id: 's' } })).toEqual(first);
    // Some repeated, some new: CONFLICT, and the new one is not written.
    const fresh2 = newUuidV7();
    expect(await failure(stores.events.append([...batch, { eventId: fresh2, type: 'new' }]))).toMatchObject(
      coded('CONFLICT'),
    );
    // The same ids in another stream are not a retry.
    expect(await failure(stores.events.append(streamed, { stream: { id: 'other' } }))).toMatchObject(coded('CONFLICT'));
    const all = await eventsUntil(stores, first.events[0]!.eventId);
    expect(all.map((e) => e.type)).toEqual(['a', 'b', 'c']);
  });

  it('2,500 events in one append: three statements, one transaction, stream versions continuing', async () => {
    const stores = fresh();
    const events = Array.from({ length: 2500 }, (_, i) => ({ type: 'tick', payload: { i } }));
    const result = await stores.events.append(events, { stream: { id: 'clock', expectedVersion: 'no_stream' } });
    expect(result.streamVersion).toBe(2500);
    expect(result.events.map((e) => e.streamVersion)).toEqual(events.map((_, i) => i + 1));
    const positions = result.events.map((e) => e.position);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    let cursor: string | undefined;
    const seen: number[] = [];
    await eventsUntil(stores, result.events[0]!.eventId);
    for (;;) {
      const page = await stores.events.read({ limit: 1000, ...(cursor ? { after: cursor } : {}) });
      seen.push(...page.events.map((e) => e.payload.i as number));
      cursor = page.cursor;
      if (page.caughtUp) break;
    }
    expect(seen).toEqual(events.map((_, i) => i));
  });

  it('reads from a cursor, by type and by correlation id; the cursor stays put when nothing new came', async () => {
    const stores = fresh();
    const { events } = await stores.events.append([
      { type: 'a', correlationId: CORRELATION },
      { type: 'b' },
      { type: 'a' },
    ]);
    await eventsUntil(stores, events[2]!.eventId);
    const first = await stores.events.read({ limit: 1 });
    expect([first.events.map((e) => e.type), first.caughtUp]).toEqual([['a'], false]);
    const rest = await stores.events.read({ after: first.cursor });
    expect([rest.events.map((e) => e.eventId), rest.caughtUp]).toEqual([events.slice(1).map((e) => e.eventId), true]);
    const idle = await stores.events.read({ after: rest.cursor });
    expect([idle.events, idle.cursor, idle.caughtUp]).toEqual([[], rest.cursor, true]);
    expect((await stores.events.read({ types: ['a'] })).events.map((e) => e.eventId)).toEqual([
      events[0]!.eventId,
      events[2]!.eventId,
    ]);
    expect((await stores.events.read({ correlationId: CORRELATION })).events.map((e) => e.eventId)).toEqual([
      events[0]!.eventId,
    ]);
  });

  it('stream reads a stream by version, a page at a time, and nothing of another stream', async () => {
    const stores = fresh();
    await stores.events.append(
      Array.from({ length: 5 }, (_, i) => ({ type: 'v', payload: { i } })),
      { stream: { id: 'doc-1', expectedVersion: 'no_stream' } },
    );
    await stores.events.append([{ type: 'other' }], { stream: { id: 'doc-2' } });
    await stores.events.append([{ type: 'loose' }]);
    const first = await stores.events.stream('doc-1', { limit: 2 });
    expect([first.events.map((e) => [e.streamVersion, e.payload.i]), first.nextVersion]).toEqual([
      [
        [1, 0],
        [2, 1],
      ],
      3,
    ]);
    const rest = await stores.events.stream('doc-1', { fromVersion: first.nextVersion! });
    expect([rest.events.map((e) => e.streamVersion), rest.nextVersion]).toEqual([[3, 4, 5], undefined]);
    expect((await stores.events.stream('doc-1', { fromVersion: 6 })).events).toEqual([]);
    expect((await stores.events.stream('nothing')).events).toEqual([]);
    expect(await failure(stores.events.stream('doc-1', { fromVersion: 0 }))).toMatchObject(invalid('fromVersion'));
    expect(await failure(stores.events.stream(''))).toMatchObject(invalid('streamId'));
  });

  if (target === 'memory') {
    it('on the embedded backend an append over 16 MiB is refused before anything is sent: its transaction would hold the one session', async () => {
      const stores = fresh();
      const big = Array.from({ length: 10_000 }, () => ({ type: 'big', payload: { text: 'x'.repeat(1700) } }));
      for (const options of [{}, { stream: { id: 'big' } }]) {
        const refused = await failure(stores.events.append(big, options));
        expect(refused).toMatchObject(invalid('events'));
      }
      expect((await stores.events.read()).events).toEqual([]);
    });
  }

  it('range reads by time, oldest or newest first, a page at a time, and by type', async () => {
    const stores = fresh();
    const base = Date.UTC(2030, 0, 1, 12);
    const ids = Array.from({ length: 5 }, (_, i) => newUuidV7(base + i * 60_000));
    await stores.events.append(ids.map((eventId, i) => ({ eventId, type: i % 2 ? 'odd' : 'even', payload: { i } })));
    const window = { from: new Date(base + 60_000), to: new Date(base + 4 * 60_000) };
    const first = await stores.events.range({ ...window, limit: 2 });
    expect(first.items.map((e) => e.payload.i)).toEqual([1, 2]);
    expect(first.items[0]!.emittedAt.getTime()).toBe(base + 60_000);
    const next = await stores.events.range({ ...window, limit: 2, cursor: first.nextCursor! });
    expect([next.items.map((e) => e.payload.i), next.nextCursor]).toEqual([[3], undefined]);
    expect((await stores.events.range({ ...window, order: 'desc' })).items.map((e) => e.payload.i)).toEqual([3, 2, 1]);
    expect((await stores.events.range({ ...window, types: ['odd'] })).items.map((e) => e.payload.i)).toEqual([1, 3]);
    expect(await failure(stores.events.range({ from: window.to, to: window.from }))).toMatchObject(invalid('to'));
    expect(await failure(stores.events.range({ ...window, order: 'desc', cursor: first.nextCursor! }))).toMatchObject(
      invalid('cursor'),
    );
    expect(await failure(stores.events.range({ ...window, from: '2030-01-01' as never }))).toMatchObject(
      invalid('from'),
    );
  });

  if (target !== 'memory') {
    it('range reads only the partitions its time range touches (the plan says so)', async () => {
      const tenant = newTenant();
      const stores = opened().storage.tenant(tenant);
      const admin = new pg.Client({ connectionString: opened().adminUrl! });
      await admin.connect();
      try {
        // Daily partitions for 2031-01-10 and the three days after it.
        await admin.query(`SELECT * FROM llmspell.ensure_event_partitions('daily', 36500, 3, '2031-01-10T00:00:00Z')`);
      } finally {
        await admin.end();
      }
      const day = (d: number) => Date.UTC(2031, 0, d, 6);
      await stores.events.append(
        [10, 11, 12, 13].map((d) => ({ eventId: newUuidV7(day(d)), type: 'daily', payload: { d } })),
      );
      const from = new Date(Date.UTC(2031, 0, 11));
      const to = new Date(Date.UTC(2031, 0, 12));
      expect((await stores.events.range({ from, to })).items.map((e) => e.payload.d)).toEqual([11]);
      const params: Record<string, unknown> = { from: from.toISOString(), to: to.toISOString(), limit: 51 };
      const plan = await opened().storage.db.withTenant(tenant, (client) =>
        client.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${rangeAsc.text}`, [
          tenant,
          ...rangeAsc.order.map((name) => params[name] ?? null),
        ]),
      );
      const relations = new Set<string>();
      const walk = (node: unknown): void => {
        if (Array.isArray(node)) node.forEach(walk);
        else if (node !== null && typeof node === 'object') {
          const name = (node as Record<string, unknown>)['Relation Name'];
          if (typeof name === 'string') relations.add(name);
          Object.values(node).forEach(walk);
        }
      };
      walk(plan.rows[0]!['QUERY PLAN']);
      expect([...relations]).toEqual(['event_log_20310111']);
    });
  }

  it('concurrent appends with the same expected version: exactly one wins, the others are CONFLICT', async () => {
    const stores = fresh();
    await stores.events.append([{ type: 'open' }], { stream: { id: 'race', expectedVersion: 'no_stream' } });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        stores.events.append([{ type: 'step', payload: { i } }], { stream: { id: 'race', expectedVersion: 1 } }),
      ),
    );
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    expect(won).toHaveLength(1);
    expect((won[0] as PromiseFulfilledResult<{ streamVersion?: number }>).value.streamVersion).toBe(2);
    for (const lost of outcomes.filter((o) => o.status === 'rejected')) {
      expect((lost as PromiseRejectedResult).reason).toMatchObject({ code: 'CONFLICT' });
    }
  });

  describe('refuses bad input before anything is sent, naming the field', () => {
    const bad: [string, () => [unknown, unknown?], ReturnType<typeof invalid>][] = [
      ['no events', () => [[]], invalid('events')],
      ['not an array', () => [{ type: 'x' }], invalid('events')],
      ['10,001 events', () => [Array.from({ length: 10_001 }, () => ({ type: 'x' }))], invalid('events')],
      ['an event without a type', () => [[{ payload: {} }]], invalid('events.0.type')],
      ['an empty type', () => [[{ type: '' }]], invalid('events.0.type')],
      ['an unknown field', () => [[{ type: 'x', data: {} }]], invalid('events.0.data')],
      ['a payload that is an array', () => [[{ type: 'x', payload: [1] }]], invalid('events.0.payload')],
      [
        'a correlation id that is no UUID',
        () => [[{ type: 'x', correlationId: 'req-1' }]],
        invalid('events.0.correlationId'),
      ],
      [
        'an event id that is a UUIDv4',
        () => [[{ type: 'x', eventId: '0f0f0f0f-0000-4000-8000-000000000001' }]],
        invalid('events.0.eventId'),
      ],
      [
        'an event id twice',
        () => {
          const id = newUuidV7();
          return [
            [
              { type: 'x', eventId: id },
              { type: 'y', eventId: id },
            ],
          ];
        },
        invalid('events.1.eventId'),
      ],
      [
        'an expected version of -1',
        () => [[{ type: 'x' }], { stream: { id: 's', expectedVersion: -1 } }],
        invalid('stream.expectedVersion'),
      ],
      [
        'an expected version of "latest"',
        () => [[{ type: 'x' }], { stream: { id: 's', expectedVersion: 'latest' } }],
        invalid('stream.expectedVersion'),
      ],
      ['a stream without an id', () => [[{ type: 'x' }], { stream: {} }], invalid('stream.id')],
      ['an unknown option', () => [[{ type: 'x' }], { atomic: false }], invalid('atomic')],
    ];
    it.each(bad)('append: %s', async (_what, make, expected) => {
      const stores = fresh();
      const [events, options] = make();
      expect(await failure(stores.events.append(events as never, options as never))).toMatchObject(expected);
      expect((await stores.events.read()).events).toEqual([]);
    });

    it.each(BAD_DOCUMENTS.slice(0, 6))('append: a payload with %s', async (_what, payload) => {
      expect(await failure(fresh().events.append([{ type: 'x', payload }]))).toMatchObject(invalid('events.0.payload'));
    });

    const badReads: [string, unknown, ReturnType<typeof invalid>][] = [
      ['a forged cursor', { after: 'bm90IGEgY3Vyc29y' }, invalid('cursor')],
      ['limit 0', { limit: 0 }, invalid('limit')],
      ['limit 1001', { limit: 1001 }, invalid('limit')],
      ['types that is a string', { types: 'a' }, invalid('types')],
      ['a correlation id that is no UUID', { correlationId: 'x' }, invalid('correlationId')],
      ['an unknown option', { from: 1 }, invalid('from')],
    ];
    it.each(badReads)('read: %s', async (_what, options, expected) => {
      expect(await failure(fresh().events.read(options as never))).toMatchObject(expected);
    });
  });
});
