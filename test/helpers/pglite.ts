import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import type { Database } from '../../src/db/types.js';
import { testSettings } from './settings.js';

/** A PGlite database for a test (memory, or embedded in a temp directory), removed by `dispose()`. */
export interface TestPglite {
  db: Database;
  /** The embedded data directory, if any. */
  dataDir?: string;
  dispose(): Promise<void>;
}

/**
 * The run's PGlite snapshot (`'empty'` or `'migrated'`, built once in `./global-setup.ts`) as a
 * Blob for `OpenDatabaseOptions.memorySnapshot`; `undefined` when the run built none
 * (`LLMSPELL_TEST_NO_POSTGRES=1`).
 * @throws the error recorded in global setup when building that snapshot failed.
 */
export async function pgliteSnapshot(kind: 'empty' | 'migrated'): Promise<Blob | undefined> {
  const snapshots = inject('pgliteSnapshots');
  const file = kind === 'empty' ? snapshots.emptyPath : snapshots.migratedPath;
  const error = kind === 'empty' ? snapshots.emptyError : snapshots.migratedError;
  if (error !== null) {
    throw new Error(`the ${kind} PGlite snapshot could not be built in global setup: ${error}`);
  }
  if (!file) return undefined;
  return new Blob([await readFile(file)]);
}

/**
 * Opens a PGlite database through the real driver. `memory` keeps it in memory and starts from
 * the run's empty snapshot (about 1.5 s, against several for a fresh initdb; fresh when the run
 * built no snapshot). `embedded` puts a fresh one on disk in a temp directory (locked like a
 * user's; it costs a few seconds: open one per file, not per test).
 */
export async function createTestPglite(
  kind: 'memory' | 'embedded' = 'memory',
  postgres: Record<string, unknown> = {},
): Promise<TestPglite> {
  if (kind === 'memory') {
    const snapshot = await pgliteSnapshot('empty');
    const db = await openDatabase(
      testSettings({ backend: 'memory', postgres }),
      snapshot ? { memorySnapshot: snapshot } : {},
    );
    return { db, dispose: () => db.close() };
  }
  const root = await mkdtemp(join(tmpdir(), 'llmspell-test-pglite-'));
  const dataDir = join(root, 'pgdata');
  const db = await openDatabase(testSettings({ backend: 'embedded', embeddedPath: dataDir, postgres }));
  return {
    db,
    dataDir,
    async dispose() {
      await db.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}
