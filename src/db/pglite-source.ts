import { chmod, mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { btree_gin } from '@electric-sql/pglite/contrib/btree_gin';
import { btree_gist } from '@electric-sql/pglite/contrib/btree_gist';
import { pgcrypto } from '@electric-sql/pglite/contrib/pgcrypto';
import { uuid_ossp } from '@electric-sql/pglite/contrib/uuid_ossp';
import { createPgConfig } from '@electric-sql/pglite/node-postgres';
import { vector } from '@electric-sql/pglite-pgvector';
import pg from 'pg';
import { LlmspellError } from '../errors.js';
import { AcquireTimeoutError, lend, SourceClosedError, type ConnectionSource, type Lease } from './database.js';
import { lockPath, type PathLock } from '../pid-lock.js';

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

/**
 * What is at a data directory: nothing (or an empty directory) to initialise, a database, or
 * something else, which is refused rather than initialised over: a directory of other files, or a
 * database that lost its PG_VERSION (re-initialising it would lose its data).
 */
export async function dataDirState(dataDir: string): Promise<'new' | 'database'> {
  let entries: string[];
  try {
    entries = await readdir(dataDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'new';
    if (code === 'ENOTDIR')
      throw dataDirError(
        dataDir,
        'is a file, not a directory',
        'Point storage.embedded.path at a directory (absent or empty for a new database).',
      );
    throw error;
  }
  if (entries.length === 0) return 'new';
  if (entries.includes('PG_VERSION')) return 'database';
  if (entries.some((name) => DATABASE_ENTRIES.has(name))) {
    throw dataDirError(
      dataDir,
      'holds a PostgreSQL data directory without its PG_VERSION file: damaged, or left by an interrupted first run',
      `Nothing was changed: llmspell does not initialise over an existing database, which would lose its data. Restore PG_VERSION from a backup; or, if it holds nothing you need (an interrupted first run), remove the directory and run the command again.`,
    );
  }
  throw dataDirError(
    dataDir,
    `is not empty and not a database (it holds ${entries.length} other entr${entries.length === 1 ? 'y' : 'ies'}, e.g. ${entries.slice(0, 3).join(', ')})`,
    'Nothing was changed: llmspell initialises a database only in an empty or absent directory. Choose one: llmspell config set storage.embedded.path /path/to/new/pgdata',
  );
}

/**
 * Creates a new data directory so that it appears whole or not at all: initdb runs in a sibling
 * directory, which is renamed into place once PGlite has finished (an interruption — Ctrl-C, a
 * kill — leaves only the sibling, removed by the next first run, which holds the lock). The
 * directory itself must be absent or empty.
 */
async function initialiseDataDir(dataDir: string): Promise<void> {
  const building = `${dataDir}.initialising`;
  await rm(building, { recursive: true, force: true });
  await mkdir(dirname(dataDir), { recursive: true, mode: 0o700 });
  // initdb needs no extension: they live in PGlite's in-memory file system, not in the data
  // directory, so leaving their bundles out here saves about a second of the first run.
  const fresh = new PGlite(building);
  try {
    await fresh.waitReady;
  } finally {
    await fresh.close();
  }
  await restrictToOwner(building);
  await rmdir(dataDir).catch(() => undefined); // an empty directory, if there was one
  await rename(building, dataDir);
}

/**
 * Makes the data directory readable by its owner only (0700), as initdb does and PostgreSQL
 * demands of its data directories. PGlite's file system gives every file it writes mode 0666
 * whatever the umask, so the directory's mode is what keeps other users out of every tenant's
 * data; it is checked (and narrowed) at every open, which also mends directories created by
 * earlier builds.
 */
async function restrictToOwner(dataDir: string): Promise<void> {
  if (((await stat(dataDir)).mode & 0o077) !== 0) await chmod(dataDir, 0o700);
}

/** Entries of a PostgreSQL data directory besides PG_VERSION. */
const DATABASE_ENTRIES = new Set(['base', 'global', 'pg_wal', 'pg_xact', 'postgresql.conf', 'pg_hba.conf']);

function dataDirError(dataDir: string, what: string, hint: string): LlmspellError {
  return new LlmspellError('DB_DATA_DIR_INVALID', `the embedded data directory ${dataDir} ${what}`, { hint });
}

/** `promise`, or an {@link AcquireTimeoutError} once `ms` have passed. */
function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new AcquireTimeoutError('timeout exceeded when waiting for the embedded database session')),
      ms,
    );
    void promise.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Options for {@link createPgliteSource}. */
