import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import { LlmspellError } from '../../src/errors.js';
import { testSettings } from '../helpers/settings.js';

const DIST_INDEX = new URL('../../dist/index.js', import.meta.url).href;

/** A second process that opens the embedded database and holds it until killed. */
async function startHolder(dataDir: string): Promise<ChildProcess> {
  const script = `
    import { openDatabase, loadSettings } from ${JSON.stringify(DIST_INDEX)};
    const { settings } = await loadSettings({ env: { HOME: ${JSON.stringify(tmpdir())} }, overrides: [
      { key: 'storage.backend', value: 'embedded', flag: '--backend' },
      { key: 'storage.embedded.path', value: ${JSON.stringify(dataDir)}, flag: '--set' },
    ] });
    const db = await openDatabase(settings);
    await db.query('CREATE TABLE IF NOT EXISTS held (x int)');
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', () => output.includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`holder exited early (${code})`)));
  });
  return child;
}

describe('embedded data-directory lock', () => {
  let root: string;
  let dataDir: string;
  let holder: ChildProcess | undefined;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'llmspell-test-lock-'));
    dataDir = join(root, 'pgdata');
  });
  afterAll(async () => {
    holder?.kill('SIGKILL');
    await rm(root, { recursive: true, force: true });
  });

  it('refuses a second process, naming the pid that holds the directory', async () => {
    holder = await startHolder(dataDir);
    const error = await openDatabase(testSettings({ backend: 'embedded', embeddedPath: dataDir })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LlmspellError);
    expect((error as LlmspellError).code).toBe('LOCK_HELD');
    expect((error as LlmspellError).message).toContain(String(holder.pid));
    const owner = JSON.parse(await readFile(`${dataDir}.lock`, 'utf8')) as { pid: number };
    expect(owner.pid).toBe(holder.pid);
  });

  it('takes over the lock of a process that died, and the data is intact', async () => {
    holder!.kill('SIGKILL');
    await once(holder!, 'exit');
    holder = undefined;
    const db = await openDatabase(testSettings({ backend: 'embedded', embeddedPath: dataDir }));
    try {
      const { rows } = await db.query("SELECT to_regclass('held') IS NOT NULL AS present");
      expect(rows[0]).toEqual({ present: true });
    } finally {
      await db.close();
    }
    await expect(readFile(`${dataDir}.lock`, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses while an unreadable lock file is fresh (a holder mid-write)', async () => {
    await writeFile(`${dataDir}.lock`, '');
    const error = await openDatabase(testSettings({ backend: 'embedded', embeddedPath: dataDir })).catch(
      (e: unknown) => e,
    );
    expect((error as LlmspellError).code).toBe('LOCK_HELD');
    await rm(`${dataDir}.lock`);
  });
});
