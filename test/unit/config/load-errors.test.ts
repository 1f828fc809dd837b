import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadSettings, validateConfigDocument, type LoadOptions } from '../../../src/config/load.js';
import { ConfigError, type ConfigIssue } from '../../../src/errors.js';

let dir: string;
let configPath: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'llmspell-load-errors-'));
  configPath = join(dir, 'config.toml');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The ConfigError that loadSettings rejects with (fails the test if it resolves or throws anything else). */
async function loadError(options: LoadOptions): Promise<ConfigError> {
  const error: unknown = await loadSettings(options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

/** Issue fields that tests assert: key, where it came from, the suggestion. Never the wording. */
function shape(issue: ConfigIssue) {
  return { key: issue.key, origin: issue.origin, suggestion: issue.suggestion };
}

interface ErrorRow {
  name: string;
  file?: string;
  env?: Record<string, string>;
  issue: { key: string; origin: 'file' | { kind: 'env'; name: string } | { kind: 'default' }; suggestion?: string };
}

const single: ErrorRow[] = [
  {
    name: 'unknown key in the file, with the nearest key suggested',
    file: '[storage.postgres]\npool_sise = 20\n',
    issue: { key: 'storage.postgres.pool_sise', origin: 'file', suggestion: 'storage.postgres.pool_size' },
  },
  {
    name: 'unknown key in a misplaced table, suggested by its last segment',
    file: '[storage]\npool_size = 20\n',
    issue: { key: 'storage.pool_size', origin: 'file', suggestion: 'storage.postgres.pool_size' },
  },
  {
    name: 'a scalar where the storage table is expected',
    file: 'storage = 3\n',
    issue: { key: 'storage', origin: 'file' },
  },
  {
    name: 'a string where the storage.postgres table is expected',
    file: '[storage]\npostgres = "postgresql://h/db"\n',
    issue: { key: 'storage.postgres', origin: 'file' },
  },
  {
    name: 'an array where a table is expected',
    file: '[storage]\npostgres = [1]\n',
    issue: { key: 'storage.postgres', origin: 'file' },
  },
  {
    name: 'a string where an integer is expected (pool_size = "20")',
    file: '[storage.postgres]\npool_size = "20"\n',
    issue: { key: 'storage.postgres.pool_size', origin: 'file' },
  },
  {
    name: 'a float where an integer is expected',
    file: '[storage.postgres]\npool_size = 2.5\n',
    issue: { key: 'storage.postgres.pool_size', origin: 'file' },
  },
  {
    name: 'a string where a boolean is expected',
    file: '[storage.postgres]\nauto_migrate = "yes"\n',
    issue: { key: 'storage.postgres.auto_migrate', origin: 'file' },
  },
  {
    name: 'below the minimum',
    file: '[storage.postgres]\npool_size = 0\n',
    issue: { key: 'storage.postgres.pool_size', origin: 'file' },
  },
  {
    name: 'above the maximum',
    file: '[storage.postgres.vector_embeddings]\nhnsw_m = 101\nhnsw_ef_construction = 1000\n',
    issue: { key: 'storage.postgres.vector_embeddings.hnsw_m', origin: 'file' },
  },
  {
    name: 'a value outside an enum',
    file: '[storage.postgres.event_log]\npartition_strategy = "hourly"\n',
    issue: { key: 'storage.postgres.event_log.partition_strategy', origin: 'file' },
  },
  {
    name: 'an unknown backend',
    file: '[storage]\nbackend = "sqlite"\n',
    issue: { key: 'storage.backend', origin: 'file' },
  },
  {
    name: 'an env var of the wrong type',
    env: { LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: 'many' },
    issue: { key: 'storage.postgres.pool_size', origin: { kind: 'env', name: 'LLMSPELL_STORAGE_POSTGRES_POOL_SIZE' } },
  },
  {
    name: 'an env var out of range',
    env: { LLMSPELL_STORAGE_POSTGRES_POOL_TIMEOUT_SECS: '0' },
    issue: {
      key: 'storage.postgres.pool_timeout_secs',
      origin: { kind: 'env', name: 'LLMSPELL_STORAGE_POSTGRES_POOL_TIMEOUT_SECS' },
    },
  },
  {
    name: 'a boolean env var that is not a boolean word',
    env: { LLMSPELL_STORAGE_POSTGRES_AUTO_MIGRATE: 'maybe' },
    issue: {
      key: 'storage.postgres.auto_migrate',
      origin: { kind: 'env', name: 'LLMSPELL_STORAGE_POSTGRES_AUTO_MIGRATE' },
    },
  },
  {
    name: 'an unknown LLMSPELL_STORAGE_* env var, with the nearest variable suggested',
    env: { LLMSPELL_STORAGE_POSTGRES_POOL_SISE: '20' },
    issue: {
      key: 'LLMSPELL_STORAGE_POSTGRES_POOL_SISE',
      origin: { kind: 'env', name: 'LLMSPELL_STORAGE_POSTGRES_POOL_SISE' },
      suggestion: 'LLMSPELL_STORAGE_POSTGRES_POOL_SIZE',
    },
  },
  {
    name: 'a tenant_id_pattern that is not a regular expression',
    file: '[storage.postgres]\ntenant_id_pattern = "[a-"\n',
    issue: { key: 'storage.postgres.tenant_id_pattern', origin: 'file' },
  },
  {
    name: 'a default_tenant_id that does not match the pattern',
    file: '[storage.postgres]\ndefault_tenant_id = "AB"\n',
    issue: { key: 'storage.postgres.default_tenant_id', origin: 'file' },
  },
  {
    name: 'a default_tenant_id that does not match a pattern set in the environment',
    env: { LLMSPELL_STORAGE_POSTGRES_TENANT_ID_PATTERN: '^[0-9]+$' },
    issue: { key: 'storage.postgres.default_tenant_id', origin: { kind: 'default' } },
  },
  {
    name: 'hnsw_ef_construction below 2 × hnsw_m',
    file: '[storage.postgres.vector_embeddings]\nhnsw_m = 16\nhnsw_ef_construction = 31\n',
    issue: { key: 'storage.postgres.vector_embeddings.hnsw_ef_construction', origin: 'file' },
  },
];

describe('loadSettings errors', () => {
  it.each(single)('CONFIG_INVALID: $name', async (row) => {
    if (row.file !== undefined) await writeFile(configPath, row.file);
    const error = await loadError({
      env: { HOME: dir, ...row.env },
      ...(row.file !== undefined ? { configPath } : {}),
    });
    expect(error.code).toBe('CONFIG_INVALID');
    const origin = row.issue.origin === 'file' ? { kind: 'file', path: configPath } : row.issue.origin;
    expect(error.issues.map(shape)).toEqual([{ key: row.issue.key, origin, suggestion: row.issue.suggestion }]);
  });

  it('hnsw_ef_construction exactly 2 × hnsw_m is accepted', async () => {
    await writeFile(configPath, '[storage.postgres.vector_embeddings]\nhnsw_m = 16\nhnsw_ef_construction = 32\n');
    const resolved = await loadSettings({ env: { HOME: dir }, configPath });
    expect(resolved.settings.storage.postgres.vector_embeddings.hnsw_ef_construction).toBe(32);
  });

  it('a raised hnsw_m against the default hnsw_ef_construction is refused at hnsw_ef_construction', async () => {
    await writeFile(configPath, '[storage.postgres.vector_embeddings]\nhnsw_m = 100\n');
    const error = await loadError({ env: { HOME: dir }, configPath });
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues.map((i) => i.key)).toEqual(['storage.postgres.vector_embeddings.hnsw_ef_construction']);
  });

  it('CONFIG_SYNTAX: a TOML syntax error names the file, line and column', async () => {
    await writeFile(configPath, '[storage]\nbackend = "memory"\npool_size = = 3\n');
    const error = await loadError({ env: { HOME: dir }, configPath });
    expect(error.code).toBe('CONFIG_SYNTAX');
    expect(error.message).toContain(`${configPath}:3:13`);
    expect(error.hint).toBeDefined();
  });

  it('CONFIG_SYNTAX: a key defined twice', async () => {
    await writeFile(configPath, '[storage]\nbackend = "memory"\nbackend = "postgres"\n');
    const error = await loadError({ env: { HOME: dir }, configPath });
    expect(error.code).toBe('CONFIG_SYNTAX');
    expect(error.message).toContain(`${configPath}:3:`);
  });

  it('reports every problem of file, environment and schema together in one error', async () => {
    await writeFile(
      configPath,
      [
        '[storage.postgres]',
        'pool_size = 0',
        'pool_sise = 3',
        '[storage.postgres.event_log]',
        'partition_strategy = "hourly"',
        '',
      ].join('\n'),
    );
    const error = await loadError({
      env: { HOME: dir, LLMSPELL_STORAGE_POSTGRES_AUTO_MIGRATE: 'maybe', LLMSPELL_STORAGE_BAKEND: 'memory' },
      configPath,
      overrides: [
        { key: 'storage.postgres.idle_timeout_secs', value: 'soon', flag: '--set storage.postgres.idle_timeout_secs' },
      ],
    });
    expect(error.code).toBe('CONFIG_INVALID');
    const file = { kind: 'file', path: configPath };
    expect(error.issues.map((i) => ({ key: i.key, origin: i.origin }))).toEqual(
      expect.arrayContaining([
        { key: 'storage.postgres.pool_size', origin: file },
        { key: 'storage.postgres.pool_sise', origin: file },
        { key: 'storage.postgres.event_log.partition_strategy', origin: file },
        {
          key: 'storage.postgres.auto_migrate',
          origin: { kind: 'env', name: 'LLMSPELL_STORAGE_POSTGRES_AUTO_MIGRATE' },
        },
        { key: 'LLMSPELL_STORAGE_BAKEND', origin: { kind: 'env', name: 'LLMSPELL_STORAGE_BAKEND' } },
        {
          key: 'storage.postgres.idle_timeout_secs',
          origin: { kind: 'flag', name: '--set storage.postgres.idle_timeout_secs' },
        },
      ]),
    );
    expect(error.issues).toHaveLength(6);
    // The message lists each of them, so a user sees every problem in one run.
    for (const issue of error.issues) expect(error.message).toContain(issue.key);
  });

  it('reports range problems and cross-key problems together', async () => {
    await writeFile(
      configPath,
      '[storage.postgres]\npool_size = 0\ndefault_tenant_id = "AB"\n[storage.postgres.vector_embeddings]\nhnsw_m = 100\n',
    );
    const error = await loadError({ env: { HOME: dir }, configPath });
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues.map((i) => i.key).sort()).toEqual([
      'storage.postgres.default_tenant_id',
      'storage.postgres.pool_size',
      'storage.postgres.vector_embeddings.hnsw_ef_construction',
    ]);
  });

  it('a flag naming an unknown key is an issue from that flag, with a suggestion', async () => {
    const error = await loadError({
      env: { HOME: dir },
      overrides: [{ key: 'storage.postgres.pool_sise', value: '3', flag: '--set storage.postgres.pool_sise' }],
    });
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues.map(shape)).toEqual([
      {
        key: 'storage.postgres.pool_sise',
        origin: { kind: 'flag', name: '--set storage.postgres.pool_sise' },
        suggestion: 'storage.postgres.pool_size',
      },
    ]);
  });

  it('a flag naming a table is an issue, without a suggestion', async () => {
    const error = await loadError({
      env: { HOME: dir },
      overrides: [{ key: 'storage.postgres', value: '3', flag: '--set storage.postgres' }],
    });
    expect(error.issues.map(shape)).toEqual([
      { key: 'storage.postgres', origin: { kind: 'flag', name: '--set storage.postgres' }, suggestion: undefined },
    ]);
  });

  it('toJSON names the code and each issue with its origin, and never the stack', async () => {
    await writeFile(configPath, '[storage.postgres]\npool_size = 0\n');
    const error = await loadError({ env: { HOME: dir }, configPath });
    const json = JSON.parse(JSON.stringify(error)) as {
      code: string;
      stack?: unknown;
      issues: { key: string; origin: string }[];
    };
    expect(json.code).toBe('CONFIG_INVALID');
    expect(json.stack).toBeUndefined();
    expect(json.issues).toEqual([expect.objectContaining({ key: 'storage.postgres.pool_size', origin: configPath })]);
  });
});

