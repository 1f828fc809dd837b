/**
 * Connection URLs and connection errors that do not mislead, against real endpoints: the run's
 * PostgreSQL 18, a closed port, a TCP server that accepts and never answers, a missing socket
 * directory; and passwords kept out of the URL (PGPASSWORD, ~/.pgpass).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Env } from '../../src/config/paths.js';
import { openDatabase, type OpenDatabaseOptions } from '../../src/db/open.js';
import type { Database } from '../../src/db/types.js';
import { LlmspellError } from '../../src/errors.js';
import { openMigrationDatabase } from '../../src/migrate/connect.js';
import { runCliInProcess } from '../helpers/cli.js';
import { serverAdminUrl } from '../helpers/postgres.js';
import { testSettings } from '../helpers/settings.js';

let dir: string;
let admin: URL;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'llmspell-test-connerr-'));
  await mkdir(path.join(dir, 'home'));
  admin = new URL(serverAdminUrl());
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A HOME of its own (no ~/.pgpass, no ~/.postgresql) plus `env`. */
const isolated = (env: Env = {}): Env => ({ HOME: path.join(dir, 'home'), ...env });

/** Opens `url` as the library does and runs one query; resolves to the error it failed with (or throws if it worked). */
async function failureOf(
  url: string,
  options: OpenDatabaseOptions = {},
  postgres: Record<string, unknown> = {},
): Promise<LlmspellError> {
  const outcome = await query(url, options, postgres).then(
    () => new Error(`connected with ${url}`),
    (error: unknown) => error,
  );
  if (!(outcome instanceof LlmspellError)) throw outcome;
  return outcome;
}

async function query(url: string, options: OpenDatabaseOptions = {}, postgres: Record<string, unknown> = {}) {
  let db: Database | undefined;
  try {
    db = await openDatabase(testSettings({ backend: 'postgres', url, postgres: { pool_size: 1, ...postgres } }), {
      env: isolated(),
      ...options,
    });
    return (await db.query<{ user: string }>('SELECT current_user AS user')).rows[0]!.user;
  } finally {
    await db?.close();
  }
}

