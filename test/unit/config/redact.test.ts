import { describe, expect, it } from 'vitest';
import {
  describeValue,
  passwordsIn,
  redactConnectionString,
  redactConnectionStringsIn,
  redactValue,
  REDACTED,
  scrubSecrets,
} from '../../../src/config/redact.js';

describe('redactConnectionString', () => {
  it.each([
    [
      'URL password',
      'postgresql://app:s3cret@db.example:5432/llmspell',
      `postgresql://app:${REDACTED}@db.example:5432/llmspell`,
    ],
    [
      'URL password with an encoded @',
      'postgresql://app:p%40ss@db/llmspell',
      `postgresql://app:${REDACTED}@db/llmspell`,
    ],
    [
      'URL password holding a raw @ (masked up to the last @)',
      'postgresql://app:p@ss@db/llmspell',
      `postgresql://app:${REDACTED}@db/llmspell`,
    ],
    ['empty URL password', 'postgresql://app:@db/llmspell', `postgresql://app:${REDACTED}@db/llmspell`],
    [
      '?password= in the query',
      'postgresql://db/llmspell?user=app&password=s3cret&sslmode=require',
      `postgresql://db/llmspell?user=app&password=${REDACTED}&sslmode=require`,
    ],
    [
      'URL and query passwords together',
      'postgresql://app:one@db/llmspell?password=two',
      `postgresql://app:${REDACTED}@db/llmspell?password=${REDACTED}`,
    ],
    [
      'keyword form',
      'host=db user=app password=s3cret dbname=llmspell',
      `host=db user=app password=${REDACTED} dbname=llmspell`,
    ],
    [
      'keyword form, quoted with a space',
      "host=db password='s3 cret' dbname=llmspell",
      `host=db password=${REDACTED} dbname=llmspell`,
    ],
    ['keyword form, any case and spaces around =', 'host=db PASSWORD = s3cret', `host=db PASSWORD = ${REDACTED}`],
  ])('masks the %s', (_name, input, expected) => {
    expect(redactConnectionString(input)).toBe(expected);
  });

  it.each([
    ['a URL with a user and no password', 'postgresql://app@db:5432/llmspell'],
    ['a URL with no user', 'postgresql://db/llmspell?sslmode=require'],
    ['a socket URL', 'postgresql:///llmspell?host=/var/run/postgresql'],
    ['keyword form without a password', 'host=db user=app dbname=llmspell'],
    ['plain text', 'no secrets here'],
  ])('leaves %s untouched', (_name, input) => {
    expect(redactConnectionString(input)).toBe(input);
  });
});

describe('passwordsIn', () => {
  it('finds the URL password, raw and decoded', () => {
    expect(passwordsIn(['postgresql://app:p%40ss@db/llmspell']).sort()).toEqual(['p%40ss', 'p@ss'].sort());
  });

  it('finds ?password= and keyword-form passwords, unquoted', () => {
    expect(
      passwordsIn(['postgresql://db/x?password=q1', "host=db password='k 2'", 'host=db password=k3']).sort(),
    ).toEqual(['k 2', 'k3', 'q1']);
  });

  it('skips undefined, empty and password-less strings', () => {
    expect(passwordsIn([undefined, '', 'postgresql://app@db/llmspell', 'postgresql://app:@db/llmspell'])).toEqual([]);
  });

  it('lists each password once', () => {
    expect(passwordsIn(['postgresql://a:same@db/x', 'postgresql://b:same@db/y'])).toEqual(['same']);
  });
});

describe('scrubSecrets', () => {
  it('replaces every occurrence of every secret', () => {
    expect(scrubSecrets('connect a:one@db failed; retry with one and two', ['one', 'two'])).toBe(
      `connect a:${REDACTED}@db failed; retry with ${REDACTED} and ${REDACTED}`,
    );
  });

  it('leaves text without the secrets alone', () => {
    expect(scrubSecrets('nothing to hide', ['s3cret'])).toBe('nothing to hide');
  });

  it('scrubs an error message of the passwords found in the URLs it came from', () => {
    const url = 'postgresql://app:Tr0ub4dor&3@db/llmspell';
    const message = `password authentication failed for "app" (Tr0ub4dor&3) at ${url}`;
    const scrubbed = scrubSecrets(message, passwordsIn([url]));
    expect(scrubbed).not.toContain('Tr0ub4dor');
    expect(scrubbed).toContain('app');
  });
});

