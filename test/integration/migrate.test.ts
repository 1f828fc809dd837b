import { cp, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import type { Database } from '../../src/db/types.js';
import { LlmspellError } from '../../src/errors.js';
import { MIGRATION_LOCK_KEY } from '../../src/migrate/lock.js';
import { migrate, rollback, type MigrationLimits } from '../../src/migrate/run.js';
import type { MigrationTrack } from '../../src/migrate/catalog.js';
import { migrationStatus } from '../../src/migrate/status.js';
import { createTestPglite } from '../helpers/pglite.js';
import { createTestDatabase, testMajors, type TestDatabase } from '../helpers/postgres.js';
import { testSettings } from '../helpers/settings.js';
import { codeOf } from '../helpers/outcome.js';

const FIXTURES = new URL('../fixtures/migrations/', import.meta.url).pathname;
/** One core track from a directory. */
const core = (dir: string): MigrationTrack[] => [{ id: 'core', dir }];
const LIMITS: MigrationLimits = { lockWaitMs: 5_000, statementTimeoutMs: 30_000, lockTimeoutMs: 5_000 };

/** A private copy of a fixture directory, so a test may edit files. */
async function copyFixture(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'llmspell-test-migrations-'));
  await cp(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

/** Every relation and namespace of the database, to prove a dry run created nothing. */
async function catalog(db: Database): Promise<string[]> {
  const { rows } = await db.query<{ entry: string }>(
    `SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text AS entry FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     UNION ALL SELECT 'schema:' || nspname FROM pg_namespace ORDER BY 1`,
  );
  return rows.map((r) => r.entry);
}

interface Target {
  db: Database;
  dispose(): Promise<void>;
  /** Superuser URL (postgres only), for a second session. */
  url?: string;
}

async function postgresTarget(major: number): Promise<Target> {
  const database: TestDatabase = await createTestDatabase({ major });
  const db = await openDatabase(testSettings({ backend: 'postgres', url: database.url, postgres: { pool_size: 1 } }));
  return {
    db,
    url: database.url,
    async dispose() {
      await db.close();
      await database.drop();
    },
  };
}

/** Every PostgreSQL major of the run ("postgres" is 18), and PGlite. */
const targets: Record<string, () => Promise<Target>> = {
  ...Object.fromEntries(
    testMajors().map((major) => [major === 18 ? 'postgres' : `postgres ${major}`, () => postgresTarget(major)]),
  ),
  pglite: () => createTestPglite('memory'),
};

describe.each(Object.keys(targets))('migrations on %s', (kind) => {
  let target: Target;
  let db: Database;
  let dir: string;

  beforeAll(async () => {
    target = await targets[kind]!();
    db = target.db;
  });
  afterAll(() => target?.dispose());
  beforeEach(async () => {
    dir = await copyFixture('basic');
    await rollback(db, { ...LIMITS, tracks: core(dir), to: 0 }).catch(() => undefined);
    return () => rm(dir, { recursive: true, force: true });
  });

  it('a dry run reports the plan and leaves the catalog identical', async () => {
    const before = await catalog(db);
    const result = await migrate(db, { ...LIMITS, tracks: core(dir), dryRun: true });
    expect(result.planned.map((s) => s.name)).toEqual(['0001_roles_and_schema', '0002_notes', '0003_tags']);
    expect(result.done).toEqual([]);
    expect(await catalog(db)).toEqual(before);
  });

  it('applies, rolls back and re-applies, recording a checksum per migration', async () => {
    const applied = await migrate(db, { ...LIMITS, tracks: core(dir) });
    expect(applied.done.map((s) => s.name)).toEqual(['0001_roles_and_schema', '0002_notes', '0003_tags']);
    expect(applied.status.applied).toBe(3);
    const { rows } = await db.query<{ name: string; sha256: string }>(
      'SELECT name, sha256 FROM llmspell_migrations.checksums ORDER BY name',
    );
    expect(rows.map((r) => r.name)).toEqual(['0001_roles_and_schema', '0002_notes', '0003_tags']);
    expect(rows.every((r) => /^[0-9a-f]{64}$/.test(r.sha256))).toBe(true);

    expect((await migrate(db, { ...LIMITS, tracks: core(dir) })).done).toEqual([]);

    const down = await rollback(db, { ...LIMITS, tracks: core(dir), to: 1 });
    expect(down.done.map((s) => s.name)).toEqual(['0003_tags', '0002_notes']);
    expect((await db.query("SELECT to_regclass('llmspell.notes') AS t")).rows[0]).toEqual({ t: null });
    expect((await db.query('SELECT count(*)::int AS n FROM llmspell_migrations.checksums')).rows[0]).toEqual({ n: 1 });

    const partial = await migrate(db, { ...LIMITS, tracks: core(dir), to: '0002_notes' });
    expect(partial.done.map((s) => s.name)).toEqual(['0002_notes']);
    expect(partial.status.pending).toBe(1);

    await rollback(db, { ...LIMITS, tracks: core(dir), to: 0 });
    expect((await migrationStatus(db, core(dir))).applied).toBe(0);
    expect((await migrate(db, { ...LIMITS, tracks: core(dir) })).done).toHaveLength(3);
  });

  it('stops on an applied migration whose file changed, and on one this build does not know', async () => {
    await migrate(db, { ...LIMITS, tracks: core(dir) });
    const file = join(dir, '0002_notes.sql');
    const original = await readFile(file, 'utf8');
    await writeFile(file, original.replace('body text NOT NULL', 'body text'));
    expect(await codeOf(migrate(db, { ...LIMITS, tracks: core(dir) }))).toBe('MIGRATION_DRIFT');
    let status = await db.withClient((client) => migrationStatus(client, core(dir)));
    expect(status.entries.find((e) => e.name === '0002_notes')?.state).toBe('changed');

    await writeFile(file, original);
    await unlink(join(dir, '0003_tags.sql'));
    expect(await codeOf(migrate(db, { ...LIMITS, tracks: core(dir) }))).toBe('MIGRATION_DRIFT');
    status = await db.withClient((client) => migrationStatus(client, core(dir)));
    expect(status.entries.find((e) => e.name === '0003_tags')?.state).toBe('unknown');
    await cp(join(FIXTURES, 'basic', '0003_tags.sql'), join(dir, '0003_tags.sql'));
  });

  it('rolls a failing migration back completely, names file and line, and re-runs after the fix', async () => {
    const failing = await copyFixture('failing');
    try {
      const error = await migrate(db, { ...LIMITS, tracks: core(failing) }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LlmspellError);
      expect((error as LlmspellError).code).toBe('MIGRATION_FAILED');
      expect((error as LlmspellError).message).toContain('0003_broken.sql');
      expect((error as LlmspellError).message).toContain('line 4');
      const status = await db.withClient((client) => migrationStatus(client, core(failing)));
      expect(status.entries.map((e) => e.state)).toEqual(['applied', 'applied', 'pending']);
      expect((await db.query("SELECT to_regclass('llmspell.half_done') AS t")).rows[0]).toEqual({ t: null });

      const broken = join(failing, '0003_broken.sql');
      await writeFile(broken, (await readFile(broken, 'utf8')).replace('SELECT no_such_function(42);\n', ''));
      expect((await migrate(db, { ...LIMITS, tracks: core(failing) })).done.map((s) => s.name)).toEqual([
        '0003_broken',
      ]);
      expect((await db.query('SELECT count(*)::int AS n FROM llmspell.half_done')).rows[0]).toEqual({ n: 1 });
      await rollback(db, { ...LIMITS, tracks: core(failing), to: 0 });
    } finally {
      await rm(failing, { recursive: true, force: true });
    }
  });

  it('explains a migration that meets an object already there (42P07), and applies nothing of it', async () => {
    await migrate(db, { ...LIMITS, tracks: core(dir), to: 2 });
    await db.query('CREATE TABLE llmspell.tags (stray int)');
    try {
      const error = await migrate(db, { ...LIMITS, tracks: core(dir) }).catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: 'MIGRATION_FAILED',
        migration: '0003_tags',
        sqlstate: '42P07',
        hint: expect.any(String),
      });
      expect((await migrationStatus(db, core(dir))).pending).toBe(1);
    } finally {
      await db.query('DROP TABLE llmspell.tags');
    }
  });

  it('refuses to roll back without a target version that exists', async () => {
    await migrate(db, { ...LIMITS, tracks: core(dir) });
    expect(await codeOf(rollback(db, { ...LIMITS, tracks: core(dir), to: 42 }))).toBe('USAGE');
    expect((await migrationStatus(db, core(dir))).applied).toBe(3);
  });
});

