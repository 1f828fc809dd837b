/**
 * The statements of the event log, over `llmspell.event_log`, `event_streams` (migrations 0009,
 * 0014). Appends carry a batch as arrays (`unnest`), a statement per chunk of 1,000; reads go in
 * commit order, `(transaction_id, global_position)`, below the oldest running transaction (see
 * migration 0014: no event can later appear before what a reader has seen).
 */
import * as z from 'zod/mini';
import { statement } from '../../mechanism/statement.js';
import { column, identifier, integer, timestamp, uuid } from '../../values/fields.js';
import { appendedRow, eventType, storedEventRow } from './types.js';

/** One text per event of a batch (types, JSON documents, timestamps as ISO text). */
const texts = () => z.array(z.string());
const uuids = () => z.array(z.nullable(uuid()));

/** The events of a chunk, in input order (`n`). */
const INPUT = `unnest($ids::uuid[], $types::text[], $payloads::jsonb[], $metadata::jsonb[], $correlations::uuid[],
                      $causations::uuid[], $emitted::timestamptz[]) WITH ORDINALITY
                 AS e(id, type, payload, metadata, correlation, causation, emitted, n)`;

const CHUNK = {
  ids: z.array(uuid()),
  types: z.array(eventType()),
  payloads: texts(),
  metadata: texts(),
  correlations: uuids(),
  causations: uuids(),
  emitted: texts(),
};

const APPENDED = `event_id AS "eventId", global_position AS position, stream_version AS "streamVersion"`;

/** Appends events of no stream; an event whose id (and time) is stored already is passed over. */
export const append = statement({
  name: 'events.append',
  sql: `INSERT INTO llmspell.event_log (tenant_id, event_id, event_type, payload, metadata, correlation_id, causation_id, emitted_at)
        SELECT $tenant, e.id, e.type, e.payload, e.metadata, e.correlation, e.causation, e.emitted
          FROM ${INPUT}
         ORDER BY e.n
        ON CONFLICT (tenant_id, event_id, emitted_at) DO NOTHING
        RETURNING ${APPENDED}`,
  params: CHUNK,
  row: appendedRow,
});

/**
 * Locks the stream's head for the rest of the transaction (creating it at version 0) and returns
 * its version: appends to one stream go one after another, each seeing the version the one
 * before left.
 */
export const lockStream = statement({
  name: 'events.append.stream',
  sql: `INSERT INTO llmspell.event_streams AS s (tenant_id, stream_id) VALUES ($tenant, $streamId)
        ON CONFLICT (tenant_id, stream_id) DO UPDATE SET version = s.version
        RETURNING version`,
  params: { streamId: identifier() },
  row: { version: column.integer() },
});

/**
 * Appends a chunk to a locked stream at versions `$base + 1` on, and moves its head past them,
 * only when every event was new (a retried event is stored already: then the caller rolls back).
 */
export const appendToStream = statement({
  name: 'events.append',
  sql: `WITH appended AS (
          INSERT INTO llmspell.event_log (tenant_id, event_id, event_type, payload, metadata, correlation_id, causation_id,
                                          emitted_at, stream_id, stream_version)
          SELECT $tenant, e.id, e.type, e.payload, e.metadata, e.correlation, e.causation, e.emitted, $streamId, $base + e.n
            FROM ${INPUT}
           ORDER BY e.n
          ON CONFLICT (tenant_id, event_id, emitted_at) DO NOTHING
          RETURNING ${APPENDED}
        ), head AS (
          UPDATE llmspell.event_streams SET version = $base + cardinality($ids::uuid[]), updated_at = now()
           WHERE tenant_id = $tenant AND stream_id = $streamId
             AND (SELECT count(*) FROM appended) = cardinality($ids::uuid[])
        )
        SELECT "eventId", position, "streamVersion" FROM appended`,
  params: { ...CHUNK, streamId: identifier(), base: integer(0, Number.MAX_SAFE_INTEGER) },
  row: appendedRow,
});