describe('passwords that a URL parser would lose', () => {
  it.each([
    ['a malformed percent-escape', 'postgresql://u:pw%zz@h/db', 'pw%zz'],
    ['an unencoded #', 'postgresql://u:p#w@h/db', 'p#w'],
    ['a quoted keyword value with an escaped quote', "host=h password='it\\'s'", "it's"],
  ])('passwordsIn finds %s', (_name, input, password) => {
    expect(passwordsIn([input])).toContain(password);
    expect(scrubSecrets(`failed: ${password}`, passwordsIn([input]))).not.toContain(password);
  });

  it.each([
    ['a malformed percent-escape', 'postgresql://u:pw%zz@h/db', `postgresql://u:${REDACTED}@h/db`],
    ['an unencoded #', 'postgresql://u:p#w@h/db', `postgresql://u:${REDACTED}@h/db`],
    ['a quoted keyword value with an escaped quote', "host=h password='it\\'s'", `host=h password=${REDACTED}`],
  ])('redactConnectionString masks %s', (_name, input, expected) => {
    expect(redactConnectionString(input)).toBe(expected);
  });
});

describe('redactConnectionStringsIn', () => {
  it.each([
    [
      'a URL in a sentence',
      'cannot reach postgresql://app:s3cret@db/x now',
      `cannot reach postgresql://app:${REDACTED}@db/x now`,
    ],
    [
      'every URL of the text',
      'a=postgres://a:one@h/x b=postgresql://b:two@h/y',
      `a=postgres://a:${REDACTED}@h/x b=postgresql://b:${REDACTED}@h/y`,
    ],
    [
      'a URL quoted in a TOML excerpt',
      '2:  url = "postgresql://u:hunter2@h/db"',
      `2:  url = "postgresql://u:${REDACTED}@h/db"`,
    ],
    [
      'a malformed password holding a quote',
      'url = "postgresql://u:hun"ter2@h/db"',
      `url = "postgresql://u:${REDACTED}@h/db"`,
    ],
    [
      'a ?password= query parameter',
      'postgresql://h/db?password=q1&sslmode=require',
      `postgresql://h/db?password=${REDACTED}&sslmode=require`,
    ],
    ['a keyword-form string', 'got "host=h password=k3 dbname=x"', `got "host=h password=${REDACTED} dbname=x"`],
    ['a quoted keyword-form value', "host=h password='a b' dbname=x", `host=h password=${REDACTED} dbname=x`],
    [
      'a short, common password',
      'postgresql://postgres:postgres@h/postgres',
      `postgresql://postgres:${REDACTED}@h/postgres`,
    ],
  ])('masks %s', (_name, input, expected) => {
    expect(redactConnectionStringsIn(input)).toBe(expected);
  });

  it.each([
    ['a URL without a password', 'see postgresql://app@db/x and https://example.com/docs'],
    [
      'the placeholder of example URLs',
      'Set it: llmspell config set storage.postgres.url "postgresql://USER:PASSWORD@HOST:5432/DATABASE"',
    ],
    ['the word password in prose', 'percent-encode special characters in the password'],
  ])('leaves %s alone', (_name, input) => {
    expect(redactConnectionStringsIn(input)).toBe(input);
  });

  it('leaves no password in a JSON document masked as text', () => {
    const document = {
      url: 'postgresql://u:s3cret@h/db',
      dsn: 'host=h password=s3cret',
      query: 'postgresql://h/db?password=s3cret',
    };
    expect(redactConnectionStringsIn(JSON.stringify(document, null, 2))).not.toContain('s3cret');
  });

  it('keeps a JSON document parseable when masked string by string (redactValue)', () => {
    const document = {
      url: 'postgresql://u:s3cret@h/db',
      dsn: 'host=h password=s3cret',
      query: 'postgresql://h/db?password=s3cret',
      list: ['postgresql://u:"s3cret"@h/db'],
    };
    expect(JSON.parse(JSON.stringify(redactValue(document)))).toEqual({
      url: `postgresql://u:${REDACTED}@h/db`,
      dsn: `host=h password=${REDACTED}`,
      query: `postgresql://h/db?password=${REDACTED}`,
      list: [`postgresql://u:${REDACTED}@h/db`],
    });
  });
});

describe('describeValue', () => {
  it.each([
    ['a URL', 'postgresql://u:hunter2@h/db'],
    ['a URL whose password holds a space', 'postgresql://u:hunter 2@h/db'],
    ['a keyword-form string', 'host=h password=hunter2'],
    ['a URL inside an array', ['postgresql://u:hunter2@h/db']],
    ['a URL inside a table', { url: 'postgresql://u:hunter2@h/db' }],
  ])('masks the password of %s', (_name, value) => {
    expect(describeValue(value)).not.toContain('hunter2');
    expect(describeValue(value)).toContain(REDACTED);
  });

  it('renders other values as JSON', () => {
    expect(describeValue('lots')).toBe('"lots"');
    expect(describeValue(8)).toBe('8');
    expect(describeValue(true)).toBe('true');
    expect(describeValue(undefined)).toBe('undefined');
  });
});
