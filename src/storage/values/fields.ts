/**
 * The field types storage inputs are declared with (zod), shared by every module so that an id, a
 * JSON document or a page size is checked the same way everywhere. Each message is a predicate
 * (`must be …`) that {@link StorageError} puts after the field's name. A field's output is what
 * goes to PostgreSQL: JSON documents leave as checked JSON text, dates as ISO text with their
 * microseconds (see `codecs.ts`).
 */
import * as z from 'zod/mini';
import {
  encodeJson,
  isPlainObject,
  PreciseDate,
  timeRangeText,
  timestampText,
  toTimeRange,
  type Range,
  type TimeRange,
} from './codecs.js';
import { INVISIBLE_FORMAT } from '../../db/tenant.js';
import { invalidInput, StorageError } from '../mechanism/errors.js';
import type { CallOptions } from '../mechanism/module.js';

/** A field of type `In` whose check returns a problem (a `must be …` phrase) or `undefined`, and becomes `Out`. */
function field<In, Out = In>(
  problem: (value: unknown) => string | undefined,
  encode?: (value: In) => Out,
): z.ZodMiniType<Out, In> {
  const checked = z.custom<In>().check(
    z.superRefine((value, ctx) => {
      const why = problem(value);
      if (why !== undefined) ctx.addIssue({ code: 'custom', message: why, input: value });
    }),
  );
  return (encode ? z.pipe(checked, z.transform(encode)) : checked) as unknown as z.ZodMiniType<Out, In>;
}

/** The longest id (agent, workflow, …) in UTF-8 bytes. */
export const MAX_ID_BYTES = 255;
const CONTROL = /[\u0000-\u001f\u007f]/; // eslint-disable-line no-control-regex

/**
 * An id chosen by the caller: 1 to 255 bytes of well-formed text without control characters and
 * without bidirectional-formatting or zero-width characters (`INVISIBLE_FORMAT`).
 */
export const identifier = () =>
  field<string>((value) =>
    typeof value === 'string' &&
    value !== '' &&
    value.length <= MAX_ID_BYTES &&
    Buffer.byteLength(value) <= MAX_ID_BYTES &&
    !CONTROL.test(value) &&
    !INVISIBLE_FORMAT.test(value) &&
    value.isWellFormed()
      ? undefined
      : `must be a non-empty string of at most ${MAX_ID_BYTES} bytes (UTF-8) without control characters, bidirectional formatting characters (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) or zero-width spaces (U+200B, U+2060–U+2064, U+FEFF)`,
  );

/**
 * A text of well-formed Unicode without NUL characters (PostgreSQL stores neither a NUL nor a lone
 * surrogate), non-empty unless `allowEmpty`, of at most `maxBytes` bytes in UTF-8 when given
 * (every value is also held to `max_document_bytes` by the tenant handle).
 */
export const text = (maxBytes?: number, options: { allowEmpty?: boolean } = {}) =>
  field<string>((value) =>
    typeof value === 'string' &&
    (options.allowEmpty === true || value !== '') &&
    !value.includes('\0') &&
    value.isWellFormed() &&
    (maxBytes === undefined || value.length <= maxBytes / 3 || Buffer.byteLength(value) <= maxBytes)
      ? undefined
      : `must be a${options.allowEmpty === true ? '' : ' non-empty'} string${maxBytes === undefined ? '' : ` of at most ${maxBytes} bytes (UTF-8)`} of valid Unicode without NUL characters`,
  );

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A UUID, as the library generates for ids the caller does not choose (sessions). */
export const uuid = () =>
  field<string>((value) =>
    typeof value === 'string' && UUID.test(value) ? undefined : 'must be a UUID such as create() returns',
  );

/** An instant as a cursor holds it: a `PreciseDate`'s `toISOString()` (nanosecond digits, UTC). */
export const cursorTimestamp = () =>
  field<string>((value) => {
    const iso = typeof value === 'string' ? /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3})\d{6}Z$/.exec(value) : null;
    // The date must be one that exists (not 2020-02-30, not year 0): it reads back as written.
    const exists = iso !== null && !iso[1]!.startsWith('0000') && new Date(`${iso[1]}Z`).toISOString() === `${iso[1]}Z`;
    return exists ? undefined : 'must be an ISO 8601 instant with nine fraction digits, as a cursor holds it';
  });

/** A JSON object (a plain `{…}`), sent as the JSON text its check wrote ({@link encodeJson}). */
export const jsonObject = () =>
  z.pipe(
    z.unknown(),
    z.transform((value: unknown, ctx) => {
      const encoded = isPlainObject(value)
        ? encodeJson(value)
        : { problem: `must be a JSON object (a plain {…}), not ${kindOf(value)}` };
      if (encoded.text !== undefined) return encoded.text;
      const message = encoded.problem.startsWith('must ') ? encoded.problem : `must be JSON: it ${encoded.problem}`;
      ctx.issues.push({ code: 'custom', message, input: value });
      return z.NEVER;
    }),
  ) as unknown as z.ZodMiniType<string, Record<string, unknown>>;

