import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/file.js';
import {
  describeValue,
  passwordsIn,
  redactConnectionString,
  redactConnectionStringsIn,
} from '../../../src/config/redact.js';
import { ConfigError } from '../../../src/errors.js';

// Secrets must be masked by the structure of what holds them (a URL, a keyword-form string, a line
// of the config file), not by patterns over text that miss the forms they do not parse.

describe('URL query parameters that carry a password, in any spelling', () => {
  it.each([
    ['a percent-encoded name', 'postgresql://u@h/db?pass%77ord=secret-1', 'postgresql://u@h/db?pass%77ord=***'],
    [
      'capitals',
      'postgresql://u@h/db?PASSWORD=secret-1&sslmode=require',
      'postgresql://u@h/db?PASSWORD=***&sslmode=require',
    ],
    ['mixed case', 'postgresql://u@h/db?Password=secret-1', 'postgresql://u@h/db?Password=***'],
    ['an encoded capital', 'postgresql://u@h/db?%50assword=secret-1', 'postgresql://u@h/db?%50assword=***'],
    ['a name encoded twice', 'postgresql://u@h/db?%2570assword=secret-1', 'postgresql://u@h/db?%2570assword=***'],
    [
      'sslpassword (the TLS key passphrase)',
      'postgresql://u@h/db?sslmode=require&sslpassword=secret-1',
      'postgresql://u@h/db?sslmode=require&sslpassword=***',
    ],
    ['sslPassWord', 'postgresql://u@h/db?sslPassWord=secret-1', 'postgresql://u@h/db?sslPassWord=***'],
    ['an encoded sslpassword', 'postgresql://u@h/db?ssl%70assword=secret-1', 'postgresql://u@h/db?ssl%70assword=***'],
    [
      'a password holding an unencoded &',
      'postgresql://u@h/db?password=secret&1&sslmode=require',
      'postgresql://u@h/db?password=***&***&sslmode=require',
    ],
    [
      'a password holding an unencoded #',
      'postgresql://u@h/db?password=secret#1',
      'postgresql://u@h/db?password=***#***',
    ],
  ])('%s: the value is masked, the rest kept', (_name, url, masked) => {
    expect(redactConnectionString(url)).toBe(masked);
    expect(redactConnectionStringsIn(`cannot reach ${url} now`)).not.toMatch(/secret/);
    expect(passwordsIn([url]).join(' ')).toContain('secret');
  });

  it('masks every one in free text, keeping hosts and databases readable', () => {
    expect(
      redactConnectionStringsIn('a postgresql://h1/db1?Password=one b postgresql://h2/db2?sslpassword=two c'),
    ).toBe('a postgresql://h1/db1?Password=*** b postgresql://h2/db2?sslpassword=*** c');
  });
});

describe('userinfo passwords that break a URL parser', () => {
  it.each([
    ['an unencoded / after digits (the URL parses, the password in its path)', 'postgresql://u:12/34@h/db'],
    ['an unencoded ?', 'postgresql://u:pa?ss@h:5432/db'],
    ['an unencoded # and @', 'postgresql://u:p#a@ss@h/db'],
  ])('%s', (_name, url) => {
    expect(redactConnectionString(url)).toMatch(/^postgresql:\/\/u:\*\*\*@h(:5432)?\/db$/);
    expect(redactConnectionStringsIn(`got ${url}`)).toMatch(/^got postgresql:\/\/u:\*\*\*@h(:5432)?\/db$/);
  });

  it('keeps an @ of a query value readable (no userinfo to mask)', () => {
    const url = 'postgresql://db.example:5432/llmspell?user=me@example.com';
    expect(redactConnectionStringsIn(url)).toBe(url);
  });

  it('keeps the placeholders of example URLs in hints readable', () => {
    for (const text of [
      'postgresql://USER:PASSWORD@HOST:5432/DATABASE',
      'Connection URL, for example postgresql://user:password@host:port/database?params.',
    ]) {
      expect(redactConnectionStringsIn(text)).toBe(text);
    }
  });
});

describe('keyword-form connection strings', () => {
  it.each([
    ['a doubled quote inside quotes', "host=h password='it''s' dbname=x", 'host=h password=*** dbname=x'],
    ['sslpassword', 'host=h sslpassword=s3cret dbname=x', 'host=h sslpassword=*** dbname=x'],
    ['an escaped space', 'host=h password=s3\\ cret dbname=x', 'host=h password=*** dbname=x'],
    ['an unterminated quote', "host=h password='s3 cret dbname=x", 'host=h password=***'],
  ])('%s', (_name, text, masked) => {
    expect(redactConnectionString(text)).toBe(masked);
  });
});