describe('the config file itself', () => {
  it('CONFIG_NOT_FOUND when --config names a file that does not exist', async () => {
    const error = await loadError({ env: { HOME: dir }, configPath: join(dir, 'missing.toml') });
    expect(error.code).toBe('CONFIG_NOT_FOUND');
    expect(error.message).toContain(join(dir, 'missing.toml'));
  });

  it('CONFIG_NOT_FOUND when LLMSPELL_CONFIG names a file that does not exist', async () => {
    const error = await loadError({ env: { HOME: dir, LLMSPELL_CONFIG: join(dir, 'missing.toml') } });
    expect(error.code).toBe('CONFIG_NOT_FOUND');
  });

  it('a missing explicit file is accepted with allowMissingFile (config set creates it)', async () => {
    const resolved = await loadSettings({
      env: { HOME: dir },
      configPath: join(dir, 'missing.toml'),
      allowMissingFile: true,
    });
    expect(resolved.file.exists).toBe(false);
    expect(resolved.settings.storage.postgres.pool_size).toBe(16);
  });

  it.each([
    ['$XDG_CONFIG_HOME', (home: string) => ({ HOME: home, XDG_CONFIG_HOME: join(home, 'xdg') })],
    ['$HOME/.config', (home: string) => ({ HOME: home })],
  ])('a missing default file at %s means defaults, not an error', async (_name, makeEnv) => {
    const resolved = await loadSettings({ env: makeEnv(dir) });
    expect(resolved.file.exists).toBe(false);
    expect(resolved.file.explicit).toBe(false);
    expect(resolved.settings.storage.postgres.pool_size).toBe(16);
  });

  it('a config path that is a directory is CONFIG_INVALID, not "missing"', async () => {
    const error = await loadError({ env: { HOME: dir }, configPath: dir });
    expect(error.code).toBe('CONFIG_INVALID');
  });

  it('a default config location that is a directory is an error too', async () => {
    await mkdir(join(dir, 'xdg', 'llmspell', 'config.toml'), { recursive: true });
    const error = await loadError({ env: { HOME: dir, XDG_CONFIG_HOME: join(dir, 'xdg') } });
    expect(error.code).toBe('CONFIG_INVALID');
  });
});

