import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Output } from '../../../src/cli/output.js';
import { requireKnownKey } from '../../../src/config/keys.js';
import { loadSettings, type LoadOptions } from '../../../src/config/load.js';
import {
  describeValue,
  passwordsIn,
  redactConnectionString,
  redactConnectionStringsIn,
} from '../../../src/config/redact.js';
import { validateConfig } from '../../../src/config/validate.js';
import { tenantIdValidator } from '../../../src/db/tenant.js';
import type { LlmspellError } from '../../../src/errors.js';
import { ConfigError } from '../../../src/errors.js';
import { runCliInProcess } from '../../helpers/cli.js';

// Every check and mask is linear in the size of its input, and a message echoes at most the
// first 80 characters of a value. Quadratic code took 2.4 s for 60 KB: minutes for 1 MB, hours for
// 10 MB. A linear run of the slowest case takes 0.6 s for 10 MB on an idle 2-core machine and 3.5 s
// with the whole suite running beside it, so the budget sits far above the one and far below the
// other: it tells linear from quadratic, not fast from slow (bench/ measures speed).
const BUDGET_MS = 15_000;
const MB = 1_000_000;
const SIZES = [
  ['1 MB', MB],
  ['10 MB', 10 * MB],
] as const;

let dir: string;
let configPath: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'llmspell-limits-'));
  configPath = join(dir, 'config.toml');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `fn`, fails if it took longer than the budget, and returns what it returned or threw. */
async function timed<T>(fn: () => T | Promise<T>): Promise<{ value?: T; error?: unknown }> {
  const started = performance.now();
  let outcome: { value?: T; error?: unknown };
  try {
    outcome = { value: await fn() };
  } catch (error) {
    outcome = { error };
  }
  expect(performance.now() - started).toBeLessThan(BUDGET_MS);
  return outcome;
}

/** The issues of the ConfigError that loading with `options` throws, within the budget. */
async function loadIssues(options: LoadOptions): Promise<{ key: string; message: string }[]> {
  const { error } = await timed(() => loadSettings({ env: { HOME: dir }, ...options }));
  expect(error).toBeInstanceOf(ConfigError);
  return (error as ConfigError).issues.map(({ key, message }) => ({ key, message }));
}

/** `"xxxx…"… (N characters)`: how a message echoes a long value. */
const echoed = (char: string, length: number) => `${JSON.stringify(char.repeat(80))}… (${length} characters)`;

describe.each(SIZES)('a %s value', (_size, n) => {
  const big = 'x'.repeat(n);

  it('in the file, for a string key: loads, whole', async () => {
    await writeFile(configPath, `[storage.embedded]\npath = "/${big}"\n`);
    const { value } = await timed(() => loadSettings({ env: { HOME: dir }, configPath }));
    expect(value?.settings.storage.embedded.path).toHaveLength(n + 1);
  });

  it('in the file, for an integer key: refused, echoing 80 characters', async () => {
    await writeFile(configPath, `[storage.postgres]\npool_size = "${big}"\n`);
    expect(await loadIssues({ configPath })).toEqual([
      { key: 'storage.postgres.pool_size', message: `expected an integer from 1 to 10000, got ${echoed('x', n)}` },
    ]);
  });

  it('in the file, as a URL: refused by its length, the password never shown', async () => {
    await writeFile(configPath, `[storage.postgres]\nurl = "postgresql://u:${big}@h/db"\n`);
    expect(await loadIssues({ configPath })).toEqual([
      {
        key: 'storage.postgres.url',
        message: `is ${n + 20} characters long; a connection URL has at most 65536`,
      },
    ]);
  });

  it('in an environment variable', async () => {
    expect(await loadIssues({ env: { HOME: dir, LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: big } })).toEqual([
      { key: 'storage.postgres.pool_size', message: `expected an integer from 1 to 10000, got ${echoed('x', n)}` },
    ]);
  });

  it('in --set', async () => {
    const overrides = [{ key: 'storage.postgres.pool_size', value: big, flag: '--set storage.postgres.pool_size' }];
    expect(await loadIssues({ overrides })).toEqual([
      { key: 'storage.postgres.pool_size', message: `expected an integer from 1 to 10000, got ${echoed('x', n)}` },
    ]);
  });

  it('through the CLI (--set): a short error, quickly', async () => {
    const { value } = await timed(() =>
      runCliInProcess(['--set', `storage.postgres.pool_size=${big}`, 'config', 'get'], { dir }),
    );
    expect(value?.code).toBe(2);
    expect(value?.stderr.length).toBeLessThan(1000);
  });

  it('config validate: every problem, quickly', async () => {
    await writeFile(configPath, `[storage.postgres]\npool_size = "${big}"\ndefault_tenant_id = "${big}"\n`);
    const { value } = await timed(() => validateConfig({ env: { HOME: dir }, configPath }));
    expect(value?.issues.map((i) => i.key)).toEqual([
      'storage.postgres.pool_size',
      'storage.postgres.default_tenant_id',
    ]);
    expect(value?.issues[1]?.message).toBe(`${echoed('x', n)} is longer than 255 bytes (UTF-8)`);
  });

  it('on the broken line of a TOML syntax error: a short excerpt', async () => {
    for (const text of [`url = "postgresql://u:${big}@h/db" oops\n`, `path = "${big}" oops\n`]) {
      await writeFile(configPath, text);
      const { error } = await timed(() => loadSettings({ env: { HOME: dir }, configPath }));
      expect((error as ConfigError).code).toBe('CONFIG_SYNTAX');
      expect((error as ConfigError).hint!.length).toBeLessThan(600);
    }
  });

  it('as a tenant id: refused before the pattern runs', async () => {
    const validate = tenantIdValidator('^[a-z0-9-]{3,255}$');
    const { error } = await timed(() => validate('a'.repeat(n)));
    expect((error as LlmspellError).code).toBe('TENANT_INVALID');
    expect((error as LlmspellError).message).toBe(
      `invalid tenant id ${echoed('a', n)}: it is longer than 255 bytes (UTF-8)`,
    );
  });
});

