/**
 * Migrations and what stands in front of the server: concurrent migrators through PgBouncer in
 * transaction mode (each migration takes the lock for its own transaction, so none is left
 * behind), `--! no-transaction` migrations (CREATE INDEX CONCURRENTLY; refused through a pooler),
 * a rollback that refuses a plan other than the one confirmed, and the drift message for a
 * database built by the pre-release migrations.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import type { Database } from '../../src/db/types.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import type { LlmspellError } from '../../src/errors.js';
import type { MigrationTrack } from '../../src/migrate/catalog.js';
import { migrationLimits, migrationSource } from '../../src/migrate/connect.js';
import { MIGRATION_LOCK_KEY } from '../../src/migrate/lock.js';
import { migrate, MigrationError, rollback, type MigrationLimits } from '../../src/migrate/run.js';
import { migrationStatus } from '../../src/migrate/status.js';
import { runCliInProcess } from '../helpers/cli.js';
import { codeOf } from '../helpers/outcome.js';
import { findPgBouncer, pgBouncerFor, type PgBouncer } from '../helpers/pgbouncer.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { testSettings } from '../helpers/settings.js';

const FIXTURES = new URL('../fixtures/migrations/', import.meta.url).pathname;
const core = (dir: string): MigrationTrack[] => [{ id: 'core', dir }];
const LIMITS: MigrationLimits = { lockWaitMs: 30_000, statementTimeoutMs: 30_000, lockTimeoutMs: 5_000 };

const bouncerBinary = await findPgBouncer();
if (!('path' in bouncerBinary)) console.warn(`skipped (PgBouncer tests): ${bouncerBinary.reason}`);
const withBouncer = 'path' in bouncerBinary;

/** Advisory locks on the migration key held by anyone on the server. */
async function migrationLocks(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      // Advisory locks belong to a database: other test files migrate their own on the same server.
      `SELECT count(*)::int AS n FROM pg_locks
        WHERE locktype = 'advisory' AND classid = $1::bigint::oid AND objid = $2::bigint::oid
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [Number(MIGRATION_LOCK_KEY >> 32n), Number(MIGRATION_LOCK_KEY & 0xffffffffn)],
    );
    return rows[0]!.n;
  } finally {
    await client.end();
  }
}

/** A database on the run's PostgreSQL 18 with a PgBouncer (transaction mode) in front of it. */
async function bounced(poolSize = 2): Promise<{ database: TestDatabase; bouncer: PgBouncer; url: string }> {
  const database = await createTestDatabase();
  return { database, ...(await pgBouncerFor(database.url, { defaultPoolSize: poolSize })) };
}

const openPostgres = (url: string) =>
  openDatabase(
    testSettings({ backend: 'postgres', url, postgres: { pool_size: 1, vector_embeddings: { enabled: false } } }),
  );

describe.skipIf(!withBouncer)('concurrent migrators through PgBouncer in transaction mode', () => {
  let setup: Awaited<ReturnType<typeof bounced>>;
  beforeAll(async () => {
    setup = await bounced(2);
  });
  afterAll(async () => {
    await setup?.bouncer.stop();
    await setup?.database.drop();
  });

  it('four runs at once: each exits cleanly, each migration applied once, no lock left behind', async () => {
    const settings = testSettings({
      backend: 'postgres',
      url: setup.url,
      postgres: { vector_embeddings: { enabled: false } },
    });
    const options = { ...migrationLimits(settings), ...migrationSource(settings) };
    const dbs = await Promise.all(Array.from({ length: 4 }, () => openPostgres(setup.url)));
    try {
      const results = await Promise.allSettled(dbs.map((db) => migrate(db, options)));
      const failures = results
        .filter((r) => r.status === 'rejected')
        .map((r) => String((r as PromiseRejectedResult).reason));
      expect(failures).toEqual([]);
      const applied = results.flatMap(
        (r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof migrate>>>).value.done,
      );
      const names = applied.map((s) => s.name).sort();
      const planned = (results[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof migrate>>>).value.planned;
      expect(names).toEqual(planned.map((s) => s.name).sort()); // every migration exactly once, over all four
      const { rows } = await dbs[0]!.query<{ name: string; n: number }>(
        'SELECT name, count(*)::int AS n FROM llmspell_migrations.history GROUP BY name HAVING count(*) > 1',
      );
      expect(rows).toEqual([]);
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
    expect(await migrationLocks(setup.database.url)).toBe(0);
    // A direct migrator is not blocked by anything the pooler's connections might hold.
    const direct = await openPostgres(setup.database.url);
    try {
      const started = Date.now();
      const again = await migrate(direct, options);
      expect(again.done).toEqual([]);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await direct.close();
    }
  });

  it('reads the migration status through the pooler (no session needed)', async () => {
    const env = {
      LLMSPELL_STORAGE_BACKEND: 'postgres',
      LLMSPELL_STORAGE_POSTGRES_URL: setup.url,
      LLMSPELL_STORAGE_POSTGRES_VECTOR_EMBEDDINGS_ENABLED: 'false',
    };
    const dir = await mkdtemp(join(tmpdir(), 'llmspell-test-cli-'));
    try {
      const run = await runCliInProcess(['--json', 'database', 'migration-status'], { dir, env });
      expect(run.code, run.stderr).toBe(EXIT.OK);
      expect(JSON.parse(run.stdout)).toMatchObject({ pending: 0, drift: [] });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a --! no-transaction migration through the pooler before applying anything', async () => {
    const fresh = await bounced(1);
    const db = await openPostgres(fresh.url);
    try {
      const error = await migrate(db, { ...LIMITS, tracks: core(join(FIXTURES, 'no-transaction')), to: 2 }).catch(
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: 'POOLER_NOT_SUPPORTED', hint: expect.stringMatching(/migration_url/) });
      expect((await migrationStatus(db, core(join(FIXTURES, 'no-transaction')))).applied).toBe(0);
      expect(await db.detectPooler()).toBe(true);
    } finally {
      await db.close();
      await fresh.bouncer.stop();
      await fresh.database.drop();
    }
  });
});

describe('--! no-transaction migrations on a direct connection', () => {
  let database: TestDatabase;
  let db: Database;
  const tracks = core(join(FIXTURES, 'no-transaction'));
  beforeAll(async () => {
    database = await createTestDatabase();
    db = await openPostgres(database.url);
  });
  afterAll(async () => {
    await db?.close();
    await database?.drop();
  });

  it('runs CREATE INDEX CONCURRENTLY, uncapped by migration_timeout_secs, and resets the session after', async () => {
    expect(await db.detectPooler()).toBe(false);
    // statementTimeoutMs 1 s would cancel 0002's pg_sleep(1.2) inside a transaction.
    const result = await migrate(db, { ...LIMITS, statementTimeoutMs: 1_000, tracks, to: 2 });
    expect(result.done.map((s) => s.name)).toEqual(['0001_items', '0002_items_by_sku']);
    const { rows } = await db.query<{ valid: boolean }>(
      "SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 'llmspell_notx.items_by_sku'::regclass",
    );
    expect(rows).toEqual([{ valid: true }]);
    // The pool's one connection: its session settings and locks are as before the run.
    const session = await db.query<{ lock: string; statement: string; locks: number }>(
      `SELECT current_setting('lock_timeout') AS lock, current_setting('statement_timeout') AS statement,
              (SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS locks`,
    );
    expect(session.rows).toEqual([{ lock: '0', statement: '0', locks: 0 }]);
    const ledger = await db.query('SELECT name FROM llmspell_migrations.checksums ORDER BY name');
    expect(ledger.rows.map((r) => r.name)).toEqual(['0001_items', '0002_items_by_sku']);
  });

  it('reports a failed one as not atomic, drops the INVALID index it left, and records nothing of it', async () => {
    const error = await migrate(db, { ...LIMITS, tracks }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    const failure = error as MigrationError;
    expect(failure.migration).toBe('0003_unique_sku');
    expect(failure.sqlstate).toBe('23505');
    expect(failure.cleanup).toEqual({ dropped: ['llmspell_notx.items_sku_unique'], remaining: [] });
    expect(failure.hint).toMatch(/not atomic/);
    const left = await db.query("SELECT 1 FROM pg_class WHERE relname = 'items_sku_unique'");
    expect(left.rowCount).toBe(0);
    const status = await migrationStatus(db, tracks);
    expect(status.entries.map((e) => `${e.name}:${e.state}`)).toEqual([
      '0001_items:applied',
      '0002_items_by_sku:applied',
      '0003_unique_sku:pending',
    ]);
    expect(await migrationLocks(database.url)).toBe(0);
  });

  it('rolls a no-transaction migration back outside a transaction too', async () => {
    const down = await rollback(db, { ...LIMITS, tracks, to: 1 });
    expect(down.done.map((s) => s.name)).toEqual(['0002_items_by_sku']);
    expect((await db.query("SELECT to_regclass('llmspell_notx.items_by_sku') AS r")).rows).toEqual([{ r: null }]);
  });
});

describe('rollback runs the plan that was confirmed, or nothing', () => {
  let database: TestDatabase;
  let db: Database;
  let dir: string;
  const tracks = core(join(FIXTURES, 'basic'));
  beforeAll(async () => {
    database = await createTestDatabase();
    db = await openPostgres(database.url);
    dir = await mkdtemp(join(tmpdir(), 'llmspell-test-cli-'));
  });
  afterAll(async () => {
    await db?.close();
    await database?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses when another migrator applied a migration between the preview and the run', async () => {
    await migrate(db, { ...LIMITS, tracks, to: 2 });
    const preview = await rollback(db, { ...LIMITS, tracks, to: 1, dryRun: true });
    expect(preview.planned.map((s) => s.name)).toEqual(['0002_notes']);
    await migrate(db, { ...LIMITS, tracks }); // 0003 meanwhile
    const error = await rollback(db, { ...LIMITS, tracks, to: 1, expect: preview.planned }).catch((e: unknown) => e);
    expect((error as LlmspellError).code).toBe('MIGRATION_PLAN_CHANGED');
    expect((await migrationStatus(db, tracks)).applied).toBe(3);
  });

  it('the CLI: what was confirmed at the prompt is what may run', async () => {
    const fixture = join(dir, 'migrations');
    await cp(join(FIXTURES, 'basic'), fixture, { recursive: true });
    await rollback(db, { ...LIMITS, tracks, to: 2 });
    const env = { LLMSPELL_STORAGE_BACKEND: 'postgres', LLMSPELL_STORAGE_POSTGRES_URL: database.url };
    const run = await runCliInProcess(['database', 'rollback', '--to', '1', '--migrations-dir', fixture], {
      dir,
      env,
      confirm: async (question) => {
        expect(question).toMatch(/0002_notes/);
        await migrate(db, { ...LIMITS, tracks }); // another operator migrates while we read the prompt
        return true;
      },
    });
    expect(run.code).toBe(EXIT.FAILURE);
    expect(run.stderr).toMatch(/changed since the plan was shown/);
    expect((await migrationStatus(db, tracks)).applied).toBe(3);
  });
});

describe('a database built by the pre-release migrations', () => {
  it('is drift with the advice to recreate it (embedded), naming its directory', async () => {
    const root = await mkdtemp(join(tmpdir(), 'llmspell-test-prerelease-'));
    const dataDir = join(root, 'pgdata');
    try {
      const settings = testSettings({ backend: 'embedded', embeddedPath: dataDir });
      const old = await openDatabase(settings);
      try {
        await migrate(old, { ...LIMITS, tracks: core(join(FIXTURES, 'prerelease')) });
      } finally {
        await old.close();
      }
      const run = await runCliInProcess(['database', 'migrate'], {
        dir: root,
        env: { LLMSPELL_STORAGE_EMBEDDED_PATH: dataDir },
      });
      expect(run.code).toBe(EXIT.DRIFT);
      expect(run.stderr).toMatch(/pre-release build changed them/);
      expect(run.stderr).toContain(`mv ${dataDir} ${dataDir}.pre-release`);
      // Nothing was applied: the old schema is as it was.
      const again = await openDatabase(settings);
      try {
        const changed = await codeOf(migrate(again, { ...migrationLimits(settings), ...migrationSource(settings) }));
        expect(changed).toBe('MIGRATION_DRIFT');
        const { rows } = await again.query("SELECT to_regclass('llmspell.entity_identities') AS t");
        expect(rows).toEqual([{ t: null }]);
      } finally {
        await again.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('migrate when the maintenance after it fails', () => {
  it.each([['human'], ['json']])('reports the applied migrations and the failure (%s output)', async (mode) => {
    const dir = await mkdtemp(join(tmpdir(), 'llmspell-test-cli-'));
    try {
      const args = [
        '--backend',
        'memory',
        'database',
        'migrate',
        '--migrations-dir',
        join(FIXTURES, 'maintenance-fails'),
      ];
      const run = await runCliInProcess(mode === 'json' ? ['--json', ...args] : args, { dir });
      expect(run.code).toBe(EXIT.FAILURE);
      if (mode === 'json') {
        const report = JSON.parse(run.stdout) as { done: Array<{ name: string }>; maintenance: unknown };
        expect(report.done.map((s) => s.name)).toEqual(['0001_broken_maintenance']);
        expect(report.maintenance).toMatchObject({
          status: 'failed',
          error: { message: expect.stringMatching(/broken on purpose/) },
        });
      } else {
        expect(run.stdout).toMatch(/Applied 1 migration\(s\)[\s\S]*0001_broken_maintenance/);
        expect(run.stdout).toMatch(/migrations above are applied/);
        expect(run.stderr).toMatch(/broken on purpose/);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
