import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { setConfigValue, unsetConfigValue, type EditOptions } from '../../../src/config/edit.js';
import { loadSettings } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/errors.js';

let dir: string;
let configPath: string;
let options: EditOptions;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'llmspell-edit-layouts-'));
  configPath = join(dir, 'config.toml');
  options = { env: { HOME: dir }, configPath };
});

afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

/** Runs `action` with console.error and process.stderr.write spied on; returns its outcome and whether either was called. */
async function quietly<T>(action: () => Promise<T>): Promise<{ outcome: PromiseSettledResult<T>; printed: boolean }> {
  const consoleError = vi.spyOn(console, 'error').mockImplementation(() => undefined);
  const stderrWrite = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const outcome = await action().then(
      (value): PromiseSettledResult<T> => ({ status: 'fulfilled', value }),
      (reason: unknown): PromiseSettledResult<T> => ({ status: 'rejected', reason }),
    );
    return { outcome, printed: consoleError.mock.calls.length > 0 || stderrWrite.mock.calls.length > 0 };
  } finally {
    consoleError.mockRestore();
    stderrWrite.mockRestore();
  }
}

/** The lines of `text` that are not blank, for "every earlier line is still there" checks. */
function lines(text: string): string[] {
  return text.split(/\r?\n/).filter((line) => line.trim() !== '');
}

describe('config set adds a key to a table that holds only sub-tables, or nothing', () => {
  const rows: { name: string; file: string; key: string; value: string; expected: Record<string, unknown> }[] = [
    {
      name: 'storage.backend into a file with only [storage.postgres]',
      file: '# my settings\n[storage.postgres] # the server\npool_size = 5 # five\n',
      key: 'storage.backend',
      value: 'memory',
      expected: { storage: { backend: 'memory', postgres: { pool_size: 5 } } },
    },
    {
      name: 'storage.backend into an empty [storage] followed by [storage.postgres]',
      file: '# my settings\n[storage] # nothing here yet\n[storage.postgres]\npool_size = 5\n',
      key: 'storage.backend',
      value: 'memory',
      expected: { storage: { backend: 'memory', postgres: { pool_size: 5 } } },
    },
    {
      name: 'storage.postgres.pool_size into a file with only [storage.postgres.vector_embeddings]',
      file: '# vectors only\n[storage.postgres.vector_embeddings]\nhnsw_m = 5 # small\n',
      key: 'storage.postgres.pool_size',
      value: '7',
      expected: { storage: { postgres: { pool_size: 7, vector_embeddings: { hnsw_m: 5 } } } },
    },
    {
      name: 'storage.backend into a table defined by dotted keys',
      file: '# dotted\nstorage.postgres.pool_size = 5 # five\n',
      key: 'storage.backend',
      value: 'memory',
      expected: { storage: { backend: 'memory', postgres: { pool_size: 5 } } },
    },
  ];

  it.each(rows)('$name', async (row) => {
    await writeFile(configPath, row.file);
    const { outcome, printed } = await quietly(() => setConfigValue(row.key, row.value, options));
    expect(outcome.status === 'rejected' ? outcome.reason : undefined).toBeUndefined();
    expect(printed).toBe(false);
    const text = await readFile(configPath, 'utf8');
    expect(parse(text)).toEqual(row.expected);
    // Earlier lines, comments included, are all still there, in their order.
    const kept = lines(text).filter((line) => lines(row.file).includes(line));
    expect(kept).toEqual(lines(row.file));
    // And the file loads back with the new value from the file.
    const resolved = await loadSettings(options);
    expect(resolved.origins.get(row.key)).toEqual({ kind: 'file', path: configPath });
    expect(await readdir(dir)).toEqual(['config.toml']);
  });

  it('a second key lands in the same table without a duplicate header', async () => {
    await writeFile(configPath, '[storage.postgres]\npool_size = 5\n');
    await quietly(() => setConfigValue('storage.backend', 'memory', options));
    const { outcome, printed } = await quietly(() => setConfigValue('storage.memory.backend', 'postgres', options));
    expect(outcome.status).toBe('fulfilled');
    expect(printed).toBe(false);
    expect(parse(await readFile(configPath, 'utf8'))).toEqual({
      storage: { backend: 'memory', postgres: { pool_size: 5 }, memory: { backend: 'postgres' } },
    });
  });
});

describe('config set on a table written inline', () => {
  it('refuses with CONFIG_INVALID, a real reason, nothing printed, and the file byte-for-byte unchanged', async () => {
    const text = '# inline\nstorage = { backend = "memory" }\n';
    await writeFile(configPath, text);
    const before = await readFile(configPath);
    const { outcome, printed } = await quietly(() => setConfigValue('storage.postgres.pool_size', '5', options));
    expect(outcome.status).toBe('rejected');
    const error = (outcome as PromiseRejectedResult).reason as unknown;
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('CONFIG_INVALID');
    expect((error as ConfigError).message).not.toContain('undefined');
    expect(printed).toBe(false);
    expect(await readFile(configPath)).toEqual(before);
    expect(await readdir(dir)).toEqual(['config.toml']);
  });
});

describe('config set keeps CRLF line endings', () => {
  const CRLF =
    '# windows file\r\n[storage]\r\nbackend = "postgres" # here\r\n\r\n[storage.postgres]\r\npool_size = 10\r\n';

  /** Every line ending is CRLF: no bare LF, and no stray CR. */
  function expectCrlfOnly(text: string): void {
    expect(text.endsWith('\r\n')).toBe(true);
    expect(text).not.toMatch(/(^|[^\r])\n/);
    expect(text).not.toMatch(/\r(?!\n)/);
  }

  it.each([
    [
      'changing an existing key',
      'storage.postgres.pool_size',
      '25',
      { storage: { backend: 'postgres', postgres: { pool_size: 25 } } },
    ],
    [
      'adding a key to an existing table',
      'storage.postgres.auto_migrate',
      'true',
      { storage: { backend: 'postgres', postgres: { pool_size: 10, auto_migrate: true } } },
    ],
    [
      'adding a new table',
      'storage.postgres.event_log.retention_days',
      '30',
      { storage: { backend: 'postgres', postgres: { pool_size: 10, event_log: { retention_days: 30 } } } },
    ],
  ])('%s', async (_name, key, value, expected) => {
    await writeFile(configPath, CRLF);
    const result = await setConfigValue(key, value, options);
    expect(result.changed).toBe(true);
    const text = await readFile(configPath, 'utf8');
    expectCrlfOnly(text);
    expect(parse(text)).toEqual(expected);
    expect(text).toContain('backend = "postgres" # here\r\n');
  });

  it('adding a key to a table with only sub-tables', async () => {
    await writeFile(configPath, '# windows file\r\n[storage.postgres]\r\npool_size = 5\r\n');
    await setConfigValue('storage.backend', 'memory', options);
    const text = await readFile(configPath, 'utf8');
    expectCrlfOnly(text);
    expect(parse(text)).toEqual({ storage: { backend: 'memory', postgres: { pool_size: 5 } } });
  });

  it('unset', async () => {
    await writeFile(configPath, CRLF);
    await unsetConfigValue('storage.backend', options);
    const text = await readFile(configPath, 'utf8');
    expectCrlfOnly(text);
    expect(parse(text)).toEqual({ storage: { postgres: { pool_size: 10 } } });
  });

  it('setting the value a CRLF file already holds leaves it unchanged', async () => {
    await writeFile(configPath, CRLF);
    const result = await setConfigValue('storage.postgres.pool_size', '10', options);
    expect(result.changed).toBe(false);
    expect(await readFile(configPath, 'utf8')).toBe(CRLF);
  });
});