describe('migration locks on PostgreSQL', () => {
  let database: TestDatabase;
  let db: Database;
  let other: pg.Client;
  let dir: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = await openDatabase(testSettings({ backend: 'postgres', url: database.url, postgres: { pool_size: 1 } }));
    other = new pg.Client({ connectionString: database.url, application_name: 'other-migrator' });
    await other.connect();
    dir = await copyFixture('basic');
  });
  afterAll(async () => {
    await other?.end();
    await db?.close();
    await database?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('waits a bounded time for another migrator, then names it', async () => {
    const { rows } = await other.query<{ pid: number }>('SELECT pg_backend_pid() AS pid, pg_advisory_lock($1)', [
      MIGRATION_LOCK_KEY.toString(),
    ]);
    try {
      const error = await migrate(db, { ...LIMITS, lockWaitMs: 300, tracks: core(dir) }).catch((e: unknown) => e);
      expect((error as LlmspellError).code).toBe('LOCK_HELD');
      expect((error as LlmspellError).message).toContain(`pid ${rows[0]!.pid}`);
      expect((error as LlmspellError).message).toContain('other-migrator');
      expect((await migrationStatus(db, core(dir))).applied).toBe(0);
    } finally {
      await other.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY.toString()]);
    }
    expect((await migrate(db, { ...LIMITS, tracks: core(dir) })).done).toHaveLength(3);
  });

  it('gives up on a table lock after lock_timeout instead of queueing behind traffic', async () => {
    const alter = join(dir, '0004_alter_notes.sql');
    await writeFile(
      alter,
      '-- Up Migration\nALTER TABLE llmspell.notes ADD COLUMN title text;\n\n-- Down Migration\nALTER TABLE llmspell.notes DROP COLUMN title;\n',
    );
    await other.query('BEGIN');
    await other.query('LOCK TABLE llmspell.notes IN ACCESS SHARE MODE');
    try {
      const error = await migrate(db, { ...LIMITS, lockTimeoutMs: 200, tracks: core(dir) }).catch((e: unknown) => e);
      expect((error as LlmspellError).code).toBe('MIGRATION_FAILED');
      expect(((error as LlmspellError).cause as { fields?: { sqlstate?: string } }).fields?.sqlstate).toBe('55P03');
    } finally {
      await other.query('ROLLBACK');
    }
    expect((await migrate(db, { ...LIMITS, tracks: core(dir) })).done.map((s) => s.name)).toEqual(['0004_alter_notes']);
  });
});
