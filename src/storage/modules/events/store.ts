import * as z from 'zod/mini';
import { decodeCursor, encodeCursor, pageSize, toPage, type Page } from '../../kit/cursor.js';
import { newUuidV7, uuidV7Time } from '../../kit/uuid-v7.js';
import { columns, type Chunk } from '../../mechanism/batches.js';
import { conflict, invalidInput } from '../../mechanism/errors.js';
import { ONE_STATEMENT, type ModuleContext, type StoreInterface } from '../../mechanism/module.js';
import type { TenantTransaction } from '../../mechanism/tenant-transaction.js';
import { cursorTimestamp, identifier, integer, kindOf, parseElement, parseInput } from '../../values/fields.js';
import * as sql from './sql.js';
import {
  appendOptions,
  MAX_APPEND,
  newEvent,
  readOptions,
  type AppendedEvent,
  type AppendOptions,
  type AppendResult,
  type ExpectedVersion,
  type NewEvent,
  rangeOptions,
  type RangeOptions,
  type ReadOptions,
  type ReadResult,
  type StoredEvent,
  type StreamOptions,
  type StreamPage,
  streamOptions,
} from './types.js';

/** An event as a statement takes it: checked, with its id and its time. */
interface EventRow {
  id: string;
  type: string;
  payload: string;
  metadata: string;
  correlation: string | null;
  causation: string | null;
  emitted: string;
}

/** The list name of `read` cursors, and the transaction id a cursor holds (xid8 as decimal text). */
const LIST = 'events';
const transactionText = () => z.string().check(z.regex(/^\d{1,20}$/));
/** Before every event: the cursor of a first read. */
const START = ['0', 0] as const;

/** Thrown inside an append's transaction when some of its events are stored already: it rolls back. */
const RETRIED = Symbol('events stored already');

/**
 * A tenant's event log: an append-only record of what happened, in streams with versions, read
 * in commit order from a cursor without ever skipping an event. Reach it as
 * `storage.tenant(id).events`.
 */
export class DefaultEventStore {
  constructor(private readonly context: ModuleContext) {}