describe('describeValue of a secret key', () => {
  it('never echoes an array or a table (they may hold a bare password)', () => {
    expect(describeValue(['hunter2hunter2'], { secret: true })).toBe('an array');
    expect(describeValue({ p: 'hunter2hunter2' }, { secret: true })).toBe('a table');
    expect(describeValue(5, { secret: true })).toBe('5');
  });
});

/** The hint (the excerpt) of the CONFIG_SYNTAX error that parsing `text` throws. */
function excerptOf(text: string): string {
  try {
    parseConfigText(text, '/etc/llmspell.toml');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('CONFIG_SYNTAX');
    expect((error as ConfigError).message).not.toMatch(/hunter|ter2/);
    return (error as ConfigError).hint!;
  }
  throw new Error('expected a syntax error');
}

describe('TOML syntax-error excerpts: a line of a secret key is masked whatever it looks like', () => {
  // Passwords written raw in the file, with a character that breaks any pattern over the line.
  const passwords = [
    ['a double quote', 'hun"ter2'],
    ['a single quote', "hun'ter2"],
    ['an ampersand', 'hun&ter2'],
    ['a hash', 'hun#ter2'],
    ['an at sign', 'hun@ter2'],
    ['a space', 'hun ter2'],
    ['a backslash', 'hun\\\\ter2'],
    ['non-ASCII', 'hün✓ter2'],
    ['a very long one', `hunter2${'x'.repeat(5000)}`],
  ];

  it.each(passwords.filter(([name]) => name !== 'a double quote'))(
    'a password with %s on the line before the error',
    (_name, password) => {
      const hint = excerptOf(`[storage.postgres]\nurl = "postgresql://u:${password}@h/db"\npool_size = = 3\n`);
      expect(hint).toBe(
        'Fix the TOML syntax at line 3, column 13:\n2:  url = ***\n3:  pool_size = = 3\n                ^\n',
      );
    },
  );

  it.each(passwords)('a password with %s on the broken line itself', (_name, password) => {
    const hint = excerptOf(`[storage.postgres]\nmigration_url = "postgresql://u:${password}@h/db" oops\n`);
    expect(hint).toMatch(
      /^Fix the TOML syntax at line 2, column \d+:\n1: {2}\[storage\.postgres\]\n2: {2}migration_url = \*\*\*\n +\^\n$/,
    );
  });

  it('a password with a double quote, which breaks the string: the rest of the file is masked', () => {
    const hint = excerptOf('[storage.postgres]\nurl = "postgresql://u:hun"ter2@h/db"\npool_size = 3\n');
    expect(hint).toBe(
      'Fix the TOML syntax at line 2, column 27:\n1:  [storage.postgres]\n2:  url = ***\n          ^\n3:  ***\n',
    );
  });

  it('a password holding a newline: the continuation line is masked too', () => {
    const hint = excerptOf('[storage.postgres]\nurl = "postgresql://u:hun\nter2@h/db"\n');
    expect(hint).toBe(
      'Fix the TOML syntax at line 2, column 26:\n1:  [storage.postgres]\n2:  url = ***\n          ^\n3:  ***\n',
    );
  });

  it('a multi-line string of a secret key, above the error', () => {
    const hint = excerptOf('[storage.postgres]\nurl = """postgresql://u:hun\nter2@h/db"""\npool_size = = 3\n');
    expect(hint).toBe('Fix the TOML syntax at line 4, column 13:\n3:  ***\n4:  pool_size = = 3\n                ^\n');
  });

  it.each([
    ['a quoted key', '"url" = "postgresql://u:hun ter2@h/db"', '"url" = ***'],
    ['a dotted key', 'storage.postgres.url = "postgresql://u:hun ter2@h/db"', 'storage.postgres.url = ***'],
    [
      'an inline table',
      'storage = { postgres = { url = "postgresql://u:hun ter2@h/db" } }',
      'storage = { postgres = { url = ***',
    ],
    ['a literal string', "url = 'postgresql://u:hun ter2@h/db'", 'url = ***'],
  ])('%s', (_name, line, shown) => {
    const hint = excerptOf(`${line}\nx = = 1\n`);
    expect(hint).toBe(`Fix the TOML syntax at line 2, column 5:\n1:  ${shown}\n2:  x = = 1\n        ^\n`);
  });

  it('keeps lines of other keys readable', () => {
    const hint = excerptOf('[storage.postgres]\npool_size = 16\nx = = 1\n');
    expect(hint).toBe('Fix the TOML syntax at line 3, column 5:\n2:  pool_size = 16\n3:  x = = 1\n        ^\n');
  });
});