/** The events of these ids (and times) that are stored: what a retried append appended before. */
export const stored = statement({
  name: 'events.append.stored',
  sql: `SELECT ${APPENDED}, stream_id AS "streamId"
          FROM llmspell.event_log
         WHERE tenant_id = $tenant
           AND (event_id, emitted_at) IN (SELECT * FROM unnest($ids::uuid[], $emitted::timestamptz[]))`,
  params: { ids: z.array(uuid()), emitted: texts() },
  row: { ...appendedRow, streamId: column.nullable(column.text()) },
});

/** The columns of a stored event, as {@link storedEventRow} names them. */
const STORED = `event_id AS "eventId", event_type AS type, payload, metadata, correlation_id AS "correlationId",
               causation_id AS "causationId", stream_id AS "streamId", stream_version AS "streamVersion",
               global_position AS position, emitted_at AS "emittedAt", transaction_id::text AS "transactionId"`;

/**
 * A stream's events from version `$fromVersion` on, by version. No event can appear later below a
 * version read: appends to a stream take its head's row lock in turn, so versions commit in order.
 */
export const stream = statement({
  name: 'events.stream',
  sql: `SELECT ${STORED}
          FROM llmspell.event_log
         WHERE tenant_id = $tenant AND stream_id = $streamId AND stream_version >= $fromVersion
         ORDER BY stream_version
         LIMIT $limit`,
  params: { streamId: identifier(), fromVersion: integer(1, Number.MAX_SAFE_INTEGER), limit: integer(1, 1001) },
  row: storedEventRow,
});

/**
 * The events of `[$from, $to)` by time, after the cursor `($afterAt, $afterPosition)` when given:
 * the range bounds the partition key, so only the partitions it touches are read. Two orders,
 * each its own statement (a keyset walks one way).
 */
const range = (order: 'asc' | 'desc') =>
  statement({
    name: `events.range.${order}`,
    sql: `SELECT ${STORED}
            FROM llmspell.event_log
           WHERE tenant_id = $tenant AND emitted_at >= $from::timestamptz AND emitted_at < $to::timestamptz
             AND ($types::text[] IS NULL OR event_type = ANY ($types::text[]))
             AND ($afterAt::timestamptz IS NULL
                  OR (emitted_at, global_position) ${order === 'asc' ? '>' : '<'} ($afterAt::timestamptz, $afterPosition::bigint))
           ORDER BY emitted_at ${order.toUpperCase()}, global_position ${order.toUpperCase()}
           LIMIT $limit`,
    params: {
      from: timestamp(),
      to: timestamp(),
      types: z.optional(z.array(eventType())),
      afterAt: z.optional(z.string()),
      afterPosition: z.optional(integer(0, Number.MAX_SAFE_INTEGER)),
      limit: integer(1, 1001),
    },
    row: storedEventRow,
  });
export const rangeAsc = range('asc');
export const rangeDesc = range('desc');

/** The events after `($afterTransaction, $afterPosition)` in commit order, of ended transactions only. */
export const read = statement({
  name: 'events.read',
  sql: `SELECT ${STORED}
          FROM llmspell.event_log
         WHERE tenant_id = $tenant
           AND (transaction_id, global_position) > ($afterTransaction::xid8, $afterPosition::bigint)
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
           AND ($types::text[] IS NULL OR event_type = ANY ($types::text[]))
           AND ($correlationId::uuid IS NULL OR correlation_id = $correlationId::uuid)
         ORDER BY transaction_id, global_position
         LIMIT $limit`,
  params: {
    afterTransaction: z.string(),
    afterPosition: integer(0, Number.MAX_SAFE_INTEGER),
    types: z.optional(z.array(eventType())),
    correlationId: z.optional(uuid()),
    limit: integer(1, 1000),
  },
  row: storedEventRow,
});