  /**
   * Appends the events (all or none, in one transaction; a statement per 1,000) and returns where
   * they stand, in input order. With `stream`, they get the stream's next versions, once its
   * version meets `expectedVersion` (`CONFLICT` otherwise, naming both, and nothing is written).
   * An append made again with the same event ids (a retry) appends nothing and returns the
   * events as they were stored; one that repeats only some of them is `CONFLICT`.
   */
  async append(events: readonly NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    const operation = 'events.append';
    const call = parseInput(operation, appendOptions, options);
    const rows = checkedEvents(operation, events);
    if (call.stream === undefined) {
      // Keyed by id: a run retried after a serialization failure counts each event once.
      const appended = new Map<string, AppendedEvent>();
      const done = await this.context
        .batch({ operation, field: 'events', rows, signal: call.signal, measure: measureOf }, async (tx, chunk) => {
          const written = await tx.all(sql.append, chunkParams(chunk));
          // Some stored already: roll back, then tell a retry from a conflict.
          if (written.length < chunk.rows.length) throw RETRIED;
          for (const row of written) appended.set(row.eventId, row);
        })
        .then(
          () => true,
          (error: unknown) => {
            if (error !== RETRIED) throw error;
            return false;
          },
        );
      if (done) return { events: rows.map((row) => appended.get(row.id)!) };
      return { events: await this.#retried(operation, rows, null, call) };
    }
    const { id: streamId, expectedVersion = 'any' } = call.stream;
    // One transaction: on the embedded backend bounded like any atomic batch (it holds the session).
    const chunks = this.context.split({ operation, field: 'events', rows, measure: measureOf });
    const outcome = await this.context
      .run(
        async (tx) => {
          const { version } = await tx.one(sql.lockStream, { streamId });
          if (!meets(version, expectedVersion)) {
            // A retry of an append that succeeded finds the stream moved on: it appended before.
            const before = await this.#stored(tx, rows);
            const again = retryOf(before, rows, streamId);
            if (again !== undefined) return { events: again, version };
            throw conflict(
              operation,
              `stream ${JSON.stringify(streamId)} is at version ${version === 0 ? '0 (no event yet)' : version}, not the expected ${describe(expectedVersion)}`,
            );
          }
          const appended = new Map<string, AppendedEvent>();
          let base = version;
          for (const chunk of chunks) {
            const written = await tx.all(sql.appendToStream, { ...chunkParams(chunk), streamId, base });
            if (written.length < chunk.rows.length) throw RETRIED;
            for (const row of written) appended.set(row.eventId, row);
            base += chunk.rows.length;
          }
          return { events: rows.map((row) => appended.get(row.id)!), version: base };
        },
        { signal: call.signal },
      )
      .catch(async (error: unknown) => {
        if (error !== RETRIED) throw error;
        return { events: await this.#retried(operation, rows, streamId, call), version: undefined };
      });
    const streamVersion = outcome.version ?? Math.max(...outcome.events.map((event) => event.streamVersion ?? 0));
    return { events: outcome.events, streamVersion };
  }

  /**
   * The tenant's events after the cursor `after` (from the first without it), in commit order:
   * only events of transactions that have ended, so that none can later appear before the
   * returned cursor — a reader that resumes from it never skips an event and never sees one twice.
   * A transaction still running anywhere in the database holds every reader back until it ends.
   */
  async read(options: ReadOptions = {}): Promise<ReadResult> {
    const operation = 'events.read';
    const call = parseInput(operation, readOptions, options);
    const [afterTransaction, afterPosition] = (decodeCursor(operation, LIST, call.after, [
      transactionText(),
      integer(0, Number.MAX_SAFE_INTEGER),
    ]) ?? START) as readonly [string, number];
    const limit = pageSize(call.limit);
    const rows = await this.context.all(
      sql.read,
      { afterTransaction, afterPosition, types: call.types, correlationId: call.correlationId, limit },
      undefined,
      call,
    );
    const last = rows.at(-1);
    return {
      events: rows.map(withoutTransaction),
      cursor: encodeCursor(LIST, last ? [last.transactionId, last.position] : [afterTransaction, afterPosition]),
      caughtUp: rows.length < limit,
    };
  }

  /**
   * The events emitted in `[from, to)` (an event's time is its UUIDv7's), oldest first or newest
   * first, a page at a time: only the partitions the range touches are read. For an audit or a
   * report; a consumer that must see every event once follows `read`'s cursor instead (an event
   * of a transaction still running shows in a range only once it commits).
   */
  async range(options: RangeOptions): Promise<Page<StoredEvent>> {
    const operation = 'events.range';
    const call = parseInput(operation, rangeOptions, options);
    const order = call.order ?? 'asc';
    if (options.to.getTime() <= options.from.getTime()) throw invalidInput(operation, 'to', 'must be later than from');
    const list = `events.range:${order}:${call.from}:${call.to}:${(call.types ?? []).join(',')}`;
    const [afterAt, afterPosition] = (decodeCursor(operation, list, call.cursor, [
      cursorTimestamp(),
      integer(0, Number.MAX_SAFE_INTEGER),
    ]) ?? []) as [string?, number?];
    const size = pageSize(call.limit);
    const rows = await this.context.all(
      order === 'asc' ? sql.rangeAsc : sql.rangeDesc,
      { from: options.from, to: options.to, types: call.types, afterAt, afterPosition, limit: size + 1 },
      undefined,
      call,
    );
    return toPage(list, rows.map(withoutTransaction), size, (event) => [event.emittedAt.toISOString(), event.position]);
  }

  /** A page of the stream's events, by version, from `fromVersion` (default 1). */
  async stream(streamId: string, options: StreamOptions = {}): Promise<StreamPage> {
    const operation = 'events.stream';
    const id = parseInput(operation, identifier(), streamId, 'streamId');
    const call = parseInput(operation, streamOptions, options);
    const limit = pageSize(call.limit);
    const rows = await this.context.all(
      sql.stream,
      { streamId: id, fromVersion: call.fromVersion ?? 1, limit: limit + 1 },
      undefined,
      call,
    );
    const page = rows.slice(0, limit).map(withoutTransaction);
    return { events: page, nextVersion: rows.length > limit ? rows[limit]!.streamVersion! : undefined };
  }

  /** The stored events of `rows`, by id. */
  async #stored(tx: TenantTransaction, rows: readonly EventRow[]) {
    const found = await tx.all(sql.stored, { ids: rows.map((row) => row.id), emitted: rows.map((row) => row.emitted) });
    return new Map(found.map((row) => [row.eventId, row]));
  }

  /**
   * An append some of whose events were stored already: a retry, when all of them were (in the
   * same stream), whose result is what was stored; else `CONFLICT`, and nothing was written.
   */
  async #retried(
    operation: string,
    rows: readonly EventRow[],
    streamId: string | null,
    call: AppendOptions,
  ): Promise<AppendedEvent[]> {
    const before = await this.context.run((tx) => this.#stored(tx, rows), { ...ONE_STATEMENT, signal: call.signal });
    const again = retryOf(before, rows, streamId);
    if (again !== undefined) return again;
    throw conflict(
      operation,
      `${before.size} of the ${rows.length} events are stored already${streamId === null ? '' : ` (or in another stream than ${JSON.stringify(streamId)})`}: a retry must repeat the same events, and nothing of this append was written`,
    );
  }
}

/** A stored event as a read returns it (its transaction id goes into cursors only). */
function withoutTransaction({
  transactionId: _transaction,
  ...event
}: StoredEvent & { transactionId: string }): StoredEvent {
  return event;
}

/**
 * The answer to an append whose events are all stored already, in `streamId` (`null`: in none):
 * what the first append stored, in input order; `undefined` when it is no such retry.
 */
function retryOf(
  stored: ReadonlyMap<string, AppendedEvent & { streamId: string | null }>,
  rows: readonly EventRow[],
  streamId: string | null,
): AppendedEvent[] | undefined {
  if (stored.size !== rows.length || [...stored.values()].some((row) => row.streamId !== streamId)) return undefined;
  return rows.map(({ id }) => {
    const { streamId: _stream, ...event } = stored.get(id)!;
    return event;
  });
}

/** Whether a stream at `version` meets what an append expects of it. */
function meets(version: number, expected: ExpectedVersion): boolean {
  if (expected === 'any') return true;
  if (expected === 'no_stream') return version === 0;
  if (expected === 'exists') return version > 0;
  return version === expected;
}

function describe(expected: ExpectedVersion): string {
  return typeof expected === 'number' ? `version ${expected}` : `'${expected}'`;
}

/** Checks the events before anything is sent, giving each its id (a new UUIDv7) and time (its id's). */
function checkedEvents(operation: string, events: readonly NewEvent[]): EventRow[] {
  if (!Array.isArray(events)) throw invalidInput(operation, 'events', `must be an array, not ${kindOf(events)}`);
  if (events.length === 0) throw invalidInput(operation, 'events', 'must hold at least one event');
  if (events.length > MAX_APPEND) {
    throw invalidInput(operation, 'events', `holds ${events.length} events; one append takes at most ${MAX_APPEND}`);
  }
  const seen = new Map<string, number>();
  return events.map((input: unknown, index) => {
    const at = `events.${index}`;
    const event = parseElement(operation, newEvent, input, at);
    const id = event.eventId?.toLowerCase() ?? newUuidV7();
    const ms = uuidV7Time(id);
    if (ms === undefined) throw invalidInput(operation, `${at}.eventId`, 'must be a UUIDv7 (its time is the event’s)');
    const earlier = seen.get(id);
    if (earlier !== undefined) {
      throw invalidInput(
        operation,
        `${at}.eventId`,
        `must differ from events.${earlier}.eventId: an id appears once per append`,
      );
    }
    seen.set(id, index);
    return {
      id,
      type: event.type,
      // Checked and encoded already by jsonObject(): JSON text.
      payload: event.payload ?? '{}',
      metadata: event.metadata ?? '{}',
      correlation: event.correlationId ?? null,
      causation: event.causationId ?? null,
      emitted: new Date(ms).toISOString(),
    };
  });
}

/** What an event weighs in a batch: its JSON and type. */
function measureOf(row: EventRow) {
  return { group: 0, bytes: row.payload.length + row.metadata.length + row.type.length };
}

/** A chunk's events as the statements' arrays. */
function chunkParams(chunk: Chunk<number, EventRow>) {
  return columns(chunk.rows, {
    ids: (row) => row.id,
    types: (row) => row.type,
    payloads: (row) => row.payload,
    metadata: (row) => row.metadata,
    correlations: (row) => row.correlation,
    causations: (row) => row.causation,
    emitted: (row) => row.emitted,
  });
}

/**
 * The store a tenant view holds: the public methods of {@link DefaultEventStore}, as a plain
 * object type (no private members), so that a framework can write a test double or another
 * implementation of it.
 */
export type EventStore = StoreInterface<DefaultEventStore>;
