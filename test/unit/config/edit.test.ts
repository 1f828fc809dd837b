import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setConfigValue, unsetConfigValue, type EditOptions } from '../../../src/config/edit.js';
import { loadSettings } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/errors.js';

let dir: string;
let configPath: string;
let options: EditOptions;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'llmspell-edit-'));
  configPath = join(dir, 'config.toml');
  options = { env: { HOME: dir }, configPath };
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const COMMENTED = `# llmspell configuration
# (hand-written; keep these notes)

[storage]
backend = "postgres" # switched from embedded in March

# Connection to the shared server.
[storage.postgres]
url = "postgresql://app@db/llmspell"
pool_size = 10   # sized for two workers

# leave the defaults for timeouts

auto_migrate = false

[storage.postgres.vector_embeddings]
hnsw_m = 16
hnsw_ef_construction = 128
`;

/** The ConfigError an edit rejects with. */
async function editError(edit: Promise<unknown>): Promise<ConfigError> {
  const error: unknown = await edit.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

/** Bytes, mtime and inode of a file, to prove it was not touched. */
async function snapshot(path: string) {
  const info = await stat(path);
  return { bytes: await readFile(path), mtimeMs: info.mtimeMs, ino: info.ino, mode: info.mode };
}

/** Writes a file and backdates it, so that any rewrite (even within the same millisecond) shows in mtime. */
async function writeOld(path: string, text: string): Promise<void> {
  await writeFile(path, text);
  const past = new Date('2001-02-03T04:05:06Z');
  await utimes(path, past, past);
}

describe('setConfigValue keeps the layout', () => {
  it('changes only the value: comments (own-line and trailing), key order and blank lines are kept', async () => {
    await writeFile(configPath, COMMENTED);
    const result = await setConfigValue('storage.postgres.pool_size', '25', options);
    expect(result).toMatchObject({
      path: configPath,
      key: 'storage.postgres.pool_size',
      value: 25,
      previous: 10,
      changed: true,
      created: false,
    });
    expect(await readFile(configPath, 'utf8')).toBe(COMMENTED.replace('pool_size = 10 ', 'pool_size = 25 '));
  });

  it('keeps the trailing comment of the changed key', async () => {
    await writeFile(configPath, COMMENTED);
    await setConfigValue('storage.backend', 'memory', options);
    const text = await readFile(configPath, 'utf8');
    expect(text).toContain('backend = "memory" # switched from embedded in March');
    expect(text.replace('"memory"', '"postgres"')).toBe(COMMENTED);
  });

  it('adds a new key without disturbing the rest', async () => {
    await writeFile(configPath, COMMENTED);
    await setConfigValue('storage.postgres.event_log.retention_days', '30', options);
    const text = await readFile(configPath, 'utf8');
    expect(text.startsWith(COMMENTED)).toBe(true);
    expect(parse(text)).toMatchObject({ storage: { postgres: { event_log: { retention_days: 30 }, pool_size: 10 } } });
  });

  it('works with dotted keys at the top level', async () => {
    await writeFile(configPath, 'storage.backend = "memory" # dotted\n');
    await setConfigValue('storage.backend', 'postgres', options);
    expect(await readFile(configPath, 'utf8')).toBe('storage.backend = "postgres" # dotted\n');
  });
});

describe('setConfigValue parses the value for the key type', () => {
  it.each([
    ['storage.postgres.pool_size', '25', 25],
    ['storage.postgres.pool_size', ' 25 ', 25],
    ['storage.postgres.auto_migrate', 'true', true],
    ['storage.postgres.enforce_tenant_isolation', 'off', false],
    ['storage.postgres.event_log.partition_strategy', 'weekly', 'weekly'],
    [
      'storage.postgres.url',
      'postgresql://app:pw@db:5432/llmspell?sslmode=require',
      'postgresql://app:pw@db:5432/llmspell?sslmode=require',
    ],
    ['storage.postgres.default_tenant_id', '123', '123'],
  ])('%s %j is written as %j', async (key, text, value) => {
    const result = await setConfigValue(key, text, options);
    expect(result.value).toEqual(value);
    const path = key.split('.');
    let node: unknown = parse(await readFile(configPath, 'utf8'));
    for (const part of path) node = (node as Record<string, unknown>)[part];
    expect(node).toEqual(value);
    // and the file loads back with that value
    const resolved = await loadSettings(options);
    expect(resolved.origins.get(key)).toEqual({ kind: 'file', path: configPath });
  });

  it('marks a secret key as secret', async () => {
    expect((await setConfigValue('storage.postgres.url', 'postgresql://h/db', options)).secret).toBe(true);
    expect((await setConfigValue('storage.postgres.pool_size', '3', options)).secret).toBe(false);
  });
});

describe('setConfigValue creates files', () => {
  it('creates a missing file and its directories, mode 0600', async () => {
    const nested = join(dir, 'a', 'b', 'llmspell', 'config.toml');
    const result = await setConfigValue('storage.backend', 'memory', { env: { HOME: dir }, configPath: nested });
    expect(result).toMatchObject({ path: nested, changed: true, created: true, previous: undefined });
    expect((await stat(nested)).mode & 0o777).toBe(0o600);
    expect(parse(await readFile(nested, 'utf8'))).toEqual({ storage: { backend: 'memory' } });
  });

  it('writes to $XDG_CONFIG_HOME/llmspell/config.toml when no file is named', async () => {
    const env = { HOME: dir, XDG_CONFIG_HOME: join(dir, 'xdg') };
    const result = await setConfigValue('storage.postgres.pool_size', '9', { env });
    expect(result.path).toBe(join(dir, 'xdg', 'llmspell', 'config.toml'));
    expect((await loadSettings({ env })).settings.storage.postgres.pool_size).toBe(9);
  });

  it('creates the file LLMSPELL_CONFIG names even though loading would call it missing', async () => {
    const path = join(dir, 'named.toml');
    const result = await setConfigValue('storage.backend', 'memory', { env: { HOME: dir, LLMSPELL_CONFIG: path } });
    expect(result).toMatchObject({ path, created: true });
  });

  it("keeps an existing file's mode", async () => {
    await writeFile(configPath, '[storage]\nbackend = "memory"\n');
    await chmod(configPath, 0o640);
    await setConfigValue('storage.backend', 'postgres', options);
    expect((await stat(configPath)).mode & 0o777).toBe(0o640);
  });
});

describe('setConfigValue writes atomically', () => {
  it('replaces the file by rename (new inode) and leaves no temporary file', async () => {
    await writeOld(configPath, COMMENTED);
    const before = await snapshot(configPath);
    await setConfigValue('storage.postgres.pool_size', '25', options);
    const after = await snapshot(configPath);
    expect(after.ino).not.toBe(before.ino);
    expect(after.mtimeMs).not.toBe(before.mtimeMs);
    expect(await readdir(dir)).toEqual(['config.toml']);
  });

  it('does not rewrite the file when the value is already set', async () => {
    await writeOld(configPath, COMMENTED);
    const before = await snapshot(configPath);
    const result = await setConfigValue('storage.postgres.pool_size', '10', options);
    expect(result).toMatchObject({ changed: false, value: 10, previous: 10 });
    expect(await snapshot(configPath)).toEqual(before);
  });

  it('CONFIG_WRITE_FAILED when the write itself fails; the file is unchanged and no temporary file is left', async () => {
    // A 250-byte name is readable, but the temporary file beside it (name + "." + hash) exceeds NAME_MAX.
    const longPath = join(dir, 'c'.repeat(250));
    await writeOld(longPath, COMMENTED);
    const before = await snapshot(longPath);
    const error = await editError(
      setConfigValue('storage.postgres.pool_size', '25', { env: { HOME: dir }, configPath: longPath }),
    );
    expect(error.code).toBe('CONFIG_WRITE_FAILED');
    expect(await snapshot(longPath)).toEqual(before);
    expect(await readdir(dir)).toEqual(['c'.repeat(250)]);
  });
});

describe('setConfigValue leaves the file byte-for-byte unchanged on error', () => {
  const rows: {
    name: string;
    file: string;
    key: string;
    value: string;
    code: string;
    issueKey?: string;
    suggestion?: string;
  }[] = [
    {
      name: 'unknown key',
      file: COMMENTED,
      key: 'storage.postgres.pool_sise',
      value: '3',
      code: 'CONFIG_INVALID',
      issueKey: 'storage.postgres.pool_sise',
      suggestion: 'storage.postgres.pool_size',
    },
    { name: 'a table, not a key', file: COMMENTED, key: 'storage.postgres', value: '3', code: 'USAGE' },
    {
      name: 'wrong type',
      file: COMMENTED,
      key: 'storage.postgres.pool_size',
      value: 'twenty',
      code: 'CONFIG_INVALID',
      issueKey: 'storage.postgres.pool_size',
    },
    {
      name: 'a float for an integer',
      file: COMMENTED,
      key: 'storage.postgres.pool_size',
      value: '2.5',
      code: 'CONFIG_INVALID',
      issueKey: 'storage.postgres.pool_size',
    },
    {
      name: 'a word that is not a boolean',
      file: COMMENTED,
      key: 'storage.postgres.auto_migrate',
      value: 'maybe',
      code: 'CONFIG_INVALID',
      issueKey: 'storage.postgres.auto_migrate',
    },
    {
      name: 'out of range',
      file: COMMENTED,
      key: 'storage.postgres.pool_size',
      value: '0',
      code: 'CONFIG_INVALID',
      issueKey: 'storage.postgres.pool_size',
    },
    {
      name: 'not one of the enum values',
      file: COMMENTED,
      key: 'storage.postgres.event_log.partition_strategy',
      value: 'hourly',
      code: 'CONFIG_INVALID',
      issueKey: 'storage.postgres.event_log.partition_strategy',
    },
    {
      name: 'the file has a syntax error',
      file: '# notes\n[storage\nbackend = "memory"\n',
      key: 'storage.backend',
      value: 'postgres',
      code: 'CONFIG_SYNTAX',
    },
    {
      name: 'the result fails whole-document validation (hnsw_m 100 against hnsw_ef_construction 128)',
      file: COMMENTED,
      key: 'storage.postgres.vector_embeddings.hnsw_m',
      value: '100',
      code: 'CONFIG_INVALID',
      issueKey: 'storage.postgres.vector_embeddings.hnsw_ef_construction',
    },
    {
      name: 'the result fails whole-document validation (default_tenant_id against the pattern)',
      file: COMMENTED,
      key: 'storage.postgres.default_tenant_id',
      value: 'Not Valid',
      code: 'CONFIG_INVALID',
      issueKey: 'storage.postgres.default_tenant_id',
    },
    {
      name: 'the file holds a scalar where a table belongs',
      file: 'storage = 1\n',
      key: 'storage.backend',
      value: 'memory',
      code: 'CONFIG_INVALID',
    },
  ];

  it.each(rows)('$name → $code', async (row) => {
    await writeOld(configPath, row.file);
    const before = await snapshot(configPath);
    const error = await editError(setConfigValue(row.key, row.value, options));
    expect(error.code).toBe(row.code);
    if (row.issueKey) expect(error.issues.map((i) => i.key)).toContain(row.issueKey);
    if (row.suggestion) expect(error.issues[0]?.suggestion).toBe(row.suggestion);
    expect(await snapshot(configPath)).toEqual(before);
    expect(await readdir(dir)).toEqual(['config.toml']);
  });

  it('does not create a missing file when the value is refused', async () => {
    const error = await editError(setConfigValue('storage.postgres.pool_size', '0', options));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a config path that is a directory', async () => {
    const error = await editError(setConfigValue('storage.backend', 'memory', { env: { HOME: dir }, configPath: dir }));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('overriddenBy', () => {
  it('names the env var that overrides the key, and still writes the file', async () => {
    const result = await setConfigValue('storage.postgres.pool_size', '25', {
      env: { HOME: dir, LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: '3' },
      configPath,
    });
    expect(result.overriddenBy).toBe('LLMSPELL_STORAGE_POSTGRES_POOL_SIZE');
    expect(result.changed).toBe(true);
    expect(parse(await readFile(configPath, 'utf8'))).toEqual({ storage: { postgres: { pool_size: 25 } } });
  });

  it('is absent when no env var overrides the key', async () => {
    const result = await setConfigValue('storage.postgres.pool_size', '25', {
      env: { HOME: dir, LLMSPELL_STORAGE_POSTGRES_IDLE_TIMEOUT_SECS: '3' },
      configPath,
    });
    expect(result.overriddenBy).toBeUndefined();
  });
});

describe('unsetConfigValue', () => {
  it('removes the key and keeps the rest of the file, comments included', async () => {
    await writeFile(configPath, COMMENTED);
    const result = await unsetConfigValue('storage.postgres.url', options);
    expect(result).toMatchObject({
      key: 'storage.postgres.url',
      value: undefined,
      previous: 'postgresql://app@db/llmspell',
      changed: true,
      created: false,
    });
    expect(await readFile(configPath, 'utf8')).toBe(COMMENTED.replace('url = "postgresql://app@db/llmspell"\n', ''));
    expect((await loadSettings(options)).origins.get('storage.postgres.url')).toEqual({ kind: 'default' });
  });

  it('is a no-op (changed: false) for a key the file does not hold, and leaves the file alone', async () => {
    await writeOld(configPath, COMMENTED);
    const before = await snapshot(configPath);
    const result = await unsetConfigValue('storage.postgres.idle_timeout_secs', options);
    expect(result).toMatchObject({ changed: false, created: false, previous: undefined });
    expect(await snapshot(configPath)).toEqual(before);
  });

  it('does not create a missing file', async () => {
    const result = await unsetConfigValue('storage.backend', options);
    expect(result).toMatchObject({ changed: false, created: false });
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses an unknown key with a suggestion, file unchanged', async () => {
    await writeOld(configPath, COMMENTED);
    const before = await snapshot(configPath);
    const error = await editError(unsetConfigValue('storage.bakend', options));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues[0]?.suggestion).toBe('storage.backend');
    expect(await snapshot(configPath)).toEqual(before);
  });

  it('refuses to leave an invalid document (unsetting hnsw_ef_construction below 2 × hnsw_m), file unchanged', async () => {
    const text = '[storage.postgres.vector_embeddings]\nhnsw_m = 80\nhnsw_ef_construction = 200\n';
    await writeOld(configPath, text);
    const before = await snapshot(configPath);
    const error = await editError(unsetConfigValue('storage.postgres.vector_embeddings.hnsw_ef_construction', options));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(await snapshot(configPath)).toEqual(before);
  });

  it('replaces the file by rename and leaves no temporary file', async () => {
    await writeOld(configPath, COMMENTED);
    const before = await snapshot(configPath);
    await unsetConfigValue('storage.backend', options);
    expect((await snapshot(configPath)).ino).not.toBe(before.ino);
    expect(await readdir(dir)).toEqual(['config.toml']);
  });
});

describe('edits in a nested directory', () => {
  it('leaves only the config file in its directory after several edits', async () => {
    const nested = join(dir, 'conf');
    await mkdir(nested);
    const path = join(nested, 'config.toml');
    const opts = { env: { HOME: dir }, configPath: path };
    await setConfigValue('storage.backend', 'postgres', opts);
    await setConfigValue('storage.postgres.pool_size', '4', opts);
    await editError(setConfigValue('storage.postgres.pool_size', '-4', opts));
    await unsetConfigValue('storage.backend', opts);
    expect(await readdir(nested)).toEqual(['config.toml']);
    expect(parse(await readFile(path, 'utf8'))).toEqual({ storage: { postgres: { pool_size: 4 } } });
  });
});

describe('problems the file already had', () => {
  /** Two problems in different keys: an unknown key and a value out of range. */
  const BROKEN = '[storage.postgres]\npool_sise = 3\nidle_timeout_secs = 0\n';

  it('do not block an edit of another key, and are returned as remainingIssues', async () => {
    await writeFile(configPath, BROKEN);
    const result = await setConfigValue('storage.postgres.pool_size', '8', options);
    expect(result.changed).toBe(true);
    expect(result.remainingIssues.map((i) => i.key).sort()).toEqual([
      'storage.postgres.idle_timeout_secs',
      'storage.postgres.pool_sise',
    ]);
    expect(parse(await readFile(configPath, 'utf8'))).toMatchObject({ storage: { postgres: { pool_size: 8 } } });
  });

  it('can be fixed one edit at a time', async () => {
    await writeFile(configPath, BROKEN);
    const fixed = await setConfigValue('storage.postgres.idle_timeout_secs', '60', options);
    expect(fixed.remainingIssues.map((i) => i.key)).toEqual(['storage.postgres.pool_sise']);
    const unset = await unsetConfigValue('storage.postgres.pool_size', options);
    expect(unset).toMatchObject({ changed: false });
    expect(unset.remainingIssues.map((i) => i.key)).toEqual(['storage.postgres.pool_sise']);
  });

  it('a problem the edit introduces is still refused, naming only that problem, file unchanged', async () => {
    await writeOld(configPath, BROKEN);
    const before = await snapshot(configPath);
    const error = await editError(setConfigValue('storage.postgres.vector_embeddings.hnsw_m', '100', options));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues.map((i) => i.key)).toEqual(['storage.postgres.vector_embeddings.hnsw_ef_construction']);
    expect(await snapshot(configPath)).toEqual(before);
  });

  it('changing a bad value to another bad value is refused', async () => {
    await writeOld(configPath, '[storage.postgres.vector_embeddings]\nhnsw_m = 100\nhnsw_ef_construction = 128\n');
    const before = await snapshot(configPath);
    const error = await editError(
      setConfigValue('storage.postgres.vector_embeddings.hnsw_ef_construction', '150', options),
    );
    expect(error.issues.map((i) => i.key)).toEqual(['storage.postgres.vector_embeddings.hnsw_ef_construction']);
    expect(await snapshot(configPath)).toEqual(before);
    const fixed = await setConfigValue('storage.postgres.vector_embeddings.hnsw_ef_construction', '200', options);
    expect(fixed.remainingIssues).toEqual([]);
  });

  it('a valid file leaves no remainingIssues', async () => {
    const result = await setConfigValue('storage.postgres.pool_size', '8', options);
    expect(result.remainingIssues).toEqual([]);
  });
});

describe('the deprecated sled backend', () => {
  it.each([['storage.backend'], ['storage.memory.backend'], ['storage.state.backend']])(
    'setting %s to sled warns, and writes it',
    async (key) => {
      const result = await setConfigValue(key, 'sled', options);
      expect(result.warnings).toHaveLength(1);
      expect(result.warnings[0]).toContain(key);
      expect(result.changed).toBe(true);
    },
  );

  it('other backends and other keys do not warn', async () => {
    expect((await setConfigValue('storage.backend', 'embedded', options)).warnings).toEqual([]);
    expect((await setConfigValue('storage.postgres.default_tenant_id', 'sled', options)).warnings).toEqual([]);
  });
});
