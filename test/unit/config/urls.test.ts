import { describe, expect, it } from 'vitest';
import { checkPostgresUrl, connectTimeoutSecs, postgresUrlProblem, SSL_MODES } from '../../../src/config/urls.js';
import { ConfigError } from '../../../src/errors.js';
import { redactConnectionString } from '../../../src/config/redact.js';

describe('postgresUrlProblem', () => {
  it.each([
    'postgresql://app@db:5432/llmspell',
    'postgres://db/llmspell',
    'POSTGRESQL://db.example.com./llmspell',
    'postgresql://app:p%40ss%2Fw%23rd%3F@db/llmspell',
    'postgresql://app:pa:ss@db/llmspell',
    'postgresql:///llmspell?host=/var/run/postgresql',
    'postgresql://app@/llmspell?host=/var/run/postgresql',
    'postgresql://app:pw@/llmspell?host=/tmp&sslmode=disable',
    'postgresql://%2Fvar%2Frun%2Fpostgresql/llmspell',
    'postgresql://[::1]:5432/llmspell',
    'postgresql://10.0.0.7/llmspell',
    'postgresql://db/llmspell?user=me@example.com&options=-c%20search_path%3Dx',
    'postgresql://db/llmspell?port=6432',
    'postgresql://app:pw@db/llmspell?sslmode=verify-full&sslrootcert=/etc/ca.crt&connect_timeout=10',
    'postgresql://db',
  ])('accepts %s', (url) => {
    expect(postgresUrlProblem(url)).toBeUndefined();
  });

  it.each([
    ['not a url', /must start with postgresql:\/\//],
    ['mysql://u:p@h/d', /must start with postgresql:\/\//],
    ['postgresql://not a url', /not a valid URL/],
    ['postgresql:///llmspell', /no host/],
    ['postgresql://app@/llmspell', /no host/],
    ['postgresql://:5432/llmspell', /not a valid URL|no host/],
    ['postgresql://db:0/llmspell', /port "0" is not a port/],
    ['postgresql://db:99999/llmspell', /port "99999" is not a port/],
    ['postgresql://db:abc/llmspell', /port "abc" is not a port/],
    ['postgresql://db/llmspell?port=x', /port "x" is not a port/],
    ['postgresql://db1,db2/llmspell', /several hosts/],
    [
      'postgresql://db/llmspell?sslmode=bogus',
      /sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full/,
    ],
    ['postgresql://db/llmspell?sslmode=no-verify', /libpq’s equivalent is require/],
    ['postgresql://db/llmspell?connect_timeout=soon', /connect_timeout must be a whole number/],
    ['postgresql://db/llmspell?ssl=true', /ssl is not supported: use sslmode/],
    ['postgresql://db/llmspell?sslcrl=/x.crl', /sslcrl is not supported/],
    ['postgresql://db/llmspell?sslrootcert=system&sslmode=require', /sslrootcert=system needs sslmode=verify-full/],
  ])('refuses %s', (url, why) => {
    expect(postgresUrlProblem(url)).toMatch(why);
  });

  it.each([
    ['postgresql://app:p@ss@db/llmspell', 'p@ss', 'password', '@', '%40'],
    ['postgresql://app:pa/ss@db/llmspell', 'pa/ss', 'password', '/', '%2F'],
    ['postgresql://app:12/34@db/llmspell', '12/34', 'password', '/', '%2F'],
    ['postgresql://app:pa#ss@db/llmspell', 'pa#ss', 'password', '#', '%23'],
    ['postgresql://app:12#3@db/llmspell', '12#3', 'password', '#', '%23'],
    ['postgresql://app:pa?ss@db:5432/llmspell', 'pa?ss', 'password', '?', '%3F'],
    ['postgresql://me@corp:pw@db/llmspell', 'pw', 'user name', '@', '%40'],
  ])('%s: says the %s must be percent-encoded, without showing it', (url, secret, part, char, encoded) => {
    const problem = postgresUrlProblem(url)!;
    expect(problem).toBe(
      `the ${part} contains an unencoded "${char}", which must be percent-encoded as ${encoded} (otherwise the URL names another host)`,
    );
    expect(problem).not.toContain(secret);
  });

  it('an @ in the query is not taken for one of the password', () => {
    expect(postgresUrlProblem('postgresql://db:5432/llmspell?user=me@example.com')).toBeUndefined();
  });
});

describe('checkPostgresUrl', () => {
  const errorOf = (fn: () => unknown): ConfigError => {
    try {
      fn();
    } catch (error) {
      if (error instanceof ConfigError) return error;
      throw error;
    }
    throw new Error('did not throw');
  };

  it('returns a usable URL unchanged', () => {
    expect(checkPostgresUrl('postgresql://app@db/llmspell', 'storage.postgres.url', { env: {} })).toBe(
      'postgresql://app@db/llmspell',
    );
  });

  it('names the key and where the value came from, masks the passwords, keeps the issue', () => {
    const error = errorOf(() =>
      checkPostgresUrl('postgresql://app:s3cret@db/x?sslmode=bogus&sslpassword=k3y', 'storage.postgres.migration_url', {
        env: {},
        origin: 'LLMSPELL_STORAGE_POSTGRES_MIGRATION_URL',
      }),
    );
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toMatch(
      /^storage\.postgres\.migration_url \(from LLMSPELL_STORAGE_POSTGRES_MIGRATION_URL\) is not a usable connection URL \(sslmode must be one of/,
    );
    expect(error.message).not.toMatch(/s3cret|k3y/);
    expect(error.issues).toEqual([
      { key: 'storage.postgres.migration_url', message: expect.stringContaining('sslmode') },
    ]);
  });

  it('a missing URL is CONFIG_INVALID naming the key', () => {
    expect(errorOf(() => checkPostgresUrl(undefined, 'storage.postgres.url', { env: {} })).message).toBe(
      'storage.postgres.url is not set, and storage.backend is postgres',
    );
  });

  it('an unknown PGSSLMODE is refused, unless the URL gives sslmode (which wins)', () => {
    const env = { PGSSLMODE: 'sometimes' };
    const error = errorOf(() => checkPostgresUrl('postgresql://db/x', 'storage.postgres.url', { env }));
    expect(error.message).toBe(
      `the environment variable PGSSLMODE must be one of ${SSL_MODES.join(', ')}, not "sometimes"`,
    );
    expect(checkPostgresUrl('postgresql://db/x?sslmode=require', 'storage.postgres.url', { env })).toBe(
      'postgresql://db/x?sslmode=require',
    );
  });

  it('percent-encoding problems get a hint with the encodings', () => {
    const error = errorOf(() => checkPostgresUrl('postgresql://a:b/c@db/x', 'storage.postgres.url', { env: {} }));
    expect(error.hint).toContain('/ → %2F');
  });
});

describe('connectTimeoutSecs', () => {
  it.each([
    ['postgresql://db/x', undefined],
    ['postgresql://db/x?connect_timeout=0', undefined],
    ['postgresql://db/x?connect_timeout=-3', undefined],
    ['postgresql://db/x?connect_timeout=1', 2],
    ['postgresql://db/x?connect_timeout=2', 2],
    ['postgresql://db/x?connect_timeout=15', 15],
  ])('%s → %s', (url, secs) => {
    expect(connectTimeoutSecs(url)).toBe(secs);
  });
});

describe('a URL as printed (redactConnectionString)', () => {
  it('masks the password and sslpassword, nothing else', () => {
    expect(redactConnectionString('postgresql://app:pw@db/x?sslmode=require&sslpassword=secret&sslkey=/k')).toBe(
      'postgresql://app:***@db/x?sslmode=require&sslpassword=***&sslkey=/k',
    );
  });
});
