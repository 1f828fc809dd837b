import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { parseConfigText, tomlLiteral } from '../../../src/config/file.js';
import { ConfigError } from '../../../src/errors.js';

/** The ConfigError that parsing `text` throws. */
function syntaxError(text: string): ConfigError {
  let error: unknown;
  try {
    parseConfigText(text, '/etc/llmspell.toml');
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).code).toBe('CONFIG_SYNTAX');
  return error as ConfigError;
}

describe('tomlLiteral', () => {
  it.each([
    ['a plain string', 'embedded'],
    ['quotes and backslashes', 'a "b" \\c'],
    ['control characters', 'tab\there\nnewline'],
    ['DEL, which TOML forbids raw', 'x\x7fy'],
    ['non-ASCII', 'café ✓'],
  ])('writes %s as a basic string that parses back', (_name, value) => {
    expect(parse(`v = ${tomlLiteral(value)}`)).toEqual({ v: value });
  });

  it('writes numbers and booleans bare', () => {
    expect(tomlLiteral(16)).toBe('16');
    expect(tomlLiteral(false)).toBe('false');
  });
});

describe('parseConfigText syntax errors', () => {
  it('masks the whole value of a secret key on a line near the error, keeping the key', () => {
    const error = syntaxError('[storage.postgres]\nurl = "postgresql://u:hunter2@h/db"\npool_size = = 3\n');
    expect(`${error.message}\n${error.hint}`).not.toContain('hunter2');
    expect(error.hint).toContain('\n2:  url = ***\n');
  });

  it('masks a keyword-form password and a password that broke the string', () => {
    for (const text of ['url = "host=h password=hunter2"\nx = = 1\n', 'url = "postgresql://u:hun"ter2@h/db"\n']) {
      const error = syntaxError(text);
      expect(`${error.message}\n${error.hint}`, text).not.toMatch(/hun"?ter2/);
    }
  });

  it('puts the ^ under the mask when the error is in the masked value of a secret line', () => {
    // The rest of a broken secret line may be the rest of the password (`hun"ter2`): it is masked
    // whole, and the ^ points at the mask.
    const error = syntaxError('url = "postgresql://u:hunter2@h/db" oops\n');
    expect(error.hint).toBe('Fix the TOML syntax at line 1, column 37:\n1:  url = ***\n          ^\n');
  });

  it('keeps the ^ under the error when a URL password before it on a line of another key is masked', () => {
    const error = syntaxError('x = "postgresql://u:hunter2@h/db" oops\n');
    const lines = error.hint!.split('\n');
    const caret = lines.findIndex((line) => /^ *\^$/.test(line));
    expect(lines[caret - 1]).toBe('1:  x = "postgresql://u:***@h/db" oops');
    expect(lines[caret - 1]!.slice(lines[caret]!.indexOf('^'))).toMatch(/^oops/);
  });
});
