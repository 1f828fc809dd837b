import { describe, expect, it } from 'vitest';
import {
  CONFIG_KEYS,
  findKey,
  isPlainTable,
  parseKeyValue,
  requireKnownKey,
  valueAtPath,
} from '../../../src/config/keys.js';
import { ConfigError } from '../../../src/errors.js';

/** The error `fn` throws (fails the test if it returns). */
function thrown(fn: () => unknown): ConfigError {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

describe('valueAtPath', () => {
  const doc = { storage: { backend: 'postgres', postgres: { pool_size: 4 }, list: [1], when: new Date(0) } };

  it('finds values and tables at a path', () => {
    expect(valueAtPath(doc, ['storage', 'postgres', 'pool_size'])).toBe(4);
    expect(valueAtPath(doc, ['storage', 'postgres'])).toEqual({ pool_size: 4 });
    expect(valueAtPath(doc, [])).toBe(doc);
  });

  it.each([
    ['a missing key', ['storage', 'embedded', 'path']],
    ['a path through a scalar', ['storage', 'backend', 'length']],
    ['a path through an array', ['storage', 'list', '0']],
    ['a path through a datetime', ['storage', 'when', 'getTime']],
    ['an inherited property', ['storage', 'constructor']],
  ])('is undefined for %s', (_name, path) => {
    expect(valueAtPath(doc, path)).toBeUndefined();
  });

  it('is undefined below undefined and null', () => {
    expect(valueAtPath(undefined, ['storage'])).toBeUndefined();
    expect(valueAtPath(null, ['storage'])).toBeUndefined();
  });
});

describe('isPlainTable', () => {
  it('is true for tables only', () => {
    expect(isPlainTable({})).toBe(true);
    for (const value of [[], new Date(0), null, undefined, 'x', 3, true])
      expect(isPlainTable(value), String(value)).toBe(false);
  });
});

describe('requireKnownKey', () => {
  it('returns the spec of a key', () => {
    expect(requireKnownKey('storage.postgres.pool_size').key).toBe('storage.postgres.pool_size');
    expect(requireKnownKey('storage.backend', { allowTable: true })?.key).toBe('storage.backend');
  });

  it('accepts a table and the whole document when asked to, returning undefined', () => {
    expect(requireKnownKey('storage.postgres', { allowTable: true })).toBeUndefined();
    expect(requireKnownKey('', { allowTable: true })).toBeUndefined();
  });

  it('refuses a table where a value is needed with USAGE', () => {
    expect(thrown(() => requireKnownKey('storage.postgres')).code).toBe('USAGE');
  });

  it('refuses an unknown key with CONFIG_INVALID and the nearest key, tables allowed or not', () => {
    for (const options of [undefined, { allowTable: true as const }]) {
      const error = thrown(() =>
        options
          ? requireKnownKey('storage.postgres.pool_sise', options)
          : requireKnownKey('storage.postgres.pool_sise'),
      );
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.issues).toEqual([
        expect.objectContaining({ key: 'storage.postgres.pool_sise', suggestion: 'storage.postgres.pool_size' }),
      ]);
    }
  });
});

describe('what applies when a key is unset', () => {
  it('every key without a default says in the schema what applies instead', () => {
    const unset = CONFIG_KEYS.filter((spec) => spec.default === undefined);
    expect(unset.map((spec) => spec.key)).toEqual([
      'storage.embedded.path',
      'storage.memory.backend',
      'storage.state.backend',
      'storage.postgres.url',
      'storage.postgres.migration_url',
    ]);
    for (const spec of unset) expect(spec.fallback, spec.key).toMatch(/\S/);
  });

  it('keys with a default need no fallback text', () => {
    expect(findKey('storage.postgres.pool_size')?.fallback).toBeUndefined();
  });
});

describe('timeouts', () => {
  const MAX_TIMER_MS = 2 ** 31 - 1;
  const timeouts = CONFIG_KEYS.filter((spec) => spec.key.endsWith('_secs'));

  it('every *_secs key is capped at what a Node timer and statement_timeout hold (2^31 − 1 ms)', () => {
    expect(timeouts.length).toBeGreaterThan(0);
    for (const spec of timeouts) {
      expect(spec.max, spec.key).toBeDefined();
      expect(spec.max! * 1000, spec.key).toBeLessThanOrEqual(MAX_TIMER_MS);
      expect((spec.max! + 1) * 1000, spec.key).toBeGreaterThan(MAX_TIMER_MS);
    }
  });

  it.each(timeouts.map((spec) => [spec.key]))('%s accepts 2147483 and refuses 2147484', (key) => {
    const spec = findKey(key)!;
    expect(parseKeyValue(spec, '2147483')).toEqual({ ok: true, value: 2_147_483 });
    expect(parseKeyValue(spec, '2147484').ok).toBe(false);
  });
});
