import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT, exitCodeFor } from '../../../src/cli/exit-codes.js';
import { runCliInProcess, type CliRun } from '../../helpers/cli.js';
import { ConfigError, LlmspellError } from '../../../src/errors.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'llmspell-cli-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the CLI in process with a private HOME and XDG_CONFIG_HOME, plus `env`. */
const run = (
  argv: string[],
  env: Record<string, string> = {},
  tty: boolean | { stdout: boolean; stderr: boolean } = false,
): Promise<CliRun> => runCliInProcess(argv, { dir, env, tty });

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[/;
const STACK_LINE = /^\s+at /m;

describe('program', () => {
  it('--help exits 0 and prints usage on stdout', async () => {
    const result = await run(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('config');
    expect(result.stdout).toContain('database');
  });

  it('help of a subcommand exits 0', async () => {
    const result = await run(['config', 'set', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('set');
  });

  it('--version exits 0 and prints the package version', async () => {
    const result = await run(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });

  it.each([
    ['an unknown command', ['frobnicate']],
    ['an unknown subcommand', ['config', 'frobnicate']],
    ['an unknown option', ['--frobnicate', 'config', 'get']],
    ['--backend with an invalid choice', ['--backend', 'sqlite', 'config', 'get']],
    ['--backend without its value', ['config', 'get', '--backend']],
    ['too many arguments', ['config', 'get', 'storage.backend', 'extra']],
  ])('%s exits 2 (usage), with a message on stderr and nothing on stdout', async (_name, argv) => {
    const result = await run(argv);
    expect(result.code).toBe(EXIT.USAGE);
    expect(result.stderr).not.toBe('');
    expect(result.stdout).toBe('');
  });

  it('a command group without its subcommand does not exit 0', async () => {
    const result = await run(['database']);
    expect(result.code).not.toBe(0);
  });

  it('--backend accepts each documented choice', async () => {
    for (const backend of ['embedded', 'memory', 'postgres']) {
      const result = await run(['--backend', backend, 'config', 'get', 'storage.backend']);
      expect(result).toEqual({ code: 0, stdout: `${backend}\n`, stderr: '' });
    }
  });

  it('--database-url sets the URL for this run', async () => {
    const result = await run([
      '--json',
      '--database-url',
      'postgresql://db/flag',
      'config',
      'get',
      'storage.postgres.url',
      '--show-origin',
    ]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      format_version: 1,
      'storage.postgres.url': { value: 'postgresql://db/flag', origin: '--database-url' },
    });
  });
});

describe('database commands with a bad configuration', () => {
  it.each([['migrate'], ['migration-status'], ['health-check']])(
    'database %s exits 2 on an invalid config, without a stack trace and without creating the embedded database',
    async (name) => {
      const result = await run(['database', name], { LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: 'lots' });
      expect(result.code).toBe(EXIT.USAGE);
      expect(result.stderr).toContain('LLMSPELL_STORAGE_POSTGRES_POOL_SIZE');
      expect(result.stderr).not.toMatch(STACK_LINE);
      await expect(readdir(dir)).resolves.toEqual([]);
    },
  );

  it('--json database migrate with the postgres backend and no URL prints a JSON error with a code', async () => {
    const result = await run(['--json', '--backend', 'postgres', 'database', 'migrate']);
    expect(result.code).toBe(EXIT.USAGE);
    expect((JSON.parse(result.stdout) as { error: { code: string } }).error.code).toBe('CONFIG_INVALID');
  });
});

describe('colour', () => {
  const commands: [string, string[], Record<string, string>][] = [
    ['a successful validate', ['config', 'validate'], {}],
    ['a warning', ['--backend', 'sled', 'config', 'validate'], {}],
    ['a failed validate', ['config', 'validate'], { LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: 'lots' }],
    ['an error', ['config', 'set', 'storage.postgres.pool_size', 'lots'], {}],
  ];

  it.each(commands)('non-TTY output of %s has no ANSI escapes', async (_name, argv, env) => {
    const result = await run(argv, env);
    expect(result.stdout + result.stderr).not.toMatch(ANSI);
    expect(result.stdout + result.stderr).not.toBe('');
  });

  it.each(commands)('NO_COLOR wins over FORCE_COLOR and a TTY for %s', async (_name, argv, env) => {
    const result = await run(argv, { ...env, NO_COLOR: '1', FORCE_COLOR: '1' }, true);
    expect(result.stdout + result.stderr).not.toMatch(ANSI);
  });

  it.each(commands)('--no-color wins over FORCE_COLOR and a TTY for %s', async (_name, argv, env) => {
    const result = await run(['--no-color', ...argv], { ...env, FORCE_COLOR: '1' }, true);
    expect(result.stdout + result.stderr).not.toMatch(ANSI);
  });

  it.each(commands)(
    'a TTY without NO_COLOR gets colour for %s (the check above can fail)',
    async (_name, argv, env) => {
      const result = await run(argv, env, true);
      expect(result.stdout + result.stderr).toMatch(ANSI);
    },
  );

  it("the colour of warnings and errors follows stderr's terminal, not stdout's", async () => {
    for (const argv of [
      ['--backend', 'sled', 'config', 'validate'],
      ['config', 'set', 'storage.postgres.pool_size', 'lots'],
    ]) {
      const stderrOnly = await run(argv, {}, { stdout: false, stderr: true });
      expect(stderrOnly.stderr, argv.join(' ')).toMatch(ANSI);
      expect(stderrOnly.stdout, argv.join(' ')).not.toMatch(ANSI);
      const stdoutOnly = await run(argv, {}, { stdout: true, stderr: false });
      expect(stdoutOnly.stderr, argv.join(' ')).not.toMatch(ANSI);
      expect(stdoutOnly.stderr, argv.join(' ')).not.toBe('');
    }
  });
});

describe('secrets in the output of failing commands', () => {
  const PASSWORD = 'Pw-7f3a9c-never-print';
  // Port 1 on the loopback interface: a refused connection, at once, with no DNS lookup.
  const URL = `postgresql://app:${PASSWORD}@127.0.0.1:1/llmspell`;
  const rows: [string, string[], Record<string, string>][] = [
    ['config set echoing the URL as a bad value', ['config', 'set', 'storage.postgres.pool_size', URL], {}],
    ['the same with --verbose', ['--verbose', 'config', 'set', 'storage.postgres.pool_size', URL], {}],
    ['the same with --json', ['--json', 'config', 'set', 'storage.postgres.pool_size', URL], {}],
    ['config get with an env var echoing the URL', ['config', 'get'], { LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: URL }],
    ['the same with --verbose', ['--verbose', 'config', 'get'], { LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: URL }],
    [
      'config validate listing an issue that echoes the URL',
      ['config', 'validate'],
      { LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: URL },
    ],
    ['the same with --json', ['--json', 'config', 'validate'], { LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: URL }],
    ['config get of an unknown key that is the URL', ['config', 'get', URL], {}],
    ['--set echoing the URL as a bad value', ['--set', `storage.postgres.pool_size=${URL}`, 'config', 'get'], {}],
    ['database migrate, unable to connect', ['--backend', 'postgres', 'database', 'migrate'], {}],
    ['the same with --verbose', ['--verbose', '--backend', 'postgres', 'database', 'migrate'], {}],
    ['the same with --json', ['--json', '--backend', 'postgres', 'database', 'migrate'], {}],
    [
      'database health-check, unable to connect, --verbose',
      ['--verbose', '--backend', 'postgres', 'database', 'health-check'],
      {},
    ],
  ];

  it.each(rows)('%s', async (_name, argv, env) => {
    const result = await run(argv, { LLMSPELL_STORAGE_POSTGRES_URL: URL, ...env });
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).not.toBe('');
    expect(result.stdout + result.stderr).not.toContain(PASSWORD);
  });

  it('a keyword-form URL with a bad scheme: validate fails without printing its password', async () => {
    const keyword = `host=db user=app password=${PASSWORD}`;
    for (const argv of [
      ['--backend', 'postgres', 'config', 'validate'],
      ['--verbose', '--json', '--backend', 'postgres', 'config', 'validate'],
    ]) {
      const result = await run(argv, { LLMSPELL_STORAGE_POSTGRES_URL: keyword });
      expect(result.code).toBe(EXIT.USAGE);
      expect(result.stdout + result.stderr).not.toContain(PASSWORD);
    }
  });

  it('DATABASE_URL and --database-url passwords are scrubbed too', async () => {
    const fromDatabaseUrl = await run(['config', 'set', 'storage.postgres.pool_size', URL], { DATABASE_URL: URL });
    expect(fromDatabaseUrl.code).toBe(EXIT.USAGE);
    expect(fromDatabaseUrl.stderr).not.toContain(PASSWORD);

    const fromFlag = await run(['--database-url', URL, 'config', 'set', 'storage.postgres.pool_size', URL]);
    expect(fromFlag.code).toBe(EXIT.USAGE);
    expect(fromFlag.stderr).not.toContain(PASSWORD);
  });
});

describe('secrets in the output of a malformed command line', () => {
  const PASSWORD = 'Set-4b2d-never-print';
  it.each([
    ['--set without = holding a URL', ['--set', `postgresql://app:${PASSWORD}@h/db`, 'config', 'get']],
    ['the same with --json', ['--json', '--set', `postgresql://app:${PASSWORD}@h/db`, 'config', 'get']],
    [
      '--set without = holding a URL whose password has a space',
      ['--set', `postgresql://app:${PASSWORD} x@h/db`, 'config', 'get'],
    ],
    ['--set without = holding a short password', ['--set', 'postgresql://app:pw@h/db', 'config', 'get']],
    [
      'a bad --set value holding a URL with a short password',
      ['--set', 'storage.postgres.pool_size=postgresql://u:hunter2@h/db', 'config', 'get'],
    ],
  ])('%s exits 2 without printing the password', async (_name, argv) => {
    const result = await run(argv);
    expect(result.code).toBe(EXIT.USAGE);
    expect(result.stdout + result.stderr).not.toBe('');
    expect(result.stdout + result.stderr).not.toMatch(new RegExp(`${PASSWORD}|:pw@|hunter2`));
    if (argv.includes('--json'))
      expect((JSON.parse(result.stdout) as { error: { code: string } }).error.code).toBe('USAGE');
  });
});

describe('a short, common password', () => {
  const URL = 'postgresql://postgres:postgres@127.0.0.1:1/db';

  it('masks the password in URLs and leaves every other "postgres" alone', async () => {
    const backend = await run(['--database-url', URL, 'config', 'get', 'storage.backend']);
    expect(backend).toEqual({ code: 0, stdout: 'embedded\n', stderr: '' });
    const url = await run(['--database-url', URL, 'config', 'get', 'storage.postgres.url']);
    expect(url).toEqual({ code: 0, stdout: 'postgresql://postgres:***@127.0.0.1:1/db\n', stderr: '' });
    const viaEnv = await run(['--backend', 'postgres', 'config', 'get', 'storage.backend'], { DATABASE_URL: URL });
    expect(viaEnv).toEqual({ code: 0, stdout: 'postgres\n', stderr: '' });
  });
});

describe("commander's own errors", () => {
  it('an invalid --backend value holding a password exits 2 without printing the password', async () => {
    for (const argv of [
      ['--backend', 'postgresql://app:Pw-123@db/x', 'config', 'get'],
      ['--json', '--backend', 'postgresql://app:Pw-123@db/x', 'config', 'get'],
      ['config', 'get', '--backend=postgresql://app:Pw-123@db/x'],
    ]) {
      const result = await run(argv);
      expect(result.code, argv.join(' ')).toBe(EXIT.USAGE);
      expect(result.stdout + result.stderr, argv.join(' ')).not.toBe('');
      expect(result.stdout + result.stderr, argv.join(' ')).not.toContain('Pw-123');
    }
  });

  it.each([
    ['an unknown command', ['--json', 'nope']],
    ['an invalid --backend choice', ['--json', '--backend', 'foo', 'config', 'get']],
    ['an unknown option', ['--json', '--frobnicate', 'config', 'get']],
    ['a missing argument', ['--json', 'config', 'set', 'storage.backend']],
  ])('--json: %s prints one JSON document with error.code USAGE on stdout', async (_name, argv) => {
    const result = await run(argv);
    expect(result.code).toBe(EXIT.USAGE);
    const json = JSON.parse(result.stdout) as { error: { code: string; message: unknown } };
    expect(json.error.code).toBe('USAGE');
    expect(typeof json.error.message).toBe('string');
  });
});

describe('secrets of every secret key', () => {
  const PASSWORD = 'Mig-9c1e-never-print';
  const MIGRATION_URL = `postgresql://migrator:${PASSWORD}@127.0.0.1:1/llmspell`;
  const rows: [string, string[], Record<string, string>][] = [
    ['config set echoing the URL as a bad value', ['config', 'set', 'storage.postgres.pool_size', MIGRATION_URL], {}],
    ['the same with --verbose', ['--verbose', 'config', 'set', 'storage.postgres.pool_size', MIGRATION_URL], {}],
    ['the same with --json', ['--json', 'config', 'set', 'storage.postgres.pool_size', MIGRATION_URL], {}],
    [
      'config get with an env var echoing the URL',
      ['config', 'get'],
      { LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: MIGRATION_URL },
    ],
    [
      'config validate listing an issue that echoes the URL',
      ['--json', 'config', 'validate'],
      { LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: MIGRATION_URL },
    ],
    ['config get of an unknown key that is the URL', ['config', 'get', MIGRATION_URL], {}],
  ];

  it.each(rows)('LLMSPELL_STORAGE_POSTGRES_MIGRATION_URL: %s', async (_name, argv, env) => {
    const result = await run(argv, { LLMSPELL_STORAGE_POSTGRES_MIGRATION_URL: MIGRATION_URL, ...env });
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).not.toBe('');
    expect(result.stdout + result.stderr).not.toContain(PASSWORD);
  });
});

describe('exitCodeFor', () => {
  it.each([
    ['USAGE', EXIT.USAGE],
    ['CONFIG_INVALID', EXIT.USAGE],
    ['CONFIG_SYNTAX', EXIT.USAGE],
    ['CONFIG_NOT_FOUND', EXIT.USAGE],
    ['TENANT_INVALID', EXIT.USAGE],
    ['DB_UNREACHABLE', EXIT.UNREACHABLE],
    ['DB_AUTH_FAILED', EXIT.UNREACHABLE],
    ['DB_NOT_FOUND', EXIT.UNREACHABLE],
    ['LOCK_HELD', EXIT.LOCKED],
    ['POOLER_NOT_SUPPORTED', EXIT.USAGE],
    ['MIGRATION_DRIFT', EXIT.DRIFT],
    ['MIGRATION_ORDER', EXIT.DRIFT],
    ['MIGRATION_FAILED', EXIT.FAILURE],
    ['DB_POOL_TIMEOUT', EXIT.UNREACHABLE],
    ['CONFIG_WRITE_FAILED', EXIT.FAILURE],
    ['INTERNAL', EXIT.FAILURE],
  ] as const)('%s → %i', (code, status) => {
    expect(exitCodeFor(new LlmspellError(code, 'x'))).toBe(status);
  });

  it('an error that is not an LlmspellError is a failure', () => {
    expect(exitCodeFor(new Error('boom'))).toBe(EXIT.FAILURE);
    expect(exitCodeFor('boom')).toBe(EXIT.FAILURE);
  });

  it('a ConfigError maps by its code', () => {
    expect(exitCodeFor(new ConfigError('CONFIG_INVALID', 'x'))).toBe(EXIT.USAGE);
  });
});

describe('migration arguments are checked before any database is opened', () => {
  it('warns when --migrations-dir holds no migration files', async () => {
    const empty = join(dir, 'empty-migrations');
    await mkdir(empty);
    const result = await run(['--backend', 'memory', 'database', 'migrate', '--migrations-dir', empty]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`warning: --migrations-dir ${empty} holds no migration files (NNNN_name.sql)`);
  });
});
