import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import type { ExtensionSet } from '../../src/db/pglite-source.js';
import { testSettings } from '../helpers/settings.js';

// How an embedded database is started: smaller shared buffers (PGlite clears them at every
// start), and only the extension bundles a command needs (each costs start-up time).

describe('embedded start-up', () => {
  let root: string;
  const settings = () => testSettings({ backend: 'embedded', embeddedPath: join(root, 'pgdata') });

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'llmspell-test-start-'));
    const db = await openDatabase(settings());
    await db.query('CREATE EXTENSION vector; CREATE EXTENSION pgcrypto; CREATE TABLE v (e vector(3))');
    await db.query(`INSERT INTO v VALUES ('[1,2,3]')`);
    await db.close();
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('the data directory is its owner’s alone (0700), and is narrowed again if widened', async () => {
    const dataDir = join(root, 'pgdata');
    // PGlite writes every file 0666: the directory's mode is what keeps other users out.
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    await chmod(dataDir, 0o755);
    const db = await openDatabase(settings(), { extensions: 'none' });
    await db.close();
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
  });

  it.each<[ExtensionSet, boolean, boolean]>([
    ['all', true, true],
    ['vector', true, false],
    ['none', false, false],
  ])('with extensions %s: vectors %s, pgcrypto %s; 32MB of shared buffers', async (extensions, vectors, crypto) => {
    const db = await openDatabase(settings(), { extensions });
    try {
      expect((await db.query<{ shared_buffers: string }>('SHOW shared_buffers')).rows[0]!.shared_buffers).toBe('32MB');
      // llmspell's own tables read the same whatever is loaded.
      expect((await db.query('SELECT count(*)::int AS n FROM pg_extension')).rows[0]).toEqual({ n: 3 });
      const vector = db.query(`SELECT e::text AS e FROM v`);
      if (vectors) await expect(vector).resolves.toMatchObject({ rows: [{ e: '[1,2,3]' }] });
      else await expect(vector).rejects.toThrow(/vector/);
      const digest = db.query(`SELECT encode(digest('x', 'sha256'), 'hex') AS d`);
      if (crypto) await expect(digest).resolves.toMatchObject({ rows: [{ d: expect.stringMatching(/^2d71/) }] });
      else await expect(digest).rejects.toThrow(/pgcrypto/);
    } finally {
      await db.close();
    }
  });
});