/** A `Date` that is a real instant; with `future`, later than now. Sent as ISO text. */
export const timestamp = (options: { future?: boolean } = {}) =>
  field<Date, string>((value) => {
    if (!(value instanceof Date)) return 'must be a valid Date';
    const time = Date.prototype.getTime.call(value); // not a subclass's own getTime
    if (Number.isNaN(time)) return 'must be a valid Date';
    if (new Date(time).getUTCFullYear() < -4712)
      return 'must be a Date from 4713 BC on (the earliest PostgreSQL stores)';
    if (options.future === true && time <= Date.now()) return 'must be a Date in the future';
    return undefined;
  }, timestampText);

/** An integer from `min` to `max`. */
export const integer = (min: number, max: number) =>
  field<number>((value) =>
    Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max
      ? undefined
      : `must be an integer from ${min} to ${max}`,
  );

/** A row version for optimistic concurrency: an integer ≥ 0 (0: the row must not exist yet). */
export const version = () => integer(0, Number.MAX_SAFE_INTEGER);

/** One of `values`. */
export const oneOf = <const T extends readonly string[]>(values: T) =>
  field<T[number]>((value) =>
    typeof value === 'string' && values.includes(value) ? undefined : `must be one of ${values.join(', ')}`,
  );

/** The most rows one page of a `list` returns. */
export const MAX_PAGE_SIZE = 1000;
/** The page size of a `list` that names none. */
export const DEFAULT_PAGE_SIZE = 50;

/**
 * The option every store method takes: `signal`, an `AbortSignal` that aborts the call (`ABORTED`
 * at once, the statement running on a server cancelled, the transaction rolled back). Spread it
 * into a method's options schema; {@link callOptions} is the schema of a method with no other.
 */
export const signalOption = {
  signal: z.optional(
    field<AbortSignal>((value) => (value instanceof AbortSignal ? undefined : 'must be an AbortSignal')),
  ),
};

/** The options of a method that takes nothing but {@link signalOption}. */
export const callOptions = z.strictObject(signalOption);

/** The options of every `list`: a page size and the cursor of the page before. */
export const pageOptions = {
  ...signalOption,
  limit: z.optional(integer(1, MAX_PAGE_SIZE)),
  cursor: z.optional(
    field<string>((value) =>
      typeof value === 'string' && value.length <= 4096 ? undefined : 'must be a nextCursor string from list()',
    ),
  ),
};

/** How a value is named in a message: its kind, never its content. */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a Date';
  if (value === undefined) return 'undefined';
  if (typeof value === 'object') {
    const name = (value.constructor as { name?: unknown } | undefined)?.name;
    return name === 'Object' || name === undefined ? 'an object' : `a ${String(name)} object`;
  }
  return `a ${typeof value}`;
}

/**
 * Checks `input` of `operation` against `schema`, returning what it yields, or throws
 * `INVALID_INPUT` naming the first bad field (an unknown option is one) and what it must be. A
 * field is named by itself (`limit`, `expectedVersion`), whichever argument holds it; `name`
 * names the argument when the argument as a whole is wrong (`options` is not an object).
 */
export function parseInput<Out, In>(
  operation: string,
  schema: z.ZodMiniType<Out, In>,
  input: unknown,
  name = 'options',
): Out {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const unknownKey = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
  const parts = [...issue.path, ...(unknownKey === undefined ? [] : [unknownKey])].map(String);
  const path = parts.length === 0 ? name : parts.join('.');
  if (unknownKey !== undefined) throw invalidInput(operation, path, 'is not an option of this call');
  const missing = issue.code === 'invalid_type' && issue.input === undefined;
  const expected = missing
    ? 'is required'
    : issue.code === 'invalid_type'
      ? `must be ${issue.expected}`
      : issue.message;
  throw invalidInput(operation, path, expected);
}

/**
 * {@link parseInput} of one element of an array argument (`at`: `events.3`): a bad field is named
 * by its whole path (`events.3.type`), as the caller wrote it.
 */
export function parseElement<Out, In>(
  operation: string,
  schema: z.ZodMiniType<Out, In>,
  input: unknown,
  at: string,
): Out {
  try {
    return parseInput(operation, schema, input, at);
  } catch (error) {
    if (error instanceof StorageError && error.code === 'INVALID_INPUT' && error.field !== at) {
      throw invalidInput(operation, `${at}.${error.field}`, error.details.expected ?? '');
    }
    throw error;
  }
}

/**
 * Column types of declared row shapes: what the codecs yield for each PostgreSQL type. A row that
 * does not match its shape is a bug (or an unmigrated schema), reported as `INTERNAL`.
 */
