/** The tenant-conformance registration of the event log (see `harness.ts`). */
import { expect } from 'vitest';
import { newUuidV7 } from '../../../../src/storage/kit/uuid-v7.js';
import { eventsUntil } from '../../../helpers/storage-cases.js';
import { attemptsOf, plain, register, token } from './harness.js';

interface EventHandle {
  /** A's stream: two events, version 2. */
  streamId: string;
  /** A's first event (of the stream). */
  eventId: string;
  /** A's event of no stream, with a correlation id. */
  looseId: string;
  correlationId: string;
  /** A's cursor after its first event. */
  cursor: string;
}

const event = attemptsOf<'events', EventHandle>();

export const events = register({
  module: 'events',
  async seed(a, marker) {
    const streamId = `stream-${token()}`;
    const [eventId, secondId, looseId] = [newUuidV7(), newUuidV7(), newUuidV7()];
    const correlationId = '00000000-0000-4000-8000-' + token().padEnd(12, '0').slice(0, 12);
    const appended = await a.events.append(
      [
        { eventId, type: 'started', payload: { secret: marker } },
        { eventId: secondId, type: 'step', payload: { n: 1 } },
      ],
      { stream: { id: streamId, expectedVersion: 'no_stream' } },
    );
    expect(appended.streamVersion).toBe(2);
    await a.events.append([{ eventId: looseId, type: 'noted', correlationId, metadata: { secret: marker } }]);
    // The cursor after A's first event (the tenant may have events of an earlier seed).
    const index = (await eventsUntil(a, looseId)).findIndex((e) => e.eventId === eventId);
    const first = await a.events.read({ limit: index + 1 });
    expect(first.events.at(-1)?.eventId).toBe(eventId);
    return { streamId, eventId, looseId, correlationId, cursor: first.cursor };
  },
  async snapshot(a, h) {
    return plain(await eventsUntil(a, h.looseId));
  },
  locate: (h) => ({ table: 'event_log', column: 'event_id', value: h.eventId }),
  probe: (stores) => stores.events.read({ limit: 1 }),
  signalled: {
    append: (b, _h, signal) => b.events.append([{ type: 'signalled' }], { signal }),
    read: (b, _h, signal) => b.events.read({ signal }),
    stream: (b, h, signal) => b.events.stream(h.streamId, { signal }),
    range: (b, _h, signal) => b.events.range({ from: new Date(0), to: new Date(Date.now() + 3_600_000), signal }),
  },
  attempts: [
    event({
      method: 'read',
      kind: 'list',
      name: 'read from the first event: none of A’s',
      run: (b) => b.events.read({ limit: 1000 }),
      expect: {
        check(result) {
          expect(result.events).toEqual([]);
          expect(result.caughtUp).toBe(true);
        },
      },
    }),
    event({
      method: 'read',
      kind: 'list',
      name: 'read after A’s cursor, and by A’s correlation id: none of A’s',
      run: async (b, h) => [
        await b.events.read({ after: h.cursor, limit: 1000 }),
        await b.events.read({ correlationId: h.correlationId }),
        await b.events.read({ types: ['started', 'step', 'noted'] }),
      ],
      expect: {
        check(results) {
          for (const result of results) expect(result.events).toEqual([]);
        },
      },
    }),
    event({
      method: 'range',
      kind: 'list',
      name: 'range over all time, both orders and by A’s types: none of A’s',
      run: async (b) => {
        const window = { from: new Date(0), to: new Date(Date.now() + 3_600_000), limit: 1000 };
        return [
          await b.events.range(window),
          await b.events.range({ ...window, order: 'desc' }),
          await b.events.range({ ...window, types: ['started', 'step', 'noted'] }),
        ];
      },
      expect: {
        check(pages) {
          for (const page of pages) expect(page).toEqual({ items: [], nextCursor: undefined });
        },
      },
    }),
    event({
      method: 'stream',
      kind: 'read',
      name: 'read A’s stream by its id, from version 1 and 2: none of A’s',
      run: async (b, h) => [await b.events.stream(h.streamId), await b.events.stream(h.streamId, { fromVersion: 2 })],
      expect: {
        check(pages) {
          for (const page of pages) expect(page).toEqual({ events: [], nextVersion: undefined });
        },
      },
    }),
    event({
      method: 'append',
      kind: 'same-key',
      name: 'append an event with A’s event id: B’s own event',
      run: (b, h) => b.events.append([{ eventId: h.eventId, type: 'mine' }]),
      expect: {
        async check(result, b, h) {
          expect(result.events.map((e) => [e.eventId, e.streamVersion])).toEqual([[h.eventId, null]]);
          // Read once visible: another test's open transaction may hold every reader back a while.
          const mine = await eventsUntil(b, h.eventId);
          expect(mine.map((e) => [e.eventId, e.type])).toEqual([[h.eventId, 'mine']]);
        },
      },
    }),
    event({
      method: 'append',
      kind: 'same-key',
      name: 'append to A’s stream id expecting no stream: B’s own stream, version 1',
      run: (b, h) => b.events.append([{ type: 'mine' }], { stream: { id: h.streamId, expectedVersion: 'no_stream' } }),
      expect: {
        check(result) {
          expect(result.streamVersion).toBe(1);
        },
      },
    }),
    event({
      method: 'append',
      kind: 'write',
      name: 'append to A’s stream id expecting A’s version 2: CONFLICT at B’s version 0',
      run: (b, h) => b.events.append([{ type: 'mine' }], { stream: { id: h.streamId, expectedVersion: 2 } }),
      expect: { rejects: 'CONFLICT' },
    }),
    event({
      method: 'append',
      kind: 'same-key',
      name: 'append A’s events again (A’s ids, A’s stream): B’s own, not a retry of A’s',
      run: (b, h) => b.events.append([{ eventId: h.looseId, type: 'noted' }]),
      expect: {
        check(result, _b, h) {
          expect(result.events.map((e) => e.eventId)).toEqual([h.looseId]);
        },
      },
    }),
  ],
  async control(a, h) {
    const mine = (await eventsUntil(a, h.looseId)).filter((e) => e.streamId === h.streamId || e.eventId === h.looseId);
    expect(mine.map((e) => [e.eventId, e.streamVersion])).toEqual([
      [h.eventId, 1],
      [expect.any(String), 2],
      [h.looseId, null],
    ]);
    const ranged = await a.events.range({ from: new Date(0), to: new Date(Date.now() + 3_600_000), limit: 1000 });
    expect(ranged.items.map((e) => e.eventId)).toContain(h.eventId);
    const page = await a.events.stream(h.streamId, { limit: 1 });
    expect([page.events.map((e) => e.eventId), page.nextVersion]).toEqual([[h.eventId], 2]);
    const next = await a.events.append([{ type: 'more' }], { stream: { id: h.streamId, expectedVersion: 2 } });
    expect(next.streamVersion).toBe(3);
  },
});
