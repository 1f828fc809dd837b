import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
 * Opens a fresh PGlite database through the real driver. `embedded` puts it on disk in a temp
 * directory (locked like a user's), `memory` keeps it in memory. A fresh instance costs a few
 * seconds (initdb in WASM): open one per file, not per test.
 */
export async function createTestPglite(
  kind: 'memory' | 'embedded' = 'memory',
  postgres: Record<string, unknown> = {},
): Promise<TestPglite> {
  if (kind === 'memory') {
    const db = await openDatabase(testSettings({ backend: 'memory', postgres }));
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
