import { describe, expect, it } from 'vitest';
import {
  encodeJson,
  jsonProblem,
  parseInt8,
  parseTimestamp,
  parseTimestampRange,
  parseVector,
  PreciseDate,
  RESULT_TYPES,
  timestampText,
  vectorText,
} from '../../../../src/storage/values/codecs.js';

describe('codecs', () => {
  it('reads timestamptz with its microseconds, in any session time zone', () => {
    const utc = parseTimestamp('2026-12-02 01:59:27.123456+00');
    expect(utc).toBeInstanceOf(PreciseDate);
    expect(utc).toBeInstanceOf(Date);
    expect(utc.getTime()).toBe(Date.UTC(2026, 11, 2, 1, 59, 27, 123));
    expect(utc.getMicroseconds()).toBe(456);
    expect(timestampText(utc)).toBe('2026-12-02T01:59:27.123456Z');
    const shifted = parseTimestamp('2026-12-02 03:59:27.000007+02');
    expect(shifted.getTime()).toBe(Date.UTC(2026, 11, 2, 1, 59, 27, 0));
    expect(shifted.getMicroseconds()).toBe(7);
    expect(parseTimestamp('2026-12-02 01:59:27.5+00').getMicroseconds()).toBe(0);
    expect(parseTimestamp('2026-12-02 01:59:27+05:30').getTime()).toBe(Date.UTC(2026, 11, 1, 20, 29, 27));
    expect(() => parseTimestamp('infinity')).toThrow(RangeError);
  });

  it('reads int8 as a number, refusing one past 2^53 − 1 instead of rounding it', () => {
    expect(parseInt8('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseInt8('-42')).toBe(-42);
    expect(() => parseInt8('9007199254740993')).toThrow(RangeError);
  });

  it('reads tstzrange bounds as PreciseDates, an open side as null', () => {
    const range = parseTimestampRange('["2026-01-01 00:00:00.000001+00",)');
    expect(range.lower?.getMicroseconds()).toBe(1);
    expect(range.upper).toBeNull();
    expect(range.isLowerBoundClosed()).toBe(true);
  });

  it('chooses its parsers by OID and leaves every other type to pg', () => {
    expect(RESULT_TYPES.getTypeParser(20, 'text')).toBe(parseInt8);
    expect(RESULT_TYPES.getTypeParser(1184, 'text')).toBe(parseTimestamp);
    expect((RESULT_TYPES.getTypeParser(23, 'text') as (v: string) => unknown)('7')).toBe(7);
    // pg passes a query's `types` into the Parse message too; PGlite iterates it as a list of OIDs.
    expect(Array.isArray(RESULT_TYPES)).toBe(true);
    expect(RESULT_TYPES as unknown as unknown[]).toHaveLength(0);
  });

  it('round-trips vectors through pgvector', () => {
    expect(vectorText([1, 0.5, -2])).toBe('[1,0.5,-2]');
    expect(parseVector('[1,0.5,-2]')).toEqual([1, 0.5, -2]);
  });

  it.each([
    [{ a: 1, b: [true, null, 'x', { c: 2.5 }] }, undefined],
    [{ a: NaN }, /NaN at a/],
    [{ a: [1, Infinity] }, /Infinity at a\[1\]/],
    [{ a: [undefined] }, /undefined at a\[0\]/],
    [{ a: new Date(0) }, /Date object at a/],
    [{ a: new Map() }, /Map object at a/],
    [{ a: 1n }, /bigint at a/],
    [{ a: () => 1 }, /function at a/],
    [{ a: 'x\0y' }, /NUL/],
    [{ 'k\0': 1 }, /NUL/],
    [{ a: '\ud800' }, /surrogate/],
  ])('jsonProblem, case %#', (value, problem) => {
    const found = jsonProblem(value);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toMatch(problem);
  });

  it('refuses JSON nested deeper than 100 levels', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 150; i++) deep = [deep];
    expect(jsonProblem(deep)).toMatch(/nested/);
  });
});

describe('timestampText beyond years 1–9999', () => {
  it.each([
    ['+010000-01-01T00:00:00.000Z', '10000-01-01 00:00:00.000000+00'],
    ['0000-06-15T12:30:00.250Z', '0001-06-15 12:30:00.250000+00 BC'],
    ['-000001-01-01T00:00:00.000Z', '0002-01-01 00:00:00.000000+00 BC'],
  ])('writes %s as PostgreSQL reads it (%s), and reads it back', (iso, text) => {
    const date = new Date(iso);
    expect(timestampText(date)).toBe(text);
    expect(parseTimestamp(text).getTime()).toBe(date.getTime());
  });
});

describe('what is checked is what is sent', () => {
  it('writes JSON in the walk that checks it: a getter is read once, an object with a hidden toJSON is refused', () => {
    let reads = 0;
    const flip = {
      get n() {
        reads++;
        return reads === 1 ? 1 : NaN;
      },
    };
    expect(encodeJson(flip)).toEqual({ text: '{"n":1}' });
    expect(reads).toBe(1);
    const hidden = { a: 1 };
    Object.defineProperty(hidden, 'toJSON', { value: () => [1, 2, 3], enumerable: false });
    expect(encodeJson(hidden).problem).toMatch(/toJSON/);
    expect(encodeJson({ s: 'é"\\\n', a: [1.5, true, null, {}] }).text).toBe(
      JSON.stringify({ s: 'é"\\\n', a: [1.5, true, null, {}] }),
    );
  });

  it('encodes a Date subclass from its instant, not from its own toISOString', () => {
    class Lying extends Date {
      override toISOString(): string {
        return 'infinity';
      }
    }
    expect(timestampText(new Lying(Date.UTC(2030, 0, 1)))).toBe('2030-01-01T00:00:00.000000Z');
  });
});
