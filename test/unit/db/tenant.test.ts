/**
 * The tenant id check (`tenantIdValidator`, `src/db/tenant.ts`): whatever
 * `storage.postgres.tenant_id_pattern` admits, no tenant id may hold a bidirectional formatting
 * character or a zero-width one that belongs to no script — the set `identifier()` refuses too —
 * and the message shows such an id escaped, so that it does not display reordered itself.
 */
import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { tenantIdValidator } from '../../../src/db/tenant.js';
import { LlmspellError } from '../../../src/errors.js';
import { identifier, parseInput } from '../../../src/storage/values/fields.js';

/** A pattern that admits any text (up to the 255-byte limit, checked before it). */
const ANYTHING = '^[\\s\\S]+$';
const DEFAULT = '^[a-z0-9-]{3,255}$';

/** The error `validate` throws for `tenantId`, or `undefined` when it accepts it. */
function refusal(validate: (id: unknown) => string, tenantId: unknown): LlmspellError | undefined {
  try {
    expect(validate(tenantId)).toBe(tenantId);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(LlmspellError);
    return error as LlmspellError;
  }
}

const REFUSED = [
  '\u061c',
  '\u200e',
  '\u200f',
  '\u202a',
  '\u202b',
  '\u202c',
  '\u202d',
  '\u202e',
  '\u2066',
  '\u2067',
  '\u2068',
  '\u2069',
  '\u200b',
  '\u2060',
  '\u2061',
  '\u2062',
  '\u2063',
  '\u2064',
  '\ufeff',
];
const hex = (c: string) => c.codePointAt(0)!.toString(16).padStart(4, '0');

describe('tenant ids under a pattern that admits any text', () => {
  const validate = tenantIdValidator(ANYTHING);

  it.each(REFUSED.map((c) => [`U+${hex(c).toUpperCase()}`, c] as const))('refuse %s wherever it is', (_, c) => {
    for (const id of [`${c}acme`, `ac${c}me`, `acme${c}`, c]) {
      expect(refusal(validate, id)).toMatchObject({ code: 'TENANT_INVALID' });
    }
  });

  it('show the refused id escaped: the message does not display reordered', () => {
    const error = refusal(validate, 'acme-\u202Eevil\u2066');
    expect(error?.code).toBe('TENANT_INVALID');
    expect(error?.message).not.toMatch(/[\u202e\u2066]/);
    expect(error?.message).toContain('acme-\\u202eevil\\u2066');
  });

  it.each([
    ['right-to-left text', 'שלום'],
    ['ZWNJ (U+200C)', 'می\u200Cخواهم'],
    ['a ZWJ emoji sequence (U+200D)', '👩\u200D💻'],
    ['a variation selector', '❤\uFE0F'],
    ['plain ASCII', 'acme-1'],
  ])('keep %s', (_, id) => {
    expect(refusal(validate, id)).toBeUndefined();
  });

  it('refuse what identifier() refuses, among every BMP character it does not refuse as a control', () => {
    const ids = z.object({ id: identifier() });
    const differ: string[] = [];
    for (let cp = 0x20; cp <= 0xffff; cp++) {
      if (cp === 0x7f || (cp >= 0xd800 && cp <= 0xdfff)) continue;
      const c = String.fromCharCode(cp);
      let byIdentifier = false;
      try {
        parseInput('test.put', ids, { id: `acme${c}` });
      } catch {
        byIdentifier = true;
      }
      if (byIdentifier !== (refusal(validate, `acme${c}`) !== undefined)) differ.push(`U+${hex(c)}`);
    }
    expect(differ).toEqual([]);
  });
});

describe('tenant ids under the default pattern', () => {
  const validate = tenantIdValidator(DEFAULT);

  it('refuse them too (the pattern never admitted them), and keep valid ids', () => {
    expect(refusal(validate, 'acme\u202e')).toMatchObject({ code: 'TENANT_INVALID' });
    expect(refusal(validate, 'acme-1')).toBeUndefined();
  });
});
