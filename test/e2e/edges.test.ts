/**
 * The binary at the edges, as real processes: concurrent `config set`s, Ctrl-C during a migration,
 * a first run killed halfway, data directories that are not (whole) databases, and read-only
 * commands on a fresh machine — nothing lost, nothing created by surprise.
 */
import type { ChildProcess } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'smol-toml';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { diskSnapshot } from '../helpers/snapshot.js';
import { runCliProcess } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

const FIXTURES = new URL('../fixtures/migrations/', import.meta.url).pathname;

describe('the binary at the edges', () => {
  let home: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'llmspell-test-edges-'));
    env = { HOME: home, XDG_CONFIG_HOME: join(home, 'config'), XDG_DATA_HOME: join(home, 'data') };
  });
  afterAll(() => rm(home, { recursive: true, force: true }));

  it('eight concurrent config sets of different keys: every one that succeeds is in the file', async () => {
    const sets: Array<[string, string]> = [
      ['storage.postgres.pool_size', '7'],
      ['storage.postgres.pool_timeout_secs', '11'],
      ['storage.postgres.idle_timeout_secs', '12'],
      ['storage.postgres.max_lifetime_secs', '13'],
      ['storage.postgres.default_tenant_id', 'acme'],
      ['storage.postgres.auto_migrate', 'true'],
      ['storage.postgres.migration_timeout_secs', '14'],
      ['storage.postgres.event_log.retention_days', '15'],
    ];
    const runs = await Promise.all(sets.map(([key, value]) => runCliProcess(['config', 'set', key, value], env)));
    expect(runs.map((r) => r.code)).toEqual(sets.map(() => EXIT.OK));
    const written = parse(await readFile(join(home, 'config', 'llmspell', 'config.toml'), 'utf8')) as {
      storage: { postgres: Record<string, unknown> & { event_log: Record<string, unknown> } };
    };
    const postgres = written.storage.postgres;
    expect(postgres).toMatchObject({
      pool_size: 7,
      pool_timeout_secs: 11,
      idle_timeout_secs: 12,
      max_lifetime_secs: 13,
      default_tenant_id: 'acme',
      auto_migrate: true,
      migration_timeout_secs: 14,
    });
    expect(postgres.event_log.retention_days).toBe(15);
    expect((await readdir(join(home, 'config', 'llmspell'))).filter((n) => n.includes('.lock'))).toEqual([]);
  });

  it('refuses to edit a config file that is not UTF-8, naming the line, and leaves it byte for byte', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'llmspell-test-utf8-'));
    try {
      const file = join(dir, 'config.toml');
      const bytes = Buffer.concat([Buffer.from('# ok\n# caf'), Buffer.from([0xe9]), Buffer.from('\n[storage]\n')]);
      await writeFile(file, bytes);
      const run = await runCliProcess(['--config', file, 'config', 'set', 'storage.backend', 'memory'], env);
      expect(run.code).toBe(EXIT.USAGE);
      expect(run.stderr).toMatch(/not valid UTF-8 \(line 2/);
      expect(Buffer.compare(await readFile(file), bytes)).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('warns when a password lands in a config file that others can read, and says how to fix it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'llmspell-test-mode-'));
    try {
      const file = join(dir, 'config.toml');
      await writeFile(file, '[storage]\nbackend = "postgres"\n');
      await chmod(file, 0o644);
      const url = 'postgresql://app:Sup3r-s3cret-pw@db.example.com/llmspell';
      const run = await runCliProcess(['--config', file, 'config', 'set', 'storage.postgres.url', url], env);
      expect(run.code).toBe(EXIT.OK);
      expect(run.stderr).toMatch(new RegExp(`readable by other users \\(mode 644\\)[^\\n]*chmod 600 ${file}`));
      expect(`${run.stdout}${run.stderr}`).not.toContain('Sup3r-s3cret-pw');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('embedded data directories', () => {
    it('never initialises a database among other files, and touches none of them', async () => {
      const dataDir = join(home, 'busy');
      await mkdir(dataDir, { recursive: true });
      await writeFile(join(dataDir, 'notes.txt'), 'mine');
      const before = await diskSnapshot(home);
      for (const args of [
        ['database', 'migrate'],
        ['database', 'migration-status'],
        ['database', 'health-check'],
      ]) {
        const run = await runCliProcess(args, { ...env, LLMSPELL_STORAGE_EMBEDDED_PATH: dataDir });
        expect(run.code, `${args.join(' ')}: ${run.stderr}${run.stdout}`).toBe(EXIT.UNREACHABLE);
        expect(`${run.stderr}${run.stdout}`).toMatch(/not empty and not a database/);
      }
      expect(await diskSnapshot(home)).toEqual(before);
    });

    it('read-only and dry-run commands on a fresh machine create nothing at all', async () => {
      const fresh = await mkdtemp(join(tmpdir(), 'llmspell-test-fresh-'));
      const freshEnv = { HOME: fresh, XDG_CONFIG_HOME: join(fresh, 'config'), XDG_DATA_HOME: join(fresh, 'data') };
      try {
        const codes: Record<string, number> = {};
        for (const args of [
          ['database', 'migration-status'],
          ['database', 'migrate', '--dry-run'],
          ['database', 'rollback', '--to', '0', '--dry-run'],
          ['database', 'rollback', '--to', '0', '--yes'],
          ['database', 'maintain'],
          ['database', 'maintain', '--dry-run'],
          ['database', 'health-check'],
          ['config', 'get'],
          ['config', 'validate'],
        ]) {
          codes[args.join(' ')] = (await runCliProcess(args, freshEnv)).code;
        }
        expect(codes).toEqual({
          'database migration-status': EXIT.PENDING,
          'database migrate --dry-run': EXIT.OK,
          'database rollback --to 0 --dry-run': EXIT.OK,
          'database rollback --to 0 --yes': EXIT.OK,
          'database maintain': EXIT.UNREACHABLE,
          'database maintain --dry-run': EXIT.UNREACHABLE,
          'database health-check': EXIT.UNREACHABLE,
          'config get': EXIT.OK,
          'config validate': EXIT.OK,
        });
        expect(await diskSnapshot(fresh)).toEqual([]);
      } finally {
        await rm(fresh, { recursive: true, force: true });
      }
    });

    it('a first run killed during initdb leaves no half database, and the next run completes', async () => {
      const dataDir = join(home, 'killed', 'pgdata');
      const killedEnv = { ...env, LLMSPELL_STORAGE_EMBEDDED_PATH: dataDir };
      let killed = false;
      let child: ChildProcess | undefined;
      const first = runCliProcess(['database', 'migrate'], killedEnv, (c) => (child = c));
      // initdb takes seconds: kill the process while it runs.
      for (let i = 0; i < 100 && !killed; i++) {
        await sleep(100);
        const entries = await readdir(join(home, 'killed')).catch(() => []);
        if (entries.some((e) => e.endsWith('.initialising'))) {
          await sleep(500);
          child!.kill('SIGKILL');
          killed = true;
        }
      }
      await first;
      expect(killed).toBe(true);
      expect((await readdir(join(home, 'killed'))).includes('pgdata')).toBe(false);
      const second = await runCliProcess(['database', 'migrate'], killedEnv);
      expect(second.code, second.stderr).toBe(EXIT.OK);
      expect((await readdir(join(home, 'killed'))).sort()).toEqual(['pgdata']);
      // Not a terminal (a CI log): the long first run still says what it is doing, on stderr.
      expect(second.stderr).toContain(`Creating the embedded database in ${dataDir}`);
      expect(second.stderr).toMatch(/Embedded database created in \d+\.\ds\./);
      expect(second.stderr).toMatch(/\[1\/\d+\] applying 0001_extensions_and_schema/);
      expect(second.stdout).not.toMatch(/Creating|applying/);
    });

    it('refuses a database that lost its PG_VERSION instead of re-creating it', async () => {
      const dataDir = join(home, 'damaged');
      const damagedEnv = { ...env, LLMSPELL_STORAGE_EMBEDDED_PATH: dataDir };
      expect((await runCliProcess(['database', 'migrate'], damagedEnv)).code).toBe(EXIT.OK);
      await rm(join(dataDir, 'PG_VERSION'));
      const before = await diskSnapshot(dataDir);
      const run = await runCliProcess(['database', 'migrate'], damagedEnv);
      expect(run.code).toBe(EXIT.UNREACHABLE);
      expect(run.stderr).toMatch(/without its PG_VERSION file/);
      expect(await diskSnapshot(dataDir)).toEqual(before);
    });
  });

  describe('Ctrl-C during a migration (PostgreSQL 18)', () => {
    let database: TestDatabase;
    let dir: string;
    beforeAll(async () => {
      database = await createTestDatabase();
      dir = await mkdtemp(join(tmpdir(), 'llmspell-test-sigint-'));
      await cp(join(FIXTURES, 'basic'), dir, { recursive: true });
      await writeFile(
        join(dir, '0004_slow.sql'),
        '-- Up Migration\nCREATE TABLE llmspell.slow (id int);\nSELECT pg_sleep(3);\n-- Down Migration\nDROP TABLE llmspell.slow;\n',
      );
    });
    afterAll(async () => {
      await database?.drop();
      await rm(dir, { recursive: true, force: true });
    });

    it('says what was applied and that nothing of the interrupted migration was, and it is not', async () => {
      const pgEnv = { ...env, LLMSPELL_STORAGE_BACKEND: 'postgres', LLMSPELL_STORAGE_POSTGRES_URL: database.url };
      let sent = false;
      const admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
      try {
        let child: ChildProcess | undefined;
        const running = runCliProcess(['database', 'migrate', '--migrations-dir', dir], pgEnv, (c) => (child = c));
        // Wait until 0004 is under way (its pg_sleep shows in pg_stat_activity), then press Ctrl-C.
        for (let i = 0; i < 100 && !sent; i++) {
          await sleep(100);
          const { rows } = await admin.query<{ pid: number }>(
            "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(3)%' AND datname = current_database()",
          );
          if (rows.length > 0) {
            child!.kill('SIGINT');
            sent = true;
          }
        }
        const run = await running;
        expect(sent).toBe(true);
        expect(run.code).toBe(130);
        expect(run.stderr).toMatch(
          /interrupted: 0001_roles_and_schema, 0002_notes, 0003_tags were applied; nothing of 0004_slow was applied/,
        );
        // The server ends the interrupted transaction once the sleep returns: 0004 never lands.
        await sleep(3_500);
        const { rows } = await admin.query<{ slow: string | null; recorded: number }>(
          `SELECT to_regclass('llmspell.slow')::text AS slow,
                  (SELECT count(*)::int FROM llmspell_migrations.history WHERE name = '0004_slow') AS recorded`,
        );
        expect(rows).toEqual([{ slow: null, recorded: 0 }]);
      } finally {
        await admin.end();
      }
    });
  });
});