describe('validateConfigDocument', () => {
  it('accepts a valid document and ignores the environment', () => {
    expect(() => validateConfigDocument({ storage: { postgres: { pool_size: 4 } } }, configPath)).not.toThrow();
  });

  it('rejects an invalid document with issues from the file', () => {
    let caught: unknown;
    try {
      validateConfigDocument({ storage: { postgres: { pool_size: 0, pool_sise: 1 } } }, configPath);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as ConfigError;
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues.map((i) => i.key).sort()).toEqual(['storage.postgres.pool_sise', 'storage.postgres.pool_size']);
    expect(error.issues.every((i) => i.origin?.kind === 'file')).toBe(true);
  });
});

describe('every problem at once', () => {
  /** Each key+message pair, to prove none is reported twice. */
  const pairs = (issues: readonly ConfigIssue[]) => issues.map((i) => `${i.key}\0${i.message}`);

  it('a bad enum value does not hide a cross-key problem (default_tenant_id against the pattern)', async () => {
    await writeFile(
      configPath,
      '[storage.postgres]\ndefault_tenant_id = "AB"\n[storage.postgres.event_log]\npartition_strategy = "hourly"\n',
    );
    const error = await loadError({ env: { HOME: dir }, configPath });
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues.map((i) => i.key).sort()).toEqual([
      'storage.postgres.default_tenant_id',
      'storage.postgres.event_log.partition_strategy',
    ]);
    expect(new Set(pairs(error.issues)).size).toBe(error.issues.length);
    for (const issue of error.issues) expect(issue.origin).toEqual({ kind: 'file', path: configPath });
  });

  it('a range problem and a cross-key problem are each reported exactly once', async () => {
    await writeFile(
      configPath,
      '[storage.postgres]\npool_size = 0\n[storage.postgres.vector_embeddings]\nhnsw_m = 100\n',
    );
    const error = await loadError({ env: { HOME: dir }, configPath });
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues.map((i) => i.key).sort()).toEqual([
      'storage.postgres.pool_size',
      'storage.postgres.vector_embeddings.hnsw_ef_construction',
    ]);
    expect(new Set(pairs(error.issues)).size).toBe(error.issues.length);
  });

  it('a wrong type in the file does not hide a cross-key problem (hnsw_ef_construction below 2 × hnsw_m)', async () => {
    await writeFile(
      configPath,
      '[storage.postgres]\npool_size = "x"\n[storage.postgres.vector_embeddings]\nhnsw_m = 100\n',
    );
    const error = await loadError({ env: { HOME: dir }, configPath });
    expect(error.issues.map((i) => i.key).sort()).toEqual([
      'storage.postgres.pool_size',
      'storage.postgres.vector_embeddings.hnsw_ef_construction',
    ]);
    expect(new Set(pairs(error.issues)).size).toBe(error.issues.length);
  });

  it('validateConfigDocument (what config set checks) reports both as well, once each', () => {
    let caught: unknown;
    try {
      validateConfigDocument(
        { storage: { postgres: { default_tenant_id: 'AB', event_log: { partition_strategy: 'hourly' } } } },
        configPath,
      );
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as ConfigError;
    expect(error.issues.map((i) => i.key).sort()).toEqual([
      'storage.postgres.default_tenant_id',
      'storage.postgres.event_log.partition_strategy',
    ]);
    expect(new Set(pairs(error.issues)).size).toBe(error.issues.length);
  });
});

