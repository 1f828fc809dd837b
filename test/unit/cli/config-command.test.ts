import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCliInProcess, type CliRun } from '../../helpers/cli.js';
import { CONFIG_KEYS } from '../../../src/config/keys.js';

let dir: string;
/** Where `config set` writes by default in these tests: `$XDG_CONFIG_HOME/llmspell/config.toml`. */
let configPath: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'llmspell-cli-config-'));
  configPath = join(dir, 'xdg', 'llmspell', 'config.toml');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the CLI in process with a private HOME and XDG_CONFIG_HOME, plus `env`. */
const run = (argv: string[], env: Record<string, string> = {}): Promise<CliRun> => runCliInProcess(argv, { dir, env });

async function writeConfig(text: string): Promise<void> {
  await mkdir(join(dir, 'xdg', 'llmspell'), { recursive: true });
  await writeFile(configPath, text);
}

const STACK_LINE = /^\s+at /m;

/** The defaults as a nested document, built from the key table (whose values load.test.ts pins one by one). */
function defaultsDocument(): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const spec of CONFIG_KEYS) {
    let table = root;
    for (const part of spec.path.slice(0, -1)) table = (table[part] ??= {}) as Record<string, unknown>;
    if (spec.default !== undefined) table[spec.path.at(-1)!] = spec.default;
  }
  return root;
}

