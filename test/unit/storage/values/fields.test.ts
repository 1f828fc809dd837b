/**
 * `identifier()` (`src/storage/values/fields.ts`), through `parseInput` as every module calls it:
 * which ids are refused (`INVALID_INPUT` naming the field) and which are kept. Above all the
 * characters that make one id display as another: the bidirectional formatting characters and
 * the zero-width ones that belong to no script; ZWNJ and ZWJ, which scripts and emoji need, stay.
 */
import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { StorageError } from '../../../../src/storage/mechanism/errors.js';
import { identifier, MAX_ID_BYTES, parseInput } from '../../../../src/storage/values/fields.js';

const OP = 'test.put';
const schema = z.object({ id: identifier() });

/** The error of parsing `{ id }`, or `undefined` when it is accepted. */
function refusal(id: unknown): StorageError | undefined {
  try {
    parseInput(OP, schema, { id });
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(StorageError);
    return error as StorageError;
  }
}

/** The bidirectional formatting characters (Unicode's Bidi_Control property). */
const BIDI = [
  '\u061c', // ARABIC LETTER MARK
  '\u200e', // LEFT-TO-RIGHT MARK
  '\u200f', // RIGHT-TO-LEFT MARK
  '\u202a', // LEFT-TO-RIGHT EMBEDDING
  '\u202b', // RIGHT-TO-LEFT EMBEDDING
  '\u202c', // POP DIRECTIONAL FORMATTING
  '\u202d', // LEFT-TO-RIGHT OVERRIDE
  '\u202e', // RIGHT-TO-LEFT OVERRIDE
  '\u2066', // LEFT-TO-RIGHT ISOLATE
  '\u2067', // RIGHT-TO-LEFT ISOLATE
  '\u2068', // FIRST STRONG ISOLATE
  '\u2069', // POP DIRECTIONAL ISOLATE
];

/** Invisible characters with no part in any script. */
const ZERO_WIDTH = [
  '\u200b', // ZERO WIDTH SPACE
  '\u2060', // WORD JOINER
  '\u2061', // FUNCTION APPLICATION
  '\u2062', // INVISIBLE TIMES
  '\u2063', // INVISIBLE SEPARATOR
  '\u2064', // INVISIBLE PLUS
  '\ufeff', // ZERO WIDTH NO-BREAK SPACE (byte order mark)
];

const hex = (c: string) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

describe('identifier()', () => {
  it.each([...BIDI, ...ZERO_WIDTH].map((c) => [hex(c), c] as const))(
    'refuses %s at the start, in the middle, at the end and alone',
    (_, c) => {
      for (const id of [`${c}planner`, `plan${c}ner`, `planner${c}`, c, `abc${c}fed`]) {
        expect(refusal(id)).toMatchObject({ code: 'INVALID_INPUT', details: { operation: OP, field: 'id' } });
      }
    },
  );

  it('refuses the id that displays as another: "invoice-\\u202Efdp.exe" shows as "invoice-exe.pdf"', () => {
    expect(refusal('invoice-\u202Efdp.exe')).toMatchObject({ code: 'INVALID_INPUT', field: 'id' });
    expect(refusal('invoice-exe.pdf')).toBeUndefined();
  });

  it.each([
    ['right-to-left text (Hebrew, Arabic)', 'שלום-עולם'],
    ['Arabic', 'مرحبا'],
    ['mixed directions', 'agent-שלום-1'],
    ['ZWNJ in Persian (U+200C)', 'می\u200Cخواهم'],
    ['ZWJ in Devanagari (U+200D)', 'क्\u200Dष'],
    ['a ZWJ emoji sequence (U+200D)', '👩\u200D💻'],
    ['a variation selector (U+FE0F)', '❤\uFE0F'],
    ['a flag (regional indicators)', '🇳🇴'],
    ['a combining accent', 'e\u0301'],
    ['a soft hyphen (U+00AD)', 'plan\u00ADner'],
    ['no-break space (U+00A0)', 'a\u00A0b'],
    [`${MAX_ID_BYTES} bytes`, 'x'.repeat(MAX_ID_BYTES)],
  ])('keeps %s', (_, id) => {
    expect(refusal(id)).toBeUndefined();
  });

  it.each([
    ['an empty string', ''],
    ['a control character', 'a\nb'],
    ['DEL', 'a\u007f'],
    ['a NUL', 'a\u0000'],
    ['a lone surrogate', 'a\uD800'],
    [`${MAX_ID_BYTES + 1} bytes`, 'x'.repeat(MAX_ID_BYTES + 1)],
    ['a number', 5],
  ])('still refuses %s', (_, id) => {
    expect(refusal(id)).toMatchObject({ code: 'INVALID_INPUT', field: 'id' });
  });

  it('refuses exactly the listed characters, the C0 controls and DEL among the whole BMP', () => {
    const listed = new Set([...BIDI, ...ZERO_WIDTH]);
    const wrong: string[] = [];
    for (let cp = 0; cp <= 0xffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue; // lone surrogates: not well-formed text
      const c = String.fromCharCode(cp);
      const refused = refusal(`id-${c}`) !== undefined;
      if (refused !== (cp < 0x20 || cp === 0x7f || listed.has(c))) wrong.push(hex(c));
    }
    expect(wrong).toEqual([]);
  });
});
