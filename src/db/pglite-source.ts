import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { btree_gin } from '@electric-sql/pglite/contrib/btree_gin';
import { btree_gist } from '@electric-sql/pglite/contrib/btree_gist';
import { pgcrypto } from '@electric-sql/pglite/contrib/pgcrypto';
import { uuid_ossp } from '@electric-sql/pglite/contrib/uuid_ossp';
import { createPgConfig } from '@electric-sql/pglite/node-postgres';
import { vector } from '@electric-sql/pglite-pgvector';
import pg from 'pg';
import { lend, type ConnectionSource, type Lease } from './database.js';
import { lockDataDir, type DataDirLock } from './data-dir-lock.js';

/** Progress of opening the embedded database, for a CLI to show. The first open runs initdb (seconds). */
export type OpenProgress =
  { phase: 'initialising'; dataDir: string } | { phase: 'initialised'; dataDir: string; elapsedMs: number };

/**
 * Where a PGlite database lives. A memory database may start from a snapshot taken with
 * {@link PgliteSource.dump} (a `dumpDataDir` archive): seconds faster than a fresh initdb.
 */
export type PgliteLocation = { kind: 'embedded'; dataDir: string } | { kind: 'memory'; snapshot?: Blob };

/** A PGlite connection source; it can also dump its data directory (for snapshots of a prepared database). */
export interface PgliteSource extends ConnectionSource {
  /** The data directory as a `dumpDataDir` archive, taken between transactions. */
  dump(): Promise<Blob>;
}

/** Whether a directory holds an initialised PostgreSQL data directory. */
export function hasDataDir(dataDir: string): boolean {
  return existsSync(join(dataDir, 'PG_VERSION'));
}

/** Options for {@link createPgliteSource}. */
export interface PgliteSourceOptions {
  onProgress?: (event: OpenProgress) => void;
}

/** Extensions every PGlite database is started with (contrib ones must be listed to be creatable). */
const EXTENSIONS = { vector, pgcrypto, uuid_ossp, btree_gist, btree_gin };

/**
 * A FIFO queue of one: PGlite is a single session, so exactly one caller holds it from `BEGIN` to
 * `COMMIT`. Two clients over one PGlite interleave inside each other's transactions (DESIGN.md §2).
 */
class Turnstile {
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;
  private held = false;

  get waiting(): number {
    return this.queued;
  }

  get busy(): boolean {
    return this.held;
  }

  async enter(): Promise<() => void> {
    let leave!: () => void;
    const previous = this.tail;
    this.tail = new Promise<void>((resolve) => (leave = resolve));
    this.queued++;
    await previous;
    this.queued--;
    this.held = true;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.held = false;
      leave();
    };
  }
}

/**
 * The embedded (PGlite on disk, locked against other processes) and memory (PGlite in memory)
 * drivers. Reached through `pg` (`createPgConfig`), so everything above speaks `pg`.
 */
export async function createPgliteSource(
  location: PgliteLocation,
  options: PgliteSourceOptions = {},
): Promise<PgliteSource> {
  let lock: DataDirLock | undefined;
  let db: PGlite | undefined;
  let client: pg.Client | undefined;
  try {
    if (location.kind === 'embedded') {
      lock = await lockDataDir(location.dataDir);
      const firstRun = !hasDataDir(location.dataDir);
      const started = Date.now();
      if (firstRun) options.onProgress?.({ phase: 'initialising', dataDir: location.dataDir });
      db = new PGlite(location.dataDir, { extensions: EXTENSIONS });
      await db.waitReady;
      if (firstRun)
        options.onProgress?.({ phase: 'initialised', dataDir: location.dataDir, elapsedMs: Date.now() - started });
    } else {
      db = new PGlite('memory://', {
        extensions: EXTENSIONS,
        ...(location.snapshot ? { loadDataDir: location.snapshot } : {}),
      });
      await db.waitReady;
    }
    client = new pg.Client(createPgConfig(db) as unknown as pg.ClientConfig);
    client.on('error', () => undefined); // between leases nobody else listens; a lease records its own
    await client.connect();
  } catch (error) {
    await client?.end().catch(() => undefined);
    await db?.close().catch(() => undefined);
    await lock?.release();
    throw error;
  }
  const pglite = db;
  const session = client;
  const turnstile = new Turnstile();
  let closing: Promise<void> | undefined;

  return {
    kind: location.kind,
    target: location.kind === 'embedded' ? location.dataDir : 'memory',
    async acquire(): Promise<Lease> {
      if (closing) throw new Error('the database is closed');
      const leave = await turnstile.enter();
      // There is one session, so a lease given back as broken cannot be replaced: its session state
      // (a SET ROLE, a setting) is reset instead before the next caller gets it.
      return lend(session, (discard) => {
        if (!discard) return leave();
        session
          .query('ROLLBACK') // a transaction left open (only warns when there is none)
          .catch(() => undefined)
          .then(() => session.query('DISCARD ALL'))
          .catch(() => undefined)
          .finally(leave);
      });
    },
    stats: () => ({ total: 1, idle: turnstile.busy ? 0 : 1, waiting: turnstile.waiting, max: 1 }),
    async dump(): Promise<Blob> {
      if (closing) throw new Error('the database is closed');
      const leave = await turnstile.enter();
      try {
        return await pglite.dumpDataDir('none');
      } finally {
        leave();
      }
    },
    close: () =>
      (closing ??= (async () => {
        const leave = await turnstile.enter();
        try {
          await session.end().catch(() => undefined);
          await pglite.close();
        } finally {
          leave();
          await lock?.release();
        }
      })()),
  };
}
