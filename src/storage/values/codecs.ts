/**
 * How values cross between JavaScript and PostgreSQL, decided once for every storage module.
 *
 * | PostgreSQL    | JavaScript                                                                    |
 * |---------------|-------------------------------------------------------------------------------|
 * | `int8`        | `number`; a value past 2^53 − 1 fails the read instead of losing digits       |
 * | `timestamptz` | `PreciseDate` (a `Date` that keeps the microseconds PostgreSQL stores)         |
 * | `tstzrange`   | `Range<PreciseDate>` of `postgres-range`; an unbounded side is `null`; a [[TimeRange]] through `column.timeRange()` |
 * | `jsonb`       | parsed JSON; sent as JSON text written by the walk that checks it ({@link encodeJson}) |
 * | `bytea`       | `Buffer` (`pg`'s own)                                                          |
 * | `vector`      | `number[]` through the `pgvector` package ({@link vectorText}, {@link parseVector}) |
 *
 * Decoding goes through `pg`'s type parsers, per statement ({@link RESULT_TYPES}), so nothing else
 * that shares the connection (migrations, health checks) sees a change.
 */
import { PreciseDate } from '@google-cloud/precise-date';
import pg from 'pg';
import pgvector from 'pgvector';
import { parse as parseRange, Range, serialize as serializeRange } from 'postgres-range';

export { PreciseDate, Range };

const OID = { int8: 20, timestamptz: 1184, tstzrange: 3910 } as const;

const defaultTimestamp = pg.types.getTypeParser(OID.timestamptz) as (text: string) => Date | number;

/**
 * Reads a `timestamptz` as PostgreSQL prints it (`2026-12-02 01:59:27.123456+00`, in any session
 * time zone) into a {@link PreciseDate}: `pg`'s parser for the instant to the millisecond, the
 * fraction's last three digits for the microseconds.
 */
export function parseTimestamp(text: string): PreciseDate {
  const date = defaultTimestamp(text);
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
    throw new RangeError(`timestamp ${JSON.stringify(text)} is not a finite instant`);
  }
  const precise = new PreciseDate(date.getTime());
  const fraction = /\.(\d+)/.exec(text)?.[1];
  if (fraction !== undefined && fraction.length > 3) {
    precise.setMicroseconds(Number(fraction.slice(3, 6).padEnd(3, '0')));
  }
  return precise;
}

/** Reads an `int8` as a `number`, refusing one that a double cannot hold exactly. */
export function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`int8 ${text} is outside JavaScript's exact integer range (±2^53 − 1)`);
  }
  return value;
}

/** Reads a `tstzrange`; an unbounded side is `null`. */
export function parseTimestampRange(text: string): Range<PreciseDate> {
  return parseRange(text, parseTimestamp);
}

/**
 * The type parsers every storage statement is read with (`pg`'s per-query `types`). It is also an
 * empty array: `pg` hands a query's `types` to the Parse message as its parameter type OIDs too,
 * which PGlite's protocol writer iterates as an array (an object crashed it); an empty list means
 * "infer every parameter's type", as for any query without `types`.
 */
export const RESULT_TYPES: pg.CustomTypesConfig = Object.assign([], {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (format !== 'binary') {
      if (oid === OID.int8) return parseInt8;
      if (oid === OID.timestamptz) return parseTimestamp;
      if (oid === OID.tstzrange) return parseTimestampRange;
    }
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
});

/**
 * A `Date` (or {@link PreciseDate}) as `timestamptz` text, in UTC with its microseconds: ISO 8601
 * (`2026-12-02T01:59:27.123456Z`) for years 1 to 9999, and PostgreSQL's own form beyond them
 * (`10000-01-01 00:00:00.000000+00`, `0001-01-01 … BC`), which `toISOString()` writes as
 * `+010000-…` and PostgreSQL cannot read. `pg` itself would send local time to the millisecond.
 */
export function timestampText(date: Date): string {
  // Read through Date's own methods: a subclass may override toISOString or getUTCFullYear.
  const instant = new Date(Date.prototype.getTime.call(date));
  const micros = date instanceof PreciseDate ? PreciseDate.prototype.getMicroseconds.call(date) : 0;
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const year = instant.getUTCFullYear();
  const day = `${pad(instant.getUTCMonth() + 1)}-${pad(instant.getUTCDate())}`;
  const time = `${pad(instant.getUTCHours())}:${pad(instant.getUTCMinutes())}:${pad(instant.getUTCSeconds())}.${pad(instant.getUTCMilliseconds(), 3)}${pad(micros, 3)}`;
  if (year >= 1 && year <= 9999) return `${pad(year, 4)}-${day}T${time}Z`;
  return year > 9999 ? `${year}-${day} ${time}+00` : `${pad(1 - year, 4)}-${day} ${time}+00 BC`;
}

/** JSON text for a value, or why it is not JSON a `jsonb` column can hold. */
export type JsonEncoding = { text: string; problem?: undefined } | { problem: string; text?: undefined };

