/**
 * Tests of the test harness itself: the run's PostgreSQL server, the per-file databases, login
 * roles, the server helper's lifecycle (stop, orphan reaping) and container-runtime detection.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithContainers, detectContainerRuntime } from '../helpers/containers.js';
import { DEFAULT_TEST_MAJORS, requestedMajors } from '../helpers/global-setup.js';
import {
  createLoginRole,
  createTestDatabase,
  roleUrl,
  testMajors,
  testServer,
  useTestDatabase,
} from '../helpers/postgres.js';
import type { TestDatabase } from '../helpers/postgres.js';
import { SERVER_DIR_PREFIX, startPostgresServer } from '../helpers/postgres-server.js';
import { migratedPglite, migratedPostgres } from '../helpers/schema.js';

async function query<T extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pid of a process that has exited (and been reaped) already. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  if (child.pid === undefined) throw new Error('no pid');
  return child.pid;
}

describe('the run’s PostgreSQL server', () => {
  const db = useTestDatabase();

  it('is PostgreSQL 18 or newer', async () => {
    const [row] = await query<{ num: string }>(db.url, `SELECT current_setting('server_version_num') AS num`);
    expect(Number(row?.num)).toBeGreaterThanOrEqual(180000);
  });

  it('listens on 127.0.0.1 only', async () => {
    const [row] = await query<{ listen_addresses: string }>(db.url, 'SHOW listen_addresses');
    expect(row?.listen_addresses).toBe('127.0.0.1');
    expect(new URL(db.url).hostname).toBe('127.0.0.1');
  });

  it('runs with the test-speed settings', async () => {
    const rows = await query<{ name: string; setting: string }>(
      db.url,
      `SELECT name, setting FROM pg_settings
       WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'max_connections')
       ORDER BY name`,
    );
    expect(Object.fromEntries(rows.map((r) => [r.name, r.setting]))).toEqual({
      fsync: 'off',
      full_page_writes: 'off',
      max_connections: '200',
      synchronous_commit: 'off',
    });
  });

  it('gives new databases the template’s extensions', async () => {
    const rows = await query<{ extname: string }>(db.url, 'SELECT extname FROM pg_extension ORDER BY extname');
    expect(rows.map((r) => r.extname)).toEqual(expect.arrayContaining(['btree_gist', 'pgcrypto', 'uuid-ossp']));
    const [row] = await query<{ a: string; b: string }>(
      db.url,
      'SELECT gen_random_uuid()::text AS a, uuid_generate_v4()::text AS b',
    );
    expect(row?.a).toMatch(/^[0-9a-f-]{36}$/);
    expect(row?.b).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('createTestDatabase', () => {
  let first: TestDatabase;
  let second: TestDatabase;
  beforeAll(async () => {
    [first, second] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  });
  afterAll(async () => {
    await Promise.all([first?.drop(), second?.drop()]);
  });

  it('creates separate databases', async () => {
    expect(first.name).not.toBe(second.name);
    expect(first.name).toMatch(/^llmspell_test_[0-9a-f]+$/);
    await query(first.url, 'CREATE TABLE only_in_first (id int)');
    const inFirst = await query<{ t: string | null }>(first.url, `SELECT to_regclass('only_in_first')::text AS t`);
    const inSecond = await query<{ t: string | null }>(second.url, `SELECT to_regclass('only_in_first')::text AS t`);
    expect(inFirst[0]?.t).toBe('only_in_first');
    expect(inSecond[0]?.t).toBeNull();
  });

  it('drops a database with open sessions, and drop() is idempotent', async () => {
    const extra = await createTestDatabase();
    const client = new pg.Client({ connectionString: extra.url });
    client.on('error', () => {}); // the forced drop terminates this session
    await client.connect();
    await extra.drop();
    await extra.drop();
    const rows = await query(extra.adminUrl, 'SELECT 1 FROM pg_database WHERE datname = $1', [extra.name]);
    expect(rows).toHaveLength(0);
    await client.end().catch(() => {});
  });

  it('clones another template when asked', async () => {
    await query(first.url, 'CREATE TABLE cloned_marker (id int)');
    const clone = await createTestDatabase({ template: first.name, strategy: 'FILE_COPY' });
    try {
      const [row] = await query<{ t: string | null }>(clone.url, `SELECT to_regclass('cloned_marker')::text AS t`);
      expect(row?.t).toBe('cloned_marker');
    } finally {
      await clone.drop();
    }
  });
});

describe('the run’s servers, one per major', () => {
  it('parses LLMSPELL_TEST_PG_MAJORS (default 15–18; sorted, deduplicated, checked)', () => {
    expect(requestedMajors('')).toEqual([...DEFAULT_TEST_MAJORS]);
    expect(requestedMajors(' 18, 15,15 ')).toEqual([15, 18]);
    expect(() => requestedMajors('13,18')).toThrow(/"13" is not one of 14, 15, 16, 17, 18/);
  });

  it('started the majors asked for, PostgreSQL 18 among them by default', () => {
    expect(testMajors()).toEqual(requestedMajors());
  });

  it('answers on each major with that major’s server_version_num', async () => {
    await Promise.all(
      testMajors().map(async (major) => {
        const database = await createTestDatabase({ major });
        try {
          expect(database.major).toBe(major);
          const [row] = await query<{ num: string }>(
            database.url,
            `SELECT current_setting('server_version_num') AS num`,
          );
          expect(Math.floor(Number(row?.num) / 10_000), `PostgreSQL ${major}`).toBe(major);
          expect(testServer(major).version.startsWith(`${major}.`)).toBe(true);
        } finally {
          await database.drop();
        }
      }),
    );
  });

  it('clones each major’s migrated template, or throws the migration error recorded for that major', async () => {
    await Promise.all(
      testMajors().map(async (major) => {
        const recorded = testServer(major).migratedTemplateError;
        if (recorded !== null) {
          const attempt = createTestDatabase({ major, migrated: true });
          await expect(attempt).rejects.toThrow(`PostgreSQL ${major}`);
          await expect(attempt).rejects.toThrow(recorded);
          return;
        }
        const database = await createTestDatabase({ major, migrated: true });
        try {
          const [row] = await query<{ n: number }>(
            database.url,
            `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'llmspell'`,
          );
          expect(row?.n, `PostgreSQL ${major}`).toBeGreaterThan(5);
        } finally {
          await database.drop();
        }
      }),
    );
  });

  it('gives migratedPostgres a clone (no migration run of its own) unless asked for a fresh one', async () => {
    if (testServer().migratedTemplateError !== null) return; // covered by the test above
    const clone = await migratedPostgres({ pool_size: 2 });
    try {
      expect(clone.migrated).toBeUndefined();
      expect(clone.major).toBe(18);
      expect((await clone.migrate()).done).toEqual([]);
    } finally {
      await clone.dispose();
    }
    const fresh = await migratedPostgres({ event_log: { retention_days: 30 } });
    try {
      expect(fresh.migrated?.done.length).toBeGreaterThan(0);
    } finally {
      await fresh.dispose();
    }
  });
});

describe('the run’s PGlite snapshot', () => {
  // createTestPglite('memory') (the empty snapshot) is what migrate.test.ts and database.test.ts start from.
  it('gives migratedPglite a migrated database without a migration run of its own', async () => {
    const migrated = await migratedPglite();
    try {
      expect(migrated.migrated).toBeUndefined();
      expect((await migrated.migrate()).done).toEqual([]);
      const { rows } = await migrated.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'llmspell'`,
      );
      expect(rows[0]?.n).toBeGreaterThan(5);
    } finally {
      await migrated.dispose();
    }
  });
});

describe('createLoginRole', () => {
  const db = useTestDatabase();
  const roleName = `harness_app_${process.pid}`;
  const password = 'p@ss:w/rd %with# odd chars';

  it('makes a login role that is not a superuser and can connect', async () => {
    const role = await createLoginRole(db.url, roleName, password);
    expect(role.url).toBe(roleUrl(db.url, roleName, password));
    const [row] = await query<{ user: string; su: string; db: string }>(
      role.url,
      `SELECT current_user AS user, current_setting('is_superuser') AS su, current_database() AS db`,
    );
    expect(row).toEqual({ user: roleName, su: 'off', db: db.name });
    const [attrs] = await query<{ rolsuper: boolean; rolbypassrls: boolean; rolcreaterole: boolean }>(
      db.url,
      'SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = $1',
      [roleName],
    );
    expect(attrs).toEqual({ rolsuper: false, rolbypassrls: false, rolcreaterole: false });
  });

  it('refuses an existing role unless asked to alter it', async () => {
    await expect(createLoginRole(db.url, roleName, 'other')).rejects.toMatchObject({ code: '42710' });
    const role = await createLoginRole(db.url, roleName, 'new password', { ifExists: 'alter' });
    const [row] = await query<{ user: string }>(role.url, 'SELECT current_user AS user');
    expect(row?.user).toBe(roleName);
  });
});

describe('roleUrl', () => {
  it('replaces the credentials and keeps the rest', () => {
    const url = roleUrl('postgresql://postgres:secret@127.0.0.1:5433/db?application_name=x', 'app', 'a@b:c/d');
    const parsed = new URL(url);
    expect(decodeURIComponent(parsed.username)).toBe('app');
    expect(decodeURIComponent(parsed.password)).toBe('a@b:c/d');
    expect(parsed.host).toBe('127.0.0.1:5433');
    expect(parsed.pathname).toBe('/db');
    expect(parsed.searchParams.get('application_name')).toBe('x');
  });
});

describe('startPostgresServer', () => {
  it('stops its server and removes its temp dir', async () => {
    const server = await startPostgresServer();
    const runDir = path.dirname(server.dataDir);
    expect(path.basename(runDir).startsWith(SERVER_DIR_PREFIX)).toBe(true);
    const owner = JSON.parse(await fs.readFile(path.join(runDir, 'owner.json'), 'utf8')) as Record<string, unknown>;
    expect(owner).toMatchObject({ ownerPid: process.pid, postmasterPid: server.pid, port: server.port });
    expect(server.versionNum).toBeGreaterThanOrEqual(180000);
    const [row] = await query<{ one: number }>(server.url(), 'SELECT 1 AS one');
    expect(row?.one).toBe(1);
    await server.stop();
    expect(isAlive(server.pid)).toBe(false);
    expect(existsSync(runDir)).toBe(false);
    await server.stop(); // idempotent
  });

  it('reaps the server and dir of a dead runner, and leaves live runners alone', async () => {
    const orphan = await startPostgresServer();
    const orphanDir = path.dirname(orphan.dataDir);
    const ownerFile = path.join(orphanDir, 'owner.json');
    const owner = JSON.parse(await fs.readFile(ownerFile, 'utf8')) as Record<string, unknown>;
    // Pretend the runner that started it died.
    await fs.writeFile(ownerFile, JSON.stringify({ ...owner, ownerPid: await deadPid() }));
    // A dir whose owner is alive (this process' parent: the vitest main process) must survive.
    const liveDir = await fs.mkdtemp(path.join(os.tmpdir(), SERVER_DIR_PREFIX));
    await fs.writeFile(
      path.join(liveDir, 'owner.json'),
      JSON.stringify({ ownerPid: process.ppid, postmasterPid: null, port: null }),
    );
    try {
      const next = await startPostgresServer();
      try {
        expect(isAlive(orphan.pid)).toBe(false);
        expect(existsSync(orphanDir)).toBe(false);
        expect(existsSync(liveDir)).toBe(true);
      } finally {
        await next.stop();
      }
      await orphan.stop(); // already reaped: must not throw
    } finally {
      await fs.rm(liveDir, { recursive: true, force: true });
    }
  });

  it('starts PostgreSQL 14 (from its own copy of the binaries) and stops it', async () => {
    const server = await startPostgresServer({ major: 14, copyBinaries: true });
    const runDir = path.dirname(server.dataDir);
    try {
      expect(server.major).toBe(14);
      expect(Math.floor(server.versionNum / 10_000)).toBe(14);
      const [row] = await query<{ num: string }>(server.url(), `SELECT current_setting('server_version_num') AS num`);
      expect(Number(row?.num)).toBe(server.versionNum);
      if (process.platform === 'linux') {
        expect(await fs.readlink(`/proc/${server.pid}/exe`)).toBe(path.join(runDir, 'native', 'bin', 'postgres'));
      }
    } finally {
      await server.stop();
    }
    expect(isAlive(server.pid)).toBe(false);
    expect(existsSync(runDir)).toBe(false);
  });

  it('refuses a major it has no binaries for', async () => {
    await expect(startPostgresServer({ major: 13 })).rejects.toThrow(/PostgreSQL 13 is not installed for tests/);
  });

  it('fails with the server log when the server cannot start', async () => {
    await expect(startPostgresServer({ settings: { shared_buffers: 'not-a-size' } })).rejects.toThrow(
      /PostgreSQL did not start[\s\S]*shared_buffers/,
    );
  });
});

describe('detectContainerRuntime', () => {
  it('reports a boolean, and a reason when unavailable', async () => {
    const status = await detectContainerRuntime();
    expect(typeof status.available).toBe('boolean');
    if (!status.available) {
      expect(status.reason.trim()).not.toBe('');
    }
  });
});

describeWithContainers('describeWithContainers', () => {
  it('runs only where a container runtime answers', async () => {
    expect((await detectContainerRuntime()).available).toBe(true);
  });
});
