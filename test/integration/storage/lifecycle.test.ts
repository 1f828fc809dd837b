/**
 * A storage's lifetime as a program sees it: `await using` closes it at the end of its block, and a
 * program that forgets `close()` still exits (idle connections do not hold Node's event loop; the
 * pool's idle timeout is 600 s by default). On PGlite (memory) and PostgreSQL 18.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../../../src/storage/open-storage.js';
import { failure } from '../../helpers/outcome.js';
import { pgliteSnapshot } from '../../helpers/pglite.js';
import { migratedPostgres, type MigratedDatabase } from '../../helpers/schema.js';
import { testSettings } from '../../helpers/settings.js';

const DIST = new URL('../../../dist/index.js', import.meta.url).pathname;

describe('await using', () => {
  it('closes the storage when its block ends', async () => {
    const snapshot = await pgliteSnapshot('migrated');
    let kept: Storage | undefined;
    {
      await using storage = await openStorage(
        testSettings({ backend: 'memory' }),
        snapshot ? { memorySnapshot: snapshot } : {},
      );
      kept = storage;
      await storage.tenant('acme').agentState.put('planner', { step: 1 });
      expect((await storage.tenant('acme').agentState.get('planner')).version).toBe(1);
    }
    expect(await failure(() => kept!.tenant('acme'))).toMatchObject({ code: 'SCOPE_CLOSED' });
  });
});

describe('a program that forgets close() (PostgreSQL 18)', () => {
  let migrated: MigratedDatabase;
  let dir: string;
  beforeAll(async () => {
    migrated = await migratedPostgres();
    dir = await mkdtemp(join(tmpdir(), 'llmspell-test-exit-'));
  });
  afterAll(async () => {
    await migrated?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('exits once its work is done, long before the pool idle timeout', async () => {
    const program = join(dir, 'forgets-close.mjs');
    await writeFile(
      program,
      `import { loadSettings, openStorage } from ${JSON.stringify(DIST)};
       const { settings } = await loadSettings({ env: { LLMSPELL_STORAGE_BACKEND: 'postgres', LLMSPELL_STORAGE_POSTGRES_URL: process.env.URL, LLMSPELL_STORAGE_POSTGRES_VECTOR_EMBEDDINGS_ENABLED: 'false', LLMSPELL_CONFIG: '/nonexistent/llmspell.toml' }, allowMissingFile: true });
       const storage = await openStorage(settings);
       await storage.tenant('acme').agentState.put('planner', { step: 1 });
       console.log('done');`,
    );
    const started = Date.now();
    const child = spawn(process.execPath, [program], { env: { PATH: process.env.PATH ?? '', URL: migrated.url! } });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(timer);
    expect({ code, out: out.trim(), err }).toEqual({ code: 0, out: 'done', err: '' });
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});