describe('config get', () => {
  it('prints the whole configuration as TOML that parses back to the defaults', async () => {
    const result = await run(['config', 'get']);
    expect(result.code).toBe(0);
    const document = parse(result.stdout);
    expect(document).toEqual(defaultsDocument());
    expect(document).toMatchObject({
      storage: {
        backend: 'embedded',
        postgres: {
          pool_size: 16,
          vector_embeddings: { hnsw_ef_construction: 128 },
          event_log: { partition_strategy: 'monthly' },
        },
      },
    });
    expect(result.stderr).toBe('');
  });

  it('prints one value bare', async () => {
    const result = await run(['config', 'get', 'storage.postgres.pool_size']);
    expect(result).toEqual({ code: 0, stdout: '16\n', stderr: '' });
  });

  it('prints a table as TOML', async () => {
    const result = await run(['config', 'get', 'storage.postgres.event_log']);
    expect(result.code).toBe(0);
    expect(parse(result.stdout)).toEqual({
      storage: { postgres: { event_log: { partition_strategy: 'monthly', retention_days: 365 } } },
    });
  });

  it('--json prints a table as one JSON document', async () => {
    const result = await run(['--json', 'config', 'get', 'storage.postgres']);
    expect(result.code).toBe(0);
    const json = JSON.parse(result.stdout) as Record<string, unknown>;
    const postgres = (defaultsDocument().storage as Record<string, Record<string, unknown>>).postgres!;
    const unset = CONFIG_KEYS.filter((spec) => spec.path[1] === 'postgres' && spec.default === undefined);
    expect(unset.map((spec) => spec.key)).toContain('storage.postgres.url');
    // An unset key is null where it is.
    const expected: Record<string, unknown> = { format_version: 1, ...structuredClone(postgres) };
    for (const spec of unset) {
      let table = expected;
      for (const part of spec.path.slice(2, -1)) table = table[part] as Record<string, unknown>;
      table[spec.path.at(-1)!] = null;
    }
    expect(json).toEqual(expected);
    expect(json.pool_size).toBe(16);
  });

  it('--json prints one value as a document naming the key', async () => {
    const result = await run(['--json', 'config', 'get', 'storage.postgres.auto_migrate']);
    expect(JSON.parse(result.stdout)).toEqual({
      format_version: 1,
      key: 'storage.postgres.auto_migrate',
      value: false,
    });
    const unset = await run(['--json', 'config', 'get', 'storage.postgres.url']);
    expect(JSON.parse(unset.stdout)).toEqual({ format_version: 1, key: 'storage.postgres.url', value: null });
  });

  it('masks the password of a URL', async () => {
    const env = { LLMSPELL_STORAGE_POSTGRES_URL: 'postgresql://app:hunter2-secret@db:5432/llmspell' };
    for (const argv of [
      ['config', 'get', 'storage.postgres.url'],
      ['config', 'get'],
      ['--json', 'config', 'get'],
      ['config', 'get', '--show-origin'],
    ]) {
      const result = await run(argv, env);
      expect(result.code, argv.join(' ')).toBe(0);
      expect(result.stdout, argv.join(' ')).toContain('postgresql://app:***@db:5432/llmspell');
      expect(result.stdout + result.stderr, argv.join(' ')).not.toContain('hunter2-secret');
    }
  });

  it('masks the password of a URL read from the file', async () => {
    await writeConfig('[storage.postgres]\nurl = "postgresql://app:file-secret@db/llmspell"\n');
    const result = await run(['config', 'get', 'storage.postgres.url']);
    expect(result.stdout).toBe('postgresql://app:***@db/llmspell\n');
  });

  it('--show-origin names the env var, the file, the flag and default', async () => {
    await writeConfig('[storage.postgres]\nidle_timeout_secs = 60\n');
    const result = await run(
      [
        '--json',
        '--set',
        'storage.postgres.max_lifetime_secs=90',
        'config',
        'get',
        'storage.postgres',
        '--show-origin',
      ],
      {
        LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: '9',
      },
    );
    expect(result.code).toBe(0);
    const json = JSON.parse(result.stdout) as Record<string, { value: unknown; origin: string }>;
    expect(json['storage.postgres.pool_size']).toEqual({ value: 9, origin: 'LLMSPELL_STORAGE_POSTGRES_POOL_SIZE' });
    expect(json['storage.postgres.idle_timeout_secs']).toEqual({ value: 60, origin: configPath });
    expect(json['storage.postgres.max_lifetime_secs']).toEqual({
      value: 90,
      origin: '--set storage.postgres.max_lifetime_secs',
    });
    expect(json['storage.postgres.pool_timeout_secs']).toEqual({ value: 30, origin: 'default' });
  });

  it('--show-origin on one key names the env var in human output', async () => {
    const result = await run(['config', 'get', 'storage.postgres.pool_size', '--show-origin'], {
      LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: '9',
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('LLMSPELL_STORAGE_POSTGRES_POOL_SIZE');
    expect(result.stdout).toContain('9');
  });

  it('--set KEY=VALUE overrides the key for this run', async () => {
    const result = await run(['--set', 'storage.postgres.pool_size=7', 'config', 'get', 'storage.postgres.pool_size'], {
      LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: '9',
    });
    expect(result).toEqual({ code: 0, stdout: '7\n', stderr: '' });
  });

  it('--backend sled prints embedded and warns', async () => {
    const result = await run(['--backend', 'sled', 'config', 'get', 'storage.backend']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('embedded\n');
    expect(result.stderr).toContain('storage.backend');
  });

  it('an unset key prints an empty line and a note on stderr', async () => {
    const result = await run(['config', 'get', 'storage.embedded.path']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('\n');
    expect(result.stderr).toContain('storage.embedded.path');
  });

  it.each([
    ['an unknown key', () => ['config', 'get', 'storage.postgres.pool_sise'], {}],
    ['a bad --set value', () => ['--set', 'storage.postgres.pool_size=lots', 'config', 'get'], {}],
    ['--set without =', () => ['--set', 'storage.postgres.pool_size', 'config', 'get'], {}],
    ['a bad env var', () => ['config', 'get'], { LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: 'lots' }],
    ['a missing --config file', () => ['--config', join(dir, 'missing.toml'), 'config', 'get'], {}],
  ])('exits 2 on %s', async (_name, argv, env) => {
    const result = await run(argv(), env);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).not.toBe('');
  });

  it('exits 2 with CONFIG_SYNTAX when the file is not TOML', async () => {
    await writeConfig('[storage\n');
    const result = await run(['--json', 'config', 'get']);
    expect(result.code).toBe(2);
    expect((JSON.parse(result.stdout) as { error: { code: string } }).error.code).toBe('CONFIG_SYNTAX');
  });
});

describe('config set / unset', () => {
  it('round-trips through $XDG_CONFIG_HOME: set, then get, then unset', async () => {
    const set = await run(['config', 'set', 'storage.postgres.pool_size', '25']);
    expect(set.code).toBe(0);
    expect(set.stdout).toContain(configPath);
    expect(parse(await readFile(configPath, 'utf8'))).toEqual({ storage: { postgres: { pool_size: 25 } } });

    const get = await run(['config', 'get', 'storage.postgres.pool_size', '--show-origin']);
    expect(get.code).toBe(0);
    expect(get.stdout).toContain('25');
    expect(get.stdout).toContain(configPath);

    const unset = await run(['config', 'unset', 'storage.postgres.pool_size']);
    expect(unset.code).toBe(0);
    expect((await run(['config', 'get', 'storage.postgres.pool_size'])).stdout).toBe('16\n');
  });

  it('--json reports what changed', async () => {
    const result = await run(['--json', 'config', 'set', 'storage.postgres.auto_migrate', 'true']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      path: configPath,
      key: 'storage.postgres.auto_migrate',
      value: true,
      previous: null,
      changed: true,
      created: true,
    });
  });

  it('--config names the file to write', async () => {
    const path = join(dir, 'elsewhere.toml');
    const result = await run(['--config', path, 'config', 'set', 'storage.backend', 'memory']);
    expect(result.code).toBe(0);
    expect(parse(await readFile(path, 'utf8'))).toEqual({ storage: { backend: 'memory' } });
  });

  it('masks the password of a URL it sets, in human and JSON output', async () => {
    for (const argv of [
      ['config', 'set', 'storage.postgres.url', 'postgresql://app:set-secret@db/llmspell'],
      ['--json', 'config', 'set', 'storage.postgres.url', 'postgresql://app:set-secret-2@db/llmspell'],
    ]) {
      const result = await run(argv);
      expect(result.code).toBe(0);
      expect(result.stdout + result.stderr).not.toMatch(/set-secret/);
    }
    expect(await readFile(configPath, 'utf8')).toContain('set-secret-2');
  });

  it('warns, naming the env var, when the environment overrides the key it set', async () => {
    const result = await run(['config', 'set', 'storage.postgres.pool_size', '25'], {
      LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: '3',
    });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('LLMSPELL_STORAGE_POSTGRES_POOL_SIZE');
  });

  it('a bad value exits 2, leaves no file, and prints no stack trace', async () => {
    const result = await run(['config', 'set', 'storage.postgres.pool_size', 'lots']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('storage.postgres.pool_size');
    expect(result.stderr).not.toMatch(STACK_LINE);
    await expect(readFile(configPath)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a bad value with --verbose prints the stack trace', async () => {
    const result = await run(['--verbose', 'config', 'set', 'storage.postgres.pool_size', 'lots']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(STACK_LINE);
  });

  it('a bad value leaves an existing file byte-for-byte unchanged', async () => {
    const text = '# mine\n[storage.postgres]\npool_size = 4 # four\n';
    await writeConfig(text);
    const result = await run(['config', 'set', 'storage.postgres.vector_embeddings.hnsw_m', '100']);
    expect(result.code).toBe(2);
    expect(await readFile(configPath, 'utf8')).toBe(text);
  });

  it('--json error output is one JSON document with error.code and the issues', async () => {
    const result = await run(['--json', 'config', 'set', 'storage.postgres.pool_sise', '3']);
    expect(result.code).toBe(2);
    const json = JSON.parse(result.stdout) as {
      error: { code: string; issues: { key: string; suggestion?: string }[] };
    };
    expect(json.error.code).toBe('CONFIG_INVALID');
    expect(json.error.issues).toEqual([
      expect.objectContaining({ key: 'storage.postgres.pool_sise', suggestion: 'storage.postgres.pool_size' }),
    ]);
    expect(result.stderr).not.toMatch(STACK_LINE);
  });

  it('a table key exits 2 with code USAGE', async () => {
    const result = await run(['--json', 'config', 'set', 'storage.postgres', '3']);
    expect(result.code).toBe(2);
    expect((JSON.parse(result.stdout) as { error: { code: string } }).error.code).toBe('USAGE');
  });

  it('a missing value argument exits 2', async () => {
    expect((await run(['config', 'set', 'storage.postgres.pool_size'])).code).toBe(2);
  });

  it('unset of a key the file does not hold exits 0 and creates nothing', async () => {
    const result = await run(['--json', 'config', 'unset', 'storage.postgres.pool_size']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ changed: false });
    await expect(readFile(configPath)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('config validate', () => {
  it('exits 0 on a valid configuration', async () => {
    await writeConfig('[storage.postgres]\npool_size = 4\n');
    const result = await run(['--json', 'config', 'validate']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      valid: true,
      file: { path: configPath, exists: true },
      issues: [],
    });
  });

  it('exits 0 with no file at all (defaults apply)', async () => {
    const result = await run(['config', 'validate']);
    expect(result.code).toBe(0);
  });

  it('exits 2 and lists every problem, from the file and the environment', async () => {
    await writeConfig('[storage.postgres]\npool_size = 0\npool_sise = 4\n');
    const env = { LLMSPELL_STORAGE_BACKEND: 'sqlite', LLMSPELL_STORAGE_POSTGRES_POOL_TIMEOUT_SEC: '3' };
    const json = await run(['--json', 'config', 'validate'], env);
    expect(json.code).toBe(2);
    const report = JSON.parse(json.stdout) as { valid: boolean; issues: { key: string }[] };
    expect(report.valid).toBe(false);
    const keys = [
      'storage.postgres.pool_size',
      'storage.postgres.pool_sise',
      'storage.backend',
      'LLMSPELL_STORAGE_POSTGRES_POOL_TIMEOUT_SEC',
    ];
    expect(report.issues.map((i) => i.key).sort()).toEqual([...keys].sort());

    const human = await run(['config', 'validate'], env);
    expect(human.code).toBe(2);
    for (const key of keys) expect(human.stdout).toContain(key);
    expect(human.stderr).not.toMatch(STACK_LINE);
  });

  it('exits 2 when the backend is postgres and no URL is set', async () => {
    const result = await run(['--json', '--backend', 'postgres', 'config', 'validate']);
    expect(result.code).toBe(2);
    expect((JSON.parse(result.stdout) as { issues: { key: string }[] }).issues.map((i) => i.key)).toEqual([
      'storage.postgres.url',
    ]);
  });

  it('exits 0 when the backend is postgres and DATABASE_URL supplies the URL', async () => {
    const result = await run(['--backend', 'postgres', 'config', 'validate'], {
      DATABASE_URL: 'postgresql://app@db/llmspell',
    });
    expect(result.code).toBe(0);
  });

  it('exits 2 on a TOML syntax error', async () => {
    await writeConfig('[storage]\nbackend = \n');
    const result = await run(['config', 'validate']);
    expect(result.code).toBe(2);
    expect(result.stdout).toContain(`${configPath}:2:`);
  });
});

describe('config path', () => {
  it('prints the file llmspell would use', async () => {
    expect((await run(['config', 'path'])).stdout).toBe(`${configPath}\n`);
    expect((await run(['config', 'path'], { LLMSPELL_CONFIG: join(dir, 'env.toml') })).stdout).toBe(
      `${join(dir, 'env.toml')}\n`,
    );
    expect((await run(['--config', join(dir, 'flag.toml'), 'config', 'path'])).stdout).toBe(
      `${join(dir, 'flag.toml')}\n`,
    );
  });
});

describe('config get --show-secrets', () => {
  const URL = 'postgresql://u:s3cret@h/db';

  it('prints the password of a URL from the environment, and *** without the flag', async () => {
    const env = { LLMSPELL_STORAGE_POSTGRES_URL: URL };
    const shown = await run(['config', 'get', 'storage.postgres.url', '--show-secrets'], env);
    expect(shown).toEqual({ code: 0, stdout: `${URL}\n`, stderr: '' });
    const masked = await run(['config', 'get', 'storage.postgres.url'], env);
    expect(masked.code).toBe(0);
    expect(masked.stdout).toBe('postgresql://u:***@h/db\n');
    expect(masked.stdout + masked.stderr).not.toContain('s3cret');
  });

  it('prints the password of a URL from the config file, and *** without the flag', async () => {
    await writeConfig(`[storage.postgres]\nurl = "${URL}"\n`);
    const shown = await run(['config', 'get', 'storage.postgres.url', '--show-secrets']);
    expect(shown).toEqual({ code: 0, stdout: `${URL}\n`, stderr: '' });
    const masked = await run(['config', 'get', 'storage.postgres.url']);
    expect(masked.stdout).toBe('postgresql://u:***@h/db\n');
  });

  it('--json: the password with the flag, *** without it (environment and file)', async () => {
    for (const source of ['env', 'file'] as const) {
      await rm(join(dir, 'xdg'), { recursive: true, force: true });
      const env: Record<string, string> = source === 'env' ? { LLMSPELL_STORAGE_POSTGRES_URL: URL } : {};
      if (source === 'file') await writeConfig(`[storage.postgres]\nurl = "${URL}"\n`);
      const shown = await run(['--json', 'config', 'get', 'storage.postgres.url', '--show-secrets'], env);
      expect(shown.code, source).toBe(0);
      expect(JSON.parse(shown.stdout).value, source).toBe(URL);
      const masked = await run(['--json', 'config', 'get', 'storage.postgres.url'], env);
      expect(JSON.parse(masked.stdout).value, source).toBe('postgresql://u:***@h/db');
      expect(masked.stdout + masked.stderr, source).not.toContain('s3cret');
    }
  });

  it('a whole table shows the password with the flag, in TOML and JSON', async () => {
    const env = { LLMSPELL_STORAGE_POSTGRES_URL: URL };
    const toml = await run(['config', 'get', 'storage.postgres', '--show-secrets'], env);
    expect(toml.code).toBe(0);
    expect(parse(toml.stdout)).toMatchObject({ storage: { postgres: { url: URL } } });
    const json = await run(['--json', 'config', 'get', '--show-secrets'], env);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ storage: { postgres: { url: URL } } });
  });
});

describe('config validate without a config file', () => {
  it('--json reports file.exists false when an env var is invalid', async () => {
    const result = await run(['--json', 'config', 'validate'], { LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: 'x' });
    expect(result.code).toBe(2);
    const report = JSON.parse(result.stdout) as {
      valid: boolean;
      file: { path: string; exists: boolean };
      issues: { key: string }[];
    };
    expect(report.valid).toBe(false);
    expect(report.file).toEqual({ path: configPath, exists: false });
    expect(report.issues.map((i) => i.key)).toEqual(['storage.postgres.pool_size']);
  });

  it('--json reports file.exists true when the file is there and invalid', async () => {
    await writeConfig('[storage.postgres]\npool_size = 0\n');
    const result = await run(['--json', 'config', 'validate']);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({ valid: false, file: { path: configPath, exists: true } });
  });
});

describe('config get: unset keys say what applies instead', () => {
  it('every unset key of the TOML view carries its fallback; the data directory is the computed one', async () => {
    const result = await run(['config', 'get']);
    expect(result.code).toBe(0);
    const unsetLines = result.stdout.split('\n').filter((line) => /^# \w+ is not set/.test(line));
    expect(unsetLines).toHaveLength(CONFIG_KEYS.filter((spec) => spec.default === undefined).length);
    for (const line of unsetLines) expect(line).toMatch(/\(.+\)/);
    expect(result.stdout).toContain(join(dir, 'home', '.local', 'share', 'llmspell', 'pgdata'));
  });

  it('follows XDG_DATA_HOME', async () => {
    const result = await run(['config', 'get', 'storage.embedded'], { XDG_DATA_HOME: join(dir, 'data') });
    expect(result.stdout).toContain(join(dir, 'data', 'llmspell', 'pgdata'));
  });
});

describe('config get of a value holding DEL', () => {
  it('prints TOML that parses back (DEL escaped)', async () => {
    const pattern = '^[a-z0-9\x7f-]{3,255}$';
    const env = { LLMSPELL_STORAGE_POSTGRES_TENANT_ID_PATTERN: pattern };
    for (const argv of [
      ['config', 'get', 'storage.postgres'],
      ['config', 'get', 'storage.postgres.tenant_id_pattern', '--show-origin'],
    ]) {
      const result = await run(argv, env);
      expect(result.code, argv.join(' ')).toBe(0);
      expect(parse(result.stdout), argv.join(' ')).toMatchObject({
        storage: { postgres: { tenant_id_pattern: pattern } },
      });
    }
  });
});

describe('config set on a file that already has problems', () => {
  it('writes the key, exits 0 and warns about the problems left in other keys', async () => {
    await writeConfig('[storage.postgres]\npool_sise = 3\n');
    const result = await run(['config', 'set', 'storage.postgres.pool_size', '8']);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('storage.postgres.pool_sise');
    expect(parse(await readFile(configPath, 'utf8'))).toEqual({
      storage: { postgres: { pool_sise: 3, pool_size: 8 } },
    });
  });

  it('--json lists them as remainingIssues', async () => {
    await writeConfig('[storage.postgres]\npool_sise = 3\n');
    const result = await run(['--json', 'config', 'set', 'storage.postgres.pool_size', '8']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      changed: true,
      remainingIssues: [
        { key: 'storage.postgres.pool_sise', origin: configPath, suggestion: 'storage.postgres.pool_size' },
      ],
    });
  });

  it('a valid file gives no warning and an empty remainingIssues', async () => {
    const result = await run(['--json', 'config', 'set', 'storage.postgres.pool_size', '8']);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toMatchObject({ remainingIssues: [] });
  });
});

describe('config set of the deprecated sled backend', () => {
  it.each([['storage.backend'], ['storage.memory.backend'], ['storage.state.backend']])(
    '%s sled is written with a warning',
    async (key) => {
      const result = await run(['config', 'set', key, 'sled']);
      expect(result.code).toBe(0);
      expect(result.stderr).toContain(key);
      expect(result.stderr).toContain('embedded');
    },
  );

  it('embedded gives no warning', async () => {
    expect((await run(['config', 'set', 'storage.backend', 'embedded'])).stderr).toBe('');
  });
});

describe('config set keeps the bytes it does not edit', () => {
  it('keeps a UTF-8 byte-order mark', async () => {
    await writeConfig('\uFEFF# mine\n[storage.postgres]\npool_size = 5\n');
    const result = await run(['config', 'set', 'storage.postgres.pool_size', '6']);
    expect(result.code, result.stderr).toBe(0);
    expect(await readFile(configPath, 'utf8')).toBe('\uFEFF# mine\n[storage.postgres]\npool_size = 6\n');
  });
});