/** The run's server URL with `password` instead of the right one (`undefined`: none). */
function withPassword(password: string | undefined): string {
  const url = new URL(admin);
  url.password = password === undefined ? '' : encodeURIComponent(password);
  return url.toString();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe('unreachable servers', () => {
  it('a closed port: DB_UNREACHABLE, with the address to check', async () => {
    const port = await freePort();
    const error = await failureOf(`postgresql://postgres:secret@127.0.0.1:${port}/postgres`);
    expect(error.code).toBe('DB_UNREACHABLE');
    expect(error.message).toBe(`connection refused by postgresql://postgres:***@127.0.0.1:${port}/postgres`);
    expect(error.hint).toContain(`nc -zv 127.0.0.1 ${port}`);
  });

  describe('a TCP server that accepts and never answers', () => {
    let silent: net.Server;
    let port: number;
    const sockets = new Set<net.Socket>();
    beforeAll(async () => {
      silent = net.createServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      port = (silent.address() as net.AddressInfo).port;
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });

    it('connect_timeout=2 fails within about 2 s (not pool_timeout_secs), naming connect_timeout', async () => {
      const started = Date.now();
      const error = await failureOf(`postgresql://postgres:secret@127.0.0.1:${port}/postgres?connect_timeout=2`);
      const elapsed = Date.now() - started;
      expect(error.code).toBe('DB_UNREACHABLE');
      expect(error.message).toMatch(/timed out connecting to .*no answer within connect_timeout \(2 s\)/);
      expect(error.hint).toMatch(/Raise connect_timeout in storage\.postgres\.url/);
      expect(elapsed).toBeGreaterThanOrEqual(1900);
      expect(elapsed).toBeLessThan(10_000); // pool_timeout_secs (30 s) would have been the bound
    });

    it('connect_timeout=1 waits 2 s, as libpq (its minimum)', async () => {
      const started = Date.now();
      await failureOf(`postgresql://postgres:secret@127.0.0.1:${port}/postgres?connect_timeout=1`);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    });

    it('without connect_timeout, pool_timeout_secs bounds the attempt', async () => {
      const started = Date.now();
      const error = await failureOf(
        `postgresql://postgres:secret@127.0.0.1:${port}/postgres`,
        {},
        {
          pool_timeout_secs: 1,
        },
      );
      expect(Date.now() - started).toBeLessThan(10_000); // not the default 30 s
      expect(error.code).toBe('DB_UNREACHABLE');
      expect(error.hint).toMatch(/pool_timeout_secs \(1 s\)/);
    });
  });

  it('a missing socket directory: DB_UNREACHABLE naming the socket path', async () => {
    const error = await failureOf('postgresql:///postgres?host=/nonexistent-llmspell&user=postgres');
    expect(error.code).toBe('DB_UNREACHABLE');
    expect(error.message).toContain('there is no socket /nonexistent-llmspell/.s.PGSQL.5432');
    expect(error.hint).toContain('/nonexistent-llmspell in unix_socket_directories');
  });

  it('health-check against a missing socket exits 4 (unreachable), not 3', async () => {
    const run = await runCliInProcess(['database', 'health-check'], {
      dir,
      env: {
        LLMSPELL_STORAGE_BACKEND: 'postgres',
        LLMSPELL_STORAGE_POSTGRES_URL: 'postgresql:///postgres?host=/nonexistent-llmspell',
      },
    });
    expect(run.stderr + run.stdout).toContain('/nonexistent-llmspell/.s.PGSQL.5432');
    expect(run.code).toBe(4);
  });
});

describe('hints name the key the URL came from, and where it was set', () => {
  it('a wrong password in migration_url names storage.postgres.migration_url, not url', async () => {
    const settings = testSettings({
      backend: 'postgres',
      url: admin.toString(),
      postgres: { migration_url: withPassword('wrong') },
    });
    const db = await openMigrationDatabase(settings, { env: isolated() });
    const failure = await db.query('SELECT 1').then(
      () => undefined,
      (e: unknown) => e as LlmspellError,
    );
    await db.close();
    expect(failure).toBeInstanceOf(LlmspellError);
    if (!failure) return;
    expect(failure.code).toBe('DB_AUTH_FAILED');
    expect(failure.hint).toContain('storage.postgres.migration_url (or LLMSPELL_STORAGE_POSTGRES_MIGRATION_URL)');
    expect(failure.hint).not.toMatch(/storage\.postgres\.url\b/);
    expect(failure.message).not.toContain('wrong');
  });

  it('with migrationUrlOrigin / urlOrigin the hint says where the value was set', async () => {
    const settings = testSettings({
      backend: 'postgres',
      url: admin.toString(),
      postgres: { migration_url: withPassword('wrong') },
    });
    const db = await openMigrationDatabase(settings, {
      env: isolated(),
      urlOrigin: 'DATABASE_URL',
      migrationUrlOrigin: '/etc/llmspell/config.toml',
    });
    const error = await db.query('SELECT 1').catch((e: unknown) => e as LlmspellError);
    await db.close();
    expect(error).toMatchObject({ code: 'DB_AUTH_FAILED' });
    expect((error as LlmspellError).hint).toContain('storage.postgres.migration_url (from /etc/llmspell/config.toml)');

    const direct = await failureOf(withPassword('wrong'), { urlOrigin: 'DATABASE_URL' });
    expect(direct.hint).toContain('storage.postgres.url (from DATABASE_URL)');
  });

  it('a missing database names the key of its URL', async () => {
    const url = new URL(admin);
    url.pathname = '/no_such_database';
    const settings = testSettings({
      backend: 'postgres',
      url: admin.toString(),
      postgres: { migration_url: url.toString() },
    });
    const db = await openMigrationDatabase(settings, { env: isolated() });
    const error = await db.query('SELECT 1').catch((e: unknown) => e as LlmspellError);
    await db.close();
    expect(error).toMatchObject({ code: 'DB_NOT_FOUND' });
    expect((error as LlmspellError).hint).toContain('storage.postgres.migration_url');
  });
});

describe('URLs refused before any connection', () => {
  it.each([
    ['not a url', /must start with postgresql:\/\//],
    ['postgresql://not a url', /not a valid URL/],
    ['postgresql:///postgres', /no host/],
  ])('%j: CONFIG_INVALID', async (url, why) => {
    const error = await failureOf(url, { urlOrigin: 'LLMSPELL_STORAGE_POSTGRES_URL' });
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toMatch(why);
    expect(error.message).toContain('storage.postgres.url (from LLMSPELL_STORAGE_POSTGRES_URL)');
  });

  it.each([
    ['/', 'p/w0rd', '%2F'],
    ['@', 'p@ss', '%40'],
    ['#', 'pa#ss', '%23'],
    ['?', 'pa?ss', '%3F'],
  ])('a password with an unencoded %s says to percent-encode it, never showing it', async (char, password, encoded) => {
    const url = `postgresql://postgres:${password}@${admin.host}/postgres`;
    const error = await failureOf(url);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain(`the password contains an unencoded "${char}"`);
    expect(error.message).toContain(encoded);
    expect(error.message).not.toContain(password);
    expect(error.hint).toMatch(/percent-encode/i);
  });
});

describe('passwords kept out of the URL', () => {
  const noPassword = () => withPassword(undefined);

  it('takes PGPASSWORD from the environment given', async () => {
    expect(await query(noPassword(), { env: isolated({ PGPASSWORD: decodeURIComponent(admin.password) }) })).toBe(
      'postgres',
    );
  });

  it('takes the matching ~/.pgpass line (PGPASSFILE), without pg’s deprecation warning', async () => {
    const file = path.join(dir, 'pgpass');
    await writeFile(
      file,
      `# test\n${admin.hostname}:${admin.port}:*:postgres:${decodeURIComponent(admin.password)}\n`,
      {
        mode: 0o600,
      },
    );
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    // also in process.env: pg's own lookup, were it used, would find the file and warn
    const saved = process.env.PGPASSFILE;
    process.env.PGPASSFILE = file;
    try {
      expect(await query(noPassword(), { env: isolated({ PGPASSFILE: file }) })).toBe('postgres');
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
      if (saved === undefined) delete process.env.PGPASSFILE;
      else process.env.PGPASSFILE = saved;
    }
    expect(warnings.filter((w) => /pgpass/i.test(w))).toEqual([]);
  });

  it('takes ~/.pgpass from HOME', async () => {
    const home = path.join(dir, 'home-with-pgpass');
    await mkdir(home);
    await writeFile(path.join(home, '.pgpass'), `*:*:*:postgres:${decodeURIComponent(admin.password)}\n`, {
      mode: 0o600,
    });
    expect(await query(noPassword(), { env: { HOME: home } })).toBe('postgres');
  });

  it('no password anywhere: DB_AUTH_FAILED saying none was given and where one may go', async () => {
    const error = await failureOf(noPassword(), { env: isolated({ PGPASSFILE: path.join(dir, 'missing') }) });
    expect(error.code).toBe('DB_AUTH_FAILED');
    expect(error.message).toMatch(/asks for a password for user "postgres", and none was given/);
    expect(error.hint).toMatch(/PGPASSWORD.*~\/\.pgpass/);
  });
});