describe('values echoed in errors never show a password', () => {
  const URL = 'postgresql://u:hunter2@h/db';
  const rows: [string, { file?: string; env?: Record<string, string>; overrides?: LoadOptions['overrides'] }][] = [
    ['a URL where the file expects an integer', { file: `[storage.postgres]\npool_size = "${URL}"\n` }],
    ['a URL where the file expects a table', { file: `[storage]\npostgres = "${URL}"\n` }],
    ['a URL where an env var expects an integer', { env: { LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: URL } }],
    [
      'a URL where a flag expects an integer',
      { overrides: [{ key: 'storage.postgres.pool_size', value: URL, flag: '--set storage.postgres.pool_size' }] },
    ],
    [
      'a URL whose password holds a space',
      { env: { LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: 'postgresql://u:hunter2 x@h/db' } },
    ],
    ['a URL as the default tenant, against the pattern', { env: { LLMSPELL_STORAGE_POSTGRES_DEFAULT_TENANT_ID: URL } }],
  ];

  it.each(rows)('%s', async (_name, row) => {
    if (row.file !== undefined) await writeFile(configPath, row.file);
    const error = await loadError({
      env: { HOME: dir, ...row.env },
      configPath,
      allowMissingFile: true,
      ...(row.overrides ? { overrides: row.overrides } : {}),
    });
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues).toHaveLength(1);
    expect(`${error.message}\n${JSON.stringify(error.toJSON())}`).not.toContain('hunter2');
  });

  it('a TOML syntax error next to a URL', async () => {
    await writeFile(configPath, `[storage.postgres]\nurl = "${URL}"\npool_size = = 3\n`);
    const error = await loadError({ env: { HOME: dir }, configPath });
    expect(error.code).toBe('CONFIG_SYNTAX');
    expect(JSON.stringify(error.toJSON())).not.toContain('hunter2');
  });
});

describe('timeouts beyond what a timer holds', () => {
  it('2147484 seconds (more than 2^31 − 1 ms) is refused, 2147483 accepted', async () => {
    const refused = await loadError({
      env: { HOME: dir, LLMSPELL_STORAGE_POSTGRES_MIGRATION_TIMEOUT_SECS: '2147484' },
    });
    expect(refused.issues.map((i) => i.key)).toEqual(['storage.postgres.migration_timeout_secs']);
    await writeFile(configPath, '[storage.postgres]\npool_timeout_secs = 2592000\n');
    expect((await loadError({ env: { HOME: dir }, configPath })).issues.map((i) => i.key)).toEqual([
      'storage.postgres.pool_timeout_secs',
    ]);
    const { settings } = await loadSettings({
      env: { HOME: dir, LLMSPELL_STORAGE_POSTGRES_MIGRATION_TIMEOUT_SECS: '2147483' },
    });
    expect(settings.storage.postgres.migration_timeout_secs).toBe(2_147_483);
  });
});