/**
 * Writes `value` as JSON text in the same walk that checks it, so that what was checked is what is
 * sent: each property is read once (a getter cannot hand the check one value and the text
 * another), an object with a `toJSON` method is refused (a hidden one would turn it into something
 * else, an array or a string),
 * and nothing is silently changed on the way — `NaN` is refused rather than written as `null`, a
 * `Date` or class instance rather than stringified, `undefined` or a symbol key rather than
 * dropped. Strings with a NUL or a lone surrogate are refused (`jsonb` stores neither). Sent as
 * text, so that an array stays JSON and does not become a PostgreSQL array.
 */
export function encodeJson(value: unknown): JsonEncoding {
  const parts: string[] = [];
  const problem = writeJson(value, '', 0, parts);
  return problem === undefined ? { text: parts.join('') } : { problem };
}

/** Why a value is not JSON a `jsonb` column can hold, with the path of the bad part, or `undefined`. */
export function jsonProblem(value: unknown): string | undefined {
  return encodeJson(value).problem;
}

function writeJson(value: unknown, path: string, depth: number, out: string[]): string | undefined {
  const at = path === '' ? '' : ` at ${path}`;
  if (depth > 100) return `is nested more than 100 levels deep${at}`;
  switch (typeof value) {
    case 'string': {
      const problem = stringProblem(value, at);
      if (problem === undefined) out.push(JSON.stringify(value));
      return problem;
    }
    case 'number':
      if (!Number.isFinite(value)) return `holds ${String(value)}${at}, which JSON cannot represent`;
      out.push(JSON.stringify(value));
      return undefined;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return undefined;
    case 'object': {
      if (value === null) {
        out.push('null');
        return undefined;
      }
      if (Array.isArray(value)) {
        out.push('[');
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out.push(',');
          const problem = writeJson(value[i], `${path}[${i}]`, depth + 1, out);
          if (problem) return problem;
        }
        out.push(']');
        return undefined;
      }
      if (!isPlainObject(value)) {
        return `holds a ${value.constructor?.name ?? 'non-plain'} object${at}; only plain objects, arrays, strings, finite numbers, booleans and null are JSON`;
      }
      if (Object.getOwnPropertySymbols(value).length > 0) {
        return `has a symbol-keyed property${at}, which JSON would drop`;
      }
      if (Object.prototype.hasOwnProperty.call(value, 'toJSON')) {
        return `has a toJSON method${at}; pass the JSON it would produce instead`;
      }
      out.push('{');
      let first = true;
      for (const key of Object.keys(value)) {
        const keyProblem = stringProblem(key, ` in a key${at}`);
        if (keyProblem) return keyProblem;
        out.push(first ? '' : ',', JSON.stringify(key), ':');
        first = false;
        const problem = writeJson(value[key], path === '' ? key : `${path}.${key}`, depth + 1, out);
        if (problem) return problem;
      }
      out.push('}');
      return undefined;
    }
    default:
      return `holds a ${typeof value}${at}, which JSON cannot represent`;
  }
}

function stringProblem(text: string, at: string): string | undefined {
  if (text.includes('\0')) return `contains a NUL character${at}, which PostgreSQL cannot store`;
  if (!text.isWellFormed()) return `contains a lone UTF-16 surrogate${at}, which is not valid Unicode`;
  return undefined;
}

/** A plain object: `{…}` or `Object.create(null)`, not a class instance, `Date`, `Map` or array. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A vector as pgvector's text form, through the `pgvector` package. */
export function vectorText(vector: readonly number[]): string {
  return pgvector.toSql([...vector]) as string;
}

/** Reads pgvector's text form (`[1,2,3]`), through the `pgvector` package. */
export function parseVector(text: string): number[] {
  return pgvector.fromSql(text) as number[];
}

/**
 * A span of time, `[from, to)`: `from` included, `to` excluded (PostgreSQL's default bounds);
 * `null` leaves that side open (since always, or until further notice).
 */
export interface TimeRange<D extends Date = Date> {
  from: D | null;
  to: D | null;
}

/** A {@link TimeRange} as `tstzrange` text: `["2026-01-01T00:00:00.000000Z",)`. */
export function timeRangeText(range: TimeRange): string {
  const side = (date: Date | null) => (date === null ? '' : `"${timestampText(date)}"`);
  return `[${side(range.from)},${side(range.to)})`;
}

/**
 * A `tstzrange` as read ({@link parseTimestampRange}) as a {@link TimeRange}; a range that is empty
 * or not `[from, to)` fails the read (the library writes only those).
 */
export function toTimeRange(range: Range<PreciseDate>): TimeRange<PreciseDate> {
  const halfOpen = (!range.hasLowerBound() || range.isLowerBoundClosed()) && !range.isUpperBoundClosed();
  if (range.isEmpty() || !halfOpen) {
    throw new RangeError(
      `tstzrange ${serializeRange(range, (date) => date.toISOString())} is not a non-empty [from, to) range`,
    );
  }
  return { from: range.hasLowerBound() ? range.lower : null, to: range.hasUpperBound() ? range.upper : null };
}