describe('a 1 MB unknown key name', () => {
  const name = 'k'.repeat(MB);
  const shown = (prefix: string) => `${`${prefix}${name}`.slice(0, 80)}… (${prefix.length + MB} characters)`;

  it('in the file', async () => {
    await writeFile(configPath, `[storage.postgres]\n${name} = 1\n`);
    expect(await loadIssues({ configPath })).toEqual([{ key: shown('storage.postgres.'), message: 'unknown key' }]);
  });

  it('in the environment', async () => {
    const variable = `LLMSPELL_STORAGE_${name}`;
    expect(await loadIssues({ env: { HOME: dir, [variable]: '1' } })).toEqual([
      { key: shown('LLMSPELL_STORAGE_'), message: 'unknown environment variable' },
    ]);
  });

  it('in --set', async () => {
    const key = `storage.${name}`;
    expect(await loadIssues({ overrides: [{ key, value: '1', flag: `--set ${key}` }] })).toEqual([
      { key: shown('storage.'), message: 'unknown key' },
    ]);
  });

  it('for config get', async () => {
    const { error } = await timed(() => requireKnownKey(`storage.${name}`));
    expect((error as ConfigError).message).toBe(`unknown config key ${shown('storage.')}`);
  });
});

describe('masking 10 MB of text made to be slow', () => {
  const n = 10 * MB;
  const fill = (unit: string) => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
  it.each([
    ['one long word', fill('a')],
    ['name=value pairs', fill('a=')],
    ['password pairs', fill('password=x&')],
    ['unterminated quotes', fill("password='")],
    ['scheme separators', fill('a://')],
    ['a URL with a million query entries', `postgresql://u:p@h/db?${fill('&')}`],
    ['a URL with a million @', `postgresql://${fill('@')}`],
    ['percent signs', `${fill('%')}=x`],
  ])('%s', async (_name, text) => {
    await timed(() => redactConnectionStringsIn(text));
    await timed(() => redactConnectionString(text));
    await timed(() => describeValue(text));
    await timed(() => passwordsIn([text]));
  });

  it('Output.scrub with registered passwords that make String.split quadratic', async () => {
    const out = new Output(
      { stdout: () => undefined, stderr: () => undefined, env: {}, stdoutIsTTY: false, stderrIsTTY: false },
      { json: false, verbose: false, color: false },
    );
    out.addSecrets([`${'a'.repeat(2048)}b${'a'.repeat(2047)}`, 'ab'.repeat(1000)]);
    const { value } = await timed(() => out.scrub(fill('a')));
    expect(value).toHaveLength(n);
  });
});