export const column = {
  text: () => z.string(),
  /** `int4`, and `int8` through the codecs. */
  integer: () => z.number(),
  boolean: () => z.boolean(),
  /** `timestamptz` through the codecs: a `PreciseDate`. */
  timestamp: () => z.custom<PreciseDate>((value) => value instanceof PreciseDate),
  /** A `jsonb` object. */
  jsonObject: () => z.custom<Record<string, unknown>>(isPlainObject),
  /** `bytea`: a `Buffer`. */
  bytes: () => z.custom<Buffer>((value) => Buffer.isBuffer(value)),
  /** `tstzrange` through the codecs, as a {@link TimeRange} of `PreciseDate`s (`[from, to)`). */
  timeRange: () =>
    z.pipe(
      z.custom<Range<PreciseDate>>((value) => typeof value === 'object' && value !== null && 'upper' in value),
      z.transform((range: Range<PreciseDate>, ctx) => {
        try {
          return toTimeRange(range);
        } catch (error) {
          ctx.issues.push({ code: 'custom', message: (error as Error).message, input: range });
          return z.NEVER;
        }
      }),
    ),
  nullable: <T extends z.ZodMiniType>(type: T) => z.nullable(type),
};

/**
 * Checks that `input` (the argument `name` of `operation`) is a plain object with no key but
 * `keys`, and returns it. Its fields are checked by the statements they go to, but for `signal`
 * (the option of every call), checked here to be an `AbortSignal`.
 */
export function checkKeys<T extends object>(
  operation: string,
  name: string,
  input: T | undefined,
  keys: readonly (keyof T & string)[],
  options: { optional?: boolean } = {},
): T {
  if (input === undefined && options.optional === true) return {} as T;
  if (!isPlainObject(input)) throw invalidInput(operation, name, `must be an object, not ${kindOf(input)}`);
  for (const key of Object.keys(input)) {
    if (!(keys as readonly string[]).includes(key)) {
      throw invalidInput(operation, key, `is not an option of this call (it takes ${keys.join(', ')})`);
    }
  }
  const signal = (input as { signal?: unknown }).signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidInput(operation, 'signal', `must be an AbortSignal, not ${kindOf(signal)}`);
  }
  return input;
}

/**
 * The options of a store method that takes nothing but `signal` ({@link CallOptions}), checked:
 * `INVALID_INPUT` for another key, or a signal that is no `AbortSignal`.
 */
export function callOf(operation: string, options: CallOptions | undefined): CallOptions {
  return checkKeys(operation, 'options', options, ['signal'], { optional: true });
}

/**
 * Binary content: a `Buffer` or any `Uint8Array`, of at most `maxBytes` when given (every value is
 * also held to `max_document_bytes` by the tenant handle, unless its statement exempts it). Sent
 * as `bytea`, copied when checked.
 */
export const bytes = (maxBytes?: number) =>
  field<Uint8Array, Buffer>(
    (value) =>
      value instanceof Uint8Array && (maxBytes === undefined || value.byteLength <= maxBytes)
        ? undefined
        : `must be a Buffer or Uint8Array${maxBytes === undefined ? '' : ` of at most ${maxBytes} bytes`}`,
    // A copy: what was checked is what is sent, whatever the caller does to its buffer meanwhile.
    (value) => Buffer.from(value),
  );

/**
 * A span of time `{ from, to }` ([from, to): `from` included, `to` excluded), each side a valid
 * `Date` or `null`/absent for open; `from` before `to` when both are given. Sent as `tstzrange` text.
 */
export const timeRange = () =>
  field<Partial<TimeRange>, string>(
    (value) => {
      if (!isPlainObject(value)) return 'must be an object { from, to } of Dates (null or absent: open)';
      const unknownKey = Object.keys(value).find((key) => key !== 'from' && key !== 'to');
      if (unknownKey !== undefined) return `must have only from and to, not ${JSON.stringify(unknownKey)}`;
      const time = (side: unknown) =>
        side === undefined || side === null
          ? null
          : side instanceof Date &&
              !Number.isNaN(Date.prototype.getTime.call(side)) &&
              new Date(Date.prototype.getTime.call(side)).getUTCFullYear() >= -4712
            ? Date.prototype.getTime.call(side)
            : Number.NaN;
      const from = time(value.from);
      const to = time(value.to);
      if (Number.isNaN(from) || Number.isNaN(to))
        return 'must have from and to as valid Dates from 4713 BC on, or null';
      // To the microsecond where a side is a PreciseDate (as the stored instant is).
      const micros = (side: unknown, ms: number) =>
        side instanceof PreciseDate ? side.getFullTime() / 1000n : BigInt(ms) * 1000n;
      if (from !== null && to !== null && micros(value.from, from) >= micros(value.to, to)) {
        return 'must have from before to (the range is [from, to))';
      }
      return undefined;
    },
    (value) => timeRangeText({ from: value.from ?? null, to: value.to ?? null }),
  );
