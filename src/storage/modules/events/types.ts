import * as z from 'zod/mini';
import type { CallOptions } from '../../mechanism/module.js';
import type { PreciseDate } from '../../values/codecs.js';
import {
  column,
  identifier,
  integer,
  jsonObject,
  pageOptions,
  signalOption,
  text,
  timestamp,
  uuid,
} from '../../values/fields.js';

/** An event to append. */
export interface NewEvent {
  /** What happened, e.g. `tool.called` (1 to 255 bytes). */
  type: string;
  /** The event's data (a JSON object); `{}` when absent. */
  payload?: Record<string, unknown>;
  /** Data about the event (who, where from); `{}` when absent. */
  metadata?: Record<string, unknown>;
  /** The request, conversation or run it belongs to. */
  correlationId?: string;
  /** The event (or command) that caused it. */
  causationId?: string;
  /**
   * A UUIDv7 the caller chose, so that a retried append is recognised: appending an event whose
   * id is stored already appends nothing. Default: a new UUIDv7. Its time is the event's `emittedAt`.
   */
  eventId?: string;
}

/**
 * What an append expects of its stream: its version now (`0` or `'no_stream'`: it has no event
 * yet), `'exists'` (at least one event), or `'any'` (no check, the default).
 */
export type ExpectedVersion = number | 'no_stream' | 'exists' | 'any';

/** Options of `append`. */
export interface AppendOptions extends CallOptions {
  /** Append to this stream (the events get its next versions), checking `expectedVersion`. */
  stream?: { id: string; expectedVersion?: ExpectedVersion };
}

/** Where an appended event stands. */
export interface AppendedEvent {
  eventId: string;
  /** Its global position (the order of appends; readers go by commit order, see `read`). */
  position: number;
  /** Its version in its stream; `null` for an event of no stream. */
  streamVersion: number | null;
}

/** What `append` did. */
export interface AppendResult {
  /** The events, in input order (stored before, for a retried append). */
  events: AppendedEvent[];
  /** The stream's version after the append (with `stream`). */
  streamVersion?: number;
}

/** A stored event. */
export interface StoredEvent {
  eventId: string;
  type: string;
  payload: Record<string, unknown>;
  metadata: Record<string, unknown>;
  correlationId: string | null;
  causationId: string | null;
  streamId: string | null;
  streamVersion: number | null;
  position: number;
  emittedAt: PreciseDate;
}

/** Options of `read`. */
export interface ReadOptions extends CallOptions {
  /** The `cursor` of the read before: continue after it. Default: from the first event. */
  after?: string;
  /** Only events of these types. */
  types?: string[];
  /** Only events of this correlation id. */
  correlationId?: string;
  /** At most this many events, 1 to 1000; default 50. */
  limit?: number;
}

/** What `read` returns. */
export interface ReadResult {
  /** The events after the cursor, in commit order. */
  events: StoredEvent[];
  /** Pass it as `after` to continue (it moves only past events returned). */
  cursor: string;
  /** Fewer events than `limit` came: none more can be read now. */
  caughtUp: boolean;
}

/** Options of `stream`. */
export interface StreamOptions extends CallOptions {
  /** The first version to return (1, the first event, by default). */
  fromVersion?: number;
  /** At most this many events, 1 to 1000; default 50. */
  limit?: number;
}

/** A page of a stream's events. */
export interface StreamPage {
  /** The events, by version. */
  events: StoredEvent[];
  /** Pass it as `fromVersion` for the next page; `undefined` once the stream is read to its end. */
  nextVersion: number | undefined;
}

/** Options of `range`. */
export interface RangeOptions extends CallOptions {
  /** From this instant (included). */
  from: Date;
  /** To this instant (excluded). */
  to: Date;
  /** Only events of these types. */
  types?: string[];
  /** `asc` (default): oldest first; `desc`: newest first. */
  order?: 'asc' | 'desc';
  /** At most this many events, 1 to 1000; default 50. */
  limit?: number;
  /** The `nextCursor` of the page before (same range, order and types). */
  cursor?: string;
}

/** The longest event type, in bytes. */
export const MAX_TYPE_BYTES = 255;
/** The most events of one `append` (they are written in statements of 1,000). */
export const MAX_APPEND = 10_000;

export const eventType = () => text(MAX_TYPE_BYTES);

export const storedEventRow = {
  eventId: column.text(),
  type: column.text(),
  payload: column.jsonObject(),
  metadata: column.jsonObject(),
  correlationId: column.nullable(column.text()),
  causationId: column.nullable(column.text()),
  streamId: column.nullable(column.text()),
  streamVersion: column.nullable(column.integer()),
  position: column.integer(),
  emittedAt: column.timestamp(),
  /** The writing transaction's id (xid8 as text), for the cursor. */
  transactionId: column.text(),
};

export const appendedRow = {
  eventId: column.text(),
  position: column.integer(),
  streamVersion: column.nullable(column.integer()),
};

export const newEvent = z.strictObject({
  type: eventType(),
  payload: z.optional(jsonObject()),
  metadata: z.optional(jsonObject()),
  correlationId: z.optional(uuid()),
  causationId: z.optional(uuid()),
  eventId: z.optional(uuid()),
});

export const expectedVersion = () =>
  z.union([z.literal('no_stream'), z.literal('exists'), z.literal('any'), integer(0, Number.MAX_SAFE_INTEGER)]);

export const appendOptions = z.strictObject({
  stream: z.optional(z.strictObject({ id: identifier(), expectedVersion: z.optional(expectedVersion()) })),
  ...signalOption,
});

export const readOptions = z.strictObject({
  after: pageOptions.cursor,
  types: z.optional(z.array(eventType()).check(z.maxLength(100))),
  correlationId: z.optional(uuid()),
  limit: pageOptions.limit,
  ...signalOption,
});

export const streamOptions = z.strictObject({
  fromVersion: z.optional(integer(1, Number.MAX_SAFE_INTEGER)),
  limit: pageOptions.limit,
  ...signalOption,
});

export const rangeOptions = z.strictObject({
  from: timestamp(),
  to: timestamp(),
  types: z.optional(z.array(eventType()).check(z.maxLength(100))),
  order: z.optional(z.enum(['asc', 'desc'])),
  ...pageOptions,
});
