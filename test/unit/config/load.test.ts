import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CONFIG_KEYS } from '../../../src/config/keys.js';
import { loadSettings, type KeyOverride } from '../../../src/config/load.js';
import { resolveConfigFile } from '../../../src/config/paths.js';
import type { Origin } from '../../../src/errors.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'llmspell-load-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The value at a dotted key of a nested object. */
function valueAt(root: unknown, key: string): unknown {
  let node = root;
  for (const part of key.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  return node;
}

/** The four places a config file can be found, highest precedence first. */
type Slot = 'flag' | 'llmspellConfig' | 'xdg' | 'home';

function slotPath(slot: Slot): string {
  switch (slot) {
    case 'flag':
      return join(dir, 'flag', 'config.toml');
    case 'llmspellConfig':
      return join(dir, 'llmspell-config', 'config.toml');
    case 'xdg':
      return join(dir, 'xdg', 'llmspell', 'config.toml');
    case 'home':
      return join(dir, 'home', '.config', 'llmspell', 'config.toml');
  }
}

type ExpectedOrigin =
  { kind: 'default' } | { kind: 'file'; slot: Slot } | { kind: 'env'; name: string } | { kind: 'flag'; name: string };

interface PrecedenceRow {
  name: string;
  /** Config files to create, by location. */
  files?: Partial<Record<Slot, string>>;
  /** Environment besides HOME (always `<tmp>/home`). */
  env?: Record<string, string>;
  /** Pass `--config` pointing at the `flag` slot. */
  configFlag?: boolean;
  /** Set LLMSPELL_CONFIG to the `llmspellConfig` slot. */
  llmspellConfig?: boolean;
  /** Set XDG_CONFIG_HOME to `<tmp>/xdg`. */
  xdgConfigHome?: boolean;
  overrides?: KeyOverride[];
  key: string;
  value: unknown;
  origin: ExpectedOrigin;
}

const POOL = 'storage.postgres.pool_size';
const POOL_ENV = 'LLMSPELL_STORAGE_POSTGRES_POOL_SIZE';
const URL_KEY = 'storage.postgres.url';
const pool = (n: number) => `[storage.postgres]\npool_size = ${n}\n`;
const poolFlag = (n: number): KeyOverride => ({ key: POOL, value: String(n), flag: `--set ${POOL}` });

const precedence: PrecedenceRow[] = [
  { name: 'default only', key: POOL, value: 16, origin: { kind: 'default' } },
  {
    name: 'file over default',
    files: { home: pool(20) },
    key: POOL,
    value: 20,
    origin: { kind: 'file', slot: 'home' },
  },
  {
    name: 'env over default',
    env: { [POOL_ENV]: '30' },
    key: POOL,
    value: 30,
    origin: { kind: 'env', name: POOL_ENV },
  },
  {
    name: 'env over file',
    files: { home: pool(20) },
    env: { [POOL_ENV]: '30' },
    key: POOL,
    value: 30,
    origin: { kind: 'env', name: POOL_ENV },
  },
  {
    name: 'flag over default',
    overrides: [poolFlag(40)],
    key: POOL,
    value: 40,
    origin: { kind: 'flag', name: `--set ${POOL}` },
  },
  {
    name: 'flag over file',
    files: { home: pool(20) },
    overrides: [poolFlag(40)],
    key: POOL,
    value: 40,
    origin: { kind: 'flag', name: `--set ${POOL}` },
  },
  {
    name: 'flag over env over file',
    files: { home: pool(20) },
    env: { [POOL_ENV]: '30' },
    overrides: [poolFlag(40)],
    key: POOL,
    value: 40,
    origin: { kind: 'flag', name: `--set ${POOL}` },
  },
  {
    name: 'the last of two flags for one key wins',
    overrides: [poolFlag(40), poolFlag(41)],
    key: POOL,
    value: 41,
    origin: { kind: 'flag', name: `--set ${POOL}` },
  },
  {
    name: 'an empty env var is ignored',
    files: { home: pool(20) },
    env: { [POOL_ENV]: '' },
    key: POOL,
    value: 20,
    origin: { kind: 'file', slot: 'home' },
  },
  {
    name: '--backend flag over env',
    env: { LLMSPELL_STORAGE_BACKEND: 'postgres' },
    overrides: [{ key: 'storage.backend', value: 'memory', flag: '--backend' }],
    key: 'storage.backend',
    value: 'memory',
    origin: { kind: 'flag', name: '--backend' },
  },
  {
    name: 'env over the file named by --config',
    files: { flag: pool(20) },
    configFlag: true,
    env: { [POOL_ENV]: '30' },
    key: POOL,
    value: 30,
    origin: { kind: 'env', name: POOL_ENV },
  },
  // DATABASE_URL: just above the default, for the URL only.
  {
    name: 'DATABASE_URL when nothing else sets the URL',
    env: { DATABASE_URL: 'postgresql://h/from-database-url' },
    key: URL_KEY,
    value: 'postgresql://h/from-database-url',
    origin: { kind: 'env', name: 'DATABASE_URL' },
  },
  {
    name: 'file URL over DATABASE_URL',
    files: { home: '[storage.postgres]\nurl = "postgresql://h/from-file"\n' },
    env: { DATABASE_URL: 'postgresql://h/from-database-url' },
    key: URL_KEY,
    value: 'postgresql://h/from-file',
    origin: { kind: 'file', slot: 'home' },
  },
  {
    name: 'LLMSPELL_STORAGE_POSTGRES_URL over DATABASE_URL',
    env: {
      DATABASE_URL: 'postgresql://h/from-database-url',
      LLMSPELL_STORAGE_POSTGRES_URL: 'postgresql://h/from-llmspell-env',
    },
    key: URL_KEY,
    value: 'postgresql://h/from-llmspell-env',
    origin: { kind: 'env', name: 'LLMSPELL_STORAGE_POSTGRES_URL' },
  },
  {
    name: '--database-url over everything',
    files: { home: '[storage.postgres]\nurl = "postgresql://h/from-file"\n' },
    env: {
      DATABASE_URL: 'postgresql://h/from-database-url',
      LLMSPELL_STORAGE_POSTGRES_URL: 'postgresql://h/from-llmspell-env',
    },
    overrides: [{ key: URL_KEY, value: 'postgresql://h/from-flag', flag: '--database-url' }],
    key: URL_KEY,
    value: 'postgresql://h/from-flag',
    origin: { kind: 'flag', name: '--database-url' },
  },
  {
    name: 'DATABASE_URL does not set other keys',
    env: { DATABASE_URL: 'postgresql://h/db' },
    key: POOL,
    value: 16,
    origin: { kind: 'default' },
  },
  // Which config file is read: --config > LLMSPELL_CONFIG > $XDG_CONFIG_HOME > $HOME/.config.
  {
    name: 'location: --config over LLMSPELL_CONFIG, XDG_CONFIG_HOME and HOME',
    files: { flag: pool(1), llmspellConfig: pool(2), xdg: pool(3), home: pool(4) },
    configFlag: true,
    llmspellConfig: true,
    xdgConfigHome: true,
    key: POOL,
    value: 1,
    origin: { kind: 'file', slot: 'flag' },
  },
  {
    name: 'location: LLMSPELL_CONFIG over XDG_CONFIG_HOME and HOME',
    files: { flag: pool(1), llmspellConfig: pool(2), xdg: pool(3), home: pool(4) },
    llmspellConfig: true,
    xdgConfigHome: true,
    key: POOL,
    value: 2,
    origin: { kind: 'file', slot: 'llmspellConfig' },
  },
  {
    name: 'location: XDG_CONFIG_HOME over HOME',
    files: { flag: pool(1), llmspellConfig: pool(2), xdg: pool(3), home: pool(4) },
    xdgConfigHome: true,
    key: POOL,
    value: 3,
    origin: { kind: 'file', slot: 'xdg' },
  },
  {
    name: 'location: HOME/.config when nothing else names a file',
    files: { flag: pool(1), llmspellConfig: pool(2), xdg: pool(3), home: pool(4) },
    key: POOL,
    value: 4,
    origin: { kind: 'file', slot: 'home' },
  },
  {
    name: 'location: XDG_CONFIG_HOME without a file means defaults, not the HOME file',
    files: { home: pool(4) },
    xdgConfigHome: true,
    key: POOL,
    value: 16,
    origin: { kind: 'default' },
  },
];

describe('loadSettings precedence', () => {
  it.each(precedence)('$name', async (row) => {
    for (const [slot, text] of Object.entries(row.files ?? {}) as [Slot, string][]) {
      await mkdir(dirname(slotPath(slot)), { recursive: true });
      await writeFile(slotPath(slot), text);
    }
    const env: Record<string, string> = { HOME: join(dir, 'home'), ...row.env };
    if (row.llmspellConfig) env.LLMSPELL_CONFIG = slotPath('llmspellConfig');
    if (row.xdgConfigHome) env.XDG_CONFIG_HOME = join(dir, 'xdg');

    const resolved = await loadSettings({
      env,
      ...(row.configFlag ? { configPath: slotPath('flag') } : {}),
      ...(row.overrides ? { overrides: row.overrides } : {}),
    });

    expect(valueAt(resolved.settings, row.key)).toEqual(row.value);
    const expectedOrigin: Origin =
      row.origin.kind === 'file' ? { kind: 'file', path: slotPath(row.origin.slot) } : row.origin;
    expect(resolved.origins.get(row.key)).toEqual(expectedOrigin);
  });
});

describe('resolveConfigFile', () => {
  it('marks --config and LLMSPELL_CONFIG as explicit and the XDG and HOME locations as not', () => {
    const env = { HOME: join(dir, 'home'), XDG_CONFIG_HOME: join(dir, 'xdg'), LLMSPELL_CONFIG: join(dir, 'env.toml') };
    expect(resolveConfigFile(env, join(dir, 'flag.toml'))).toEqual({
      path: join(dir, 'flag.toml'),
      source: '--config',
      explicit: true,
    });
    expect(resolveConfigFile(env)).toEqual({ path: join(dir, 'env.toml'), source: 'LLMSPELL_CONFIG', explicit: true });
    expect(resolveConfigFile({ HOME: env.HOME, XDG_CONFIG_HOME: env.XDG_CONFIG_HOME })).toEqual({
      path: join(dir, 'xdg', 'llmspell', 'config.toml'),
      source: 'XDG_CONFIG_HOME',
      explicit: false,
    });
    expect(resolveConfigFile({ HOME: env.HOME })).toEqual({
      path: join(dir, 'home', '.config', 'llmspell', 'config.toml'),
      source: 'default',
      explicit: false,
    });
  });

  it('makes a relative path absolute', () => {
    const location = resolveConfigFile({ HOME: dir }, 'relative/config.toml');
    expect(location.path).toBe(join(process.cwd(), 'relative', 'config.toml'));
  });
});

/** Every key: its default, and a valid non-default value to set through its environment variable. */
const KEY_TABLE: { key: string; default: unknown; envText: string; envValue: unknown }[] = [
  { key: 'storage.backend', default: 'embedded', envText: 'memory', envValue: 'memory' },
  { key: 'storage.embedded.path', default: undefined, envText: '/var/lib/llmspell', envValue: '/var/lib/llmspell' },
  { key: 'storage.memory.backend', default: undefined, envText: 'postgres', envValue: 'postgres' },
  { key: 'storage.state.backend', default: undefined, envText: 'memory', envValue: 'memory' },
  { key: 'storage.postgres.url', default: undefined, envText: 'postgresql://h/db', envValue: 'postgresql://h/db' },
  {
    key: 'storage.postgres.migration_url',
    default: undefined,
    envText: 'postgresql://h/direct',
    envValue: 'postgresql://h/direct',
  },
  { key: 'storage.postgres.pool_size', default: 16, envText: '8', envValue: 8 },
  { key: 'storage.postgres.pool_timeout_secs', default: 30, envText: '5', envValue: 5 },
  { key: 'storage.postgres.idle_timeout_secs', default: 600, envText: '60', envValue: 60 },
  { key: 'storage.postgres.max_lifetime_secs', default: 1800, envText: '120', envValue: 120 },
  { key: 'storage.postgres.statement_timeout_secs', default: 30, envText: '0', envValue: 0 },
  { key: 'storage.postgres.idle_in_transaction_timeout_secs', default: 60, envText: '15', envValue: 15 },
  { key: 'storage.postgres.maintenance_lock_timeout_secs', default: 2, envText: '5', envValue: 5 },
  { key: 'storage.postgres.default_tenant_id', default: 'default', envText: 'acme', envValue: 'acme' },
  { key: 'storage.postgres.enforce_tenant_isolation', default: true, envText: 'false', envValue: false },
  {
    key: 'storage.postgres.tenant_id_pattern',
    default: '^[a-z0-9-]{3,255}$',
    envText: '^[a-z]+$',
    envValue: '^[a-z]+$',
  },
  { key: 'storage.postgres.max_document_bytes', default: 1_048_576, envText: '4096', envValue: 4096 },
  { key: 'storage.postgres.auto_migrate', default: false, envText: 'true', envValue: true },
  { key: 'storage.postgres.migration_timeout_secs', default: 300, envText: '30', envValue: 30 },
  { key: 'storage.postgres.migration_lock_timeout_secs', default: 10, envText: '3', envValue: 3 },
  { key: 'storage.postgres.vector_embeddings.enabled', default: true, envText: 'false', envValue: false },
  { key: 'storage.postgres.vector_embeddings.hnsw_m', default: 16, envText: '8', envValue: 8 },
  { key: 'storage.postgres.vector_embeddings.hnsw_ef_construction', default: 128, envText: '64', envValue: 64 },
  { key: 'storage.postgres.vector_embeddings.exact_search_max_rows', default: 1000, envText: '0', envValue: 0 },
  { key: 'storage.postgres.vector_embeddings.ef_search', default: 40, envText: '100', envValue: 100 },
  {
    key: 'storage.postgres.vector_embeddings.iterative_scan',
    default: 'relaxed_order',
    envText: 'strict_order',
    envValue: 'strict_order',
  },
  { key: 'storage.postgres.vector_embeddings.max_scan_tuples', default: 20_000, envText: '5000', envValue: 5000 },
  { key: 'storage.postgres.vector_embeddings.vchordrq_probes_percent', default: 10, envText: '25', envValue: 25 },
  { key: 'storage.postgres.vector_embeddings.tenant_index_min_rows', default: 10_000, envText: '500', envValue: 500 },
  { key: 'storage.postgres.vector_embeddings.max_tenant_indexes', default: 100, envText: '0', envValue: 0 },
  { key: 'storage.postgres.event_log.partition_strategy', default: 'monthly', envText: 'daily', envValue: 'daily' },
  { key: 'storage.postgres.event_log.retention_days', default: 365, envText: '30', envValue: 30 },
  { key: 'storage.postgres.artifacts.compression_threshold_bytes', default: 1_048_576, envText: '0', envValue: 0 },
];

describe('defaults and environment variables', () => {
  it('the table below covers exactly the keys of the schema', () => {
    expect(KEY_TABLE.map((row) => row.key).sort()).toEqual(CONFIG_KEYS.map((spec) => spec.key).sort());
  });

  it('with no file and no environment every key has its default, from the default origin', async () => {
    const resolved = await loadSettings({ env: { HOME: dir } });
    expect(resolved.file.exists).toBe(false);
    expect(resolved.warnings).toEqual([]);
    for (const row of KEY_TABLE) {
      expect(valueAt(resolved.settings, row.key), row.key).toEqual(row.default);
      expect(resolved.origins.get(row.key), row.key).toEqual({ kind: 'default' });
    }
  });

  it.each(KEY_TABLE)('$key: env var is LLMSPELL_ + the path in capitals, and it overrides the default', async (row) => {
    const name = `LLMSPELL_${row.key.replaceAll('.', '_').toUpperCase()}`;
    expect(CONFIG_KEYS.find((spec) => spec.key === row.key)?.env).toBe(name);
    expect(CONFIG_KEYS.find((spec) => spec.key === row.key)?.default).toEqual(row.default);

    const resolved = await loadSettings({ env: { HOME: dir, [name]: row.envText } });
    expect(valueAt(resolved.settings, row.key)).toEqual(row.envValue);
    expect(resolved.origins.get(row.key)).toEqual({ kind: 'env', name });
  });

  it.each(['true', 'TRUE', '1', 'yes', 'on'])('a boolean env var accepts %s as true', async (text) => {
    const resolved = await loadSettings({ env: { HOME: dir, LLMSPELL_STORAGE_POSTGRES_AUTO_MIGRATE: text } });
    expect(resolved.settings.storage.postgres.auto_migrate).toBe(true);
  });

  it.each(['false', 'False', '0', 'no', 'off'])('a boolean env var accepts %s as false', async (text) => {
    const resolved = await loadSettings({
      env: { HOME: dir, LLMSPELL_STORAGE_POSTGRES_ENFORCE_TENANT_ISOLATION: text },
    });
    expect(resolved.settings.storage.postgres.enforce_tenant_isolation).toBe(false);
  });

  it('ignores LLMSPELL_* variables outside storage (LLMSPELL_CONFIG and friends)', async () => {
    const resolved = await loadSettings({ env: { HOME: dir, LLMSPELL_SOMETHING_ELSE: 'x' } });
    expect(resolved.settings.storage.backend).toBe('embedded');
  });

  it('reports the file it read', async () => {
    const path = join(dir, 'config.toml');
    await writeFile(path, pool(3));
    const resolved = await loadSettings({ env: { HOME: dir }, configPath: path });
    expect(resolved.file).toEqual({ path, source: '--config', explicit: true, exists: true });
  });
});

describe('the sled alias', () => {
  it('resolves storage.backend = "sled" in the file to embedded, with one warning naming the key', async () => {
    const path = join(dir, 'config.toml');
    await writeFile(path, '[storage]\nbackend = "sled"\n');
    const resolved = await loadSettings({ env: { HOME: dir }, configPath: path });
    expect(resolved.settings.storage.backend).toBe('embedded');
    expect(resolved.origins.get('storage.backend')).toEqual({ kind: 'file', path });
    expect(resolved.warnings).toHaveLength(1);
    expect(resolved.warnings[0]).toContain('storage.backend');
  });

  it.each([
    ['storage.memory.backend', 'LLMSPELL_STORAGE_MEMORY_BACKEND'],
    ['storage.state.backend', 'LLMSPELL_STORAGE_STATE_BACKEND'],
  ])('resolves %s = sled from the environment to embedded, with a warning', async (key, name) => {
    const resolved = await loadSettings({ env: { HOME: dir, [name]: 'sled' } });
    expect(valueAt(resolved.settings, key)).toBe('embedded');
    expect(resolved.warnings).toHaveLength(1);
    expect(resolved.warnings[0]).toContain(key);
  });

  it('gives no warning for embedded itself', async () => {
    const resolved = await loadSettings({ env: { HOME: dir, LLMSPELL_STORAGE_BACKEND: 'embedded' } });
    expect(resolved.settings.storage.backend).toBe('embedded');
    expect(resolved.warnings).toEqual([]);
  });
});
