import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { CLI_BIN, runCliProcess } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

const FIXTURE = new URL('../fixtures/migrations/basic', import.meta.url).pathname;
const llmspell = (args: string[], env: Record<string, string> = {}) => runCliProcess(args, env);

describe('llmspell binary', () => {
  let home: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'llmspell-test-home-'));
    env = { HOME: home, XDG_CONFIG_HOME: join(home, 'config'), XDG_DATA_HOME: join(home, 'data') };
  });
  afterAll(() => rm(home, { recursive: true, force: true }));

  it('quick start on the embedded default: migrate, then a healthy health-check', async () => {
    const migrate = await llmspell(['database', 'migrate'], env);
    expect(migrate.code, migrate.stderr).toBe(EXIT.OK);
    const status = await llmspell(['database', 'migration-status', '--json'], env);
    expect(status.code).toBe(EXIT.OK);
    expect(JSON.parse(status.stdout)).toMatchObject({ pending: 0, drift: [] });
    const health = await llmspell(['database', 'health-check', '--json'], env);
    expect(health.code, health.stdout).toBe(EXIT.OK);
    expect(JSON.parse(health.stdout)).toMatchObject({ status: 'healthy' });
    // Nothing to warn about on a fresh embedded database (VectorChord does not apply to PGlite): --strict passes too.
    const strict = await llmspell(['database', 'health-check', '--strict'], env);
    expect(strict.code, strict.stdout).toBe(EXIT.OK);
    expect(strict.stdout).not.toMatch(/^[⚠✗] /m);
  });

  it('health-check of a closed port exits "unreachable" within the timeout and prints no password', async () => {
    const url = 'postgresql://llmspell:s3cret-pa55@127.0.0.1:1/llmspell';
    for (const extra of [[], ['--json']]) {
      const run = await llmspell(['database', 'health-check', '--timeout', '3', ...extra], {
        ...env,
        LLMSPELL_STORAGE_BACKEND: 'postgres',
        LLMSPELL_STORAGE_POSTGRES_URL: url,
      });
      expect(run.code).toBe(EXIT.UNREACHABLE);
      expect(run.stdout + run.stderr).not.toContain('s3cret-pa55');
      expect(run.stdout + run.stderr).not.toMatch(/^\s+at /m);
    }
  });

  it('health-check of a server that never answers gives up at --timeout', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const run = await llmspell(
        [
          'database',
          'health-check',
          '--timeout',
          '2',
          '--backend',
          'postgres',
          '--database-url',
          `postgresql://u:pw-never-shown@127.0.0.1:${port}/db`,
        ],
        env,
      );
      expect(run.code).toBe(EXIT.UNREACHABLE);
      expect(run.stdout + run.stderr).not.toContain('pw-never-shown');
      // A bound, not a benchmark: it must not hang on a silent server (the default pool timeout is 30 s).
      expect(run.ms).toBeLessThan(20_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('rollback refuses without --yes when not on a terminal, and changes nothing', async () => {
    const run = await llmspell(['database', 'rollback', '--to', '0'], env);
    expect(run.code).toBe(EXIT.USAGE);
    const status = await llmspell(['database', 'migration-status'], env);
    expect(status.code).toBe(EXIT.OK);
  });

  it('a failing migration (relative --migrations-dir) names file and line, and exits FAILURE', async () => {
    const run = await llmspell(
      ['--backend', 'memory', 'database', 'migrate', '--migrations-dir', 'test/fixtures/migrations/failing'],
      env,
    );
    expect(run.code).toBe(EXIT.FAILURE);
    expect(run.stderr).toContain('0003_broken.sql');
    expect(run.stderr).toContain('line 4');
    expect(run.stderr).not.toMatch(/^\s+at /m);
  });

  it('survives a reader that goes away (llmspell … | head): no EPIPE crash, exit status kept', async () => {
    const child = spawn(process.execPath, [CLI_BIN, 'config', 'get'], {
      env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, 'close')) as [number];
    expect(stderr).not.toContain('EPIPE');
    expect(code).toBe(EXIT.OK);
  });

  it('config set then get round-trips through the file, keeping comments', async () => {
    const file = join(home, 'config', 'llmspell', 'config.toml');
    expect((await llmspell(['config', 'set', 'storage.postgres.pool_size', '25'], env)).code).toBe(EXIT.OK);
    await writeFile(file, `# my settings\n${await readFile(file, 'utf8')}`);
    expect((await llmspell(['config', 'set', 'storage.postgres.pool_size', '30'], env)).code).toBe(EXIT.OK);
    const get = await llmspell(['config', 'get', 'storage.postgres.pool_size'], env);
    expect(get.stdout.trim()).toBe('30');
    expect(await readFile(file, 'utf8')).toContain('# my settings');
    expect((await llmspell(['config', 'unset', 'storage.postgres.pool_size'], env)).code).toBe(EXIT.OK);
  });
});

describe('llmspell binary on PostgreSQL 18', () => {
  let database: TestDatabase;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    database = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'llmspell-test-e2e-migrations-'));
    await cp(FIXTURE, dir, { recursive: true });
    env = { HOME: dir, LLMSPELL_STORAGE_BACKEND: 'postgres', LLMSPELL_STORAGE_POSTGRES_URL: database.url };
  });
  afterAll(async () => {
    await database?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('five concurrent migrate processes apply every migration exactly once', async () => {
    const pending = await llmspell(['database', 'migration-status', '--migrations-dir', dir], env);
    expect(pending.code).toBe(EXIT.PENDING);
    const runs = await Promise.all(
      Array.from({ length: 5 }, () => llmspell(['database', 'migrate', '--json', '--migrations-dir', dir], env)),
    );
    for (const run of runs) expect(run.code, run.stdout + run.stderr).toBe(EXIT.OK);
    const applied = runs.flatMap((run) =>
      (JSON.parse(run.stdout) as { done: Array<{ name: string }> }).done.map((s) => s.name),
    );
    expect(applied.sort()).toEqual(['0001_roles_and_schema', '0002_notes', '0003_tags']);
    const status = await llmspell(['database', 'migration-status', '--json', '--migrations-dir', dir], env);
    expect(status.code).toBe(EXIT.OK);
    expect(JSON.parse(status.stdout)).toMatchObject({ applied: 3, pending: 0 });
  });

  it('an edited applied migration makes status and migrate exit with the drift code', async () => {
    const file = join(dir, '0003_tags.sql');
    const original = await readFile(file, 'utf8');
    await writeFile(file, `${original}\n-- an innocent-looking edit\n`);
    try {
      expect((await llmspell(['database', 'migration-status', '--migrations-dir', dir], env)).code).toBe(EXIT.DRIFT);
      expect((await llmspell(['database', 'migrate', '--migrations-dir', dir], env)).code).toBe(EXIT.DRIFT);
    } finally {
      await writeFile(file, original);
    }
  });

  it('migrates over migration_url when set, whatever url points at (a port is no evidence of a pooler)', async () => {
    const unreachable = 'postgresql://u:p@127.0.0.1:1/db';
    const run = await llmspell(['database', 'migrate', '--migrations-dir', dir], {
      ...env,
      LLMSPELL_STORAGE_POSTGRES_URL: unreachable,
    });
    expect(run.code).toBe(EXIT.UNREACHABLE);
    const direct = await llmspell(['database', 'migrate', '--migrations-dir', dir], {
      ...env,
      LLMSPELL_STORAGE_POSTGRES_URL: unreachable,
      LLMSPELL_STORAGE_POSTGRES_MIGRATION_URL: database.url,
    });
    expect(direct.code, direct.stderr).toBe(EXIT.OK);
  });
});