export interface PgliteSourceOptions {
  /** How long a caller waits for the one session before failing (`pool_timeout_secs`); default: forever. */
  acquireTimeoutMs?: number;
  onProgress?: (event: OpenProgress) => void;
  /** Which extension bundles to load: see {@link ExtensionSet}; default `all`. */
  extensions?: ExtensionSet;
}

/** Extensions every PGlite database is started with (contrib ones must be listed to be creatable). */
const EXTENSIONS = { vector, pgcrypto, uuid_ossp, btree_gist, btree_gin };

/**
 * Which of PGlite's extension bundles an embedded database is started with. Each costs start-up
 * time (all five about 0.3 s), and one not loaded cannot be used: `all` for anything that runs
 * the application's SQL, `vector` for inspecting pgvector (`health-check`), `none` for reading
 * only llmspell's bookkeeping (`migration-status`).
 */
export type ExtensionSet = 'all' | 'vector' | 'none';

const EXTENSION_SETS: Record<ExtensionSet, Partial<typeof EXTENSIONS>> = {
  all: EXTENSIONS,
  vector: { vector },
  none: {},
};

/**
 * How every PGlite database is started: PGlite's own parameters, with 32 MB of shared buffers
 * instead of PostgreSQL's 128 MB. PGlite allocates and clears them at every start, which was
 * half of the time an embedded command took to open the database (1.2 s against 0.6 s, median of
 * five paired starts); one session reading through the operating system's page cache needs no
 * more.
 */
const START = { extensions: EXTENSIONS, startParams: [...PGlite.defaultStartParams, '-c', 'shared_buffers=32MB'] };

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

  /** Waits for the session (at most `timeoutMs`, then rejects) and returns how to give it back. */
  async enter(timeoutMs?: number): Promise<() => void> {
    let leave!: () => void;
    const previous = this.tail;
    this.tail = new Promise<void>((resolve) => (leave = resolve));
    this.queued++;
    try {
      await (timeoutMs === undefined ? previous : withTimeout(previous, timeoutMs));
    } catch (error) {
      // Given up: the turn still comes, and is passed on at once.
      this.queued--;
      void previous.then(leave);
      throw error;
    }
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
  let lock: PathLock | undefined;
  let db: PGlite | undefined;
  let client: pg.Client | undefined;
  try {
    if (location.kind === 'embedded') {
      lock = await lockPath(location.dataDir);
      const firstRun = (await dataDirState(location.dataDir)) === 'new';
      const started = Date.now();
      if (firstRun) {
        options.onProgress?.({ phase: 'initialising', dataDir: location.dataDir });
        await initialiseDataDir(location.dataDir);
      }
      await restrictToOwner(location.dataDir);
      db = new PGlite(location.dataDir, { ...START, extensions: EXTENSION_SETS[options.extensions ?? 'all'] });
      await db.waitReady;
      if (firstRun)
        options.onProgress?.({ phase: 'initialised', dataDir: location.dataDir, elapsedMs: Date.now() - started });
    } else {
      db = new PGlite('memory://', {
        ...START,
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
      if (closing) throw new SourceClosedError();
      const leave = await turnstile.enter(options.acquireTimeoutMs);
      if (closing) {
        leave();
        throw new SourceClosedError();
      }
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
      if (closing) throw new SourceClosedError();
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
