import { link, mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname } from 'node:path';
import { LlmspellError } from './errors.js';

/** Who holds a data directory. */
export interface LockOwner {
  pid: number;
  hostname: string;
  command: string;
  since: string;
}

/** A held lock; `release()` is idempotent. */
export interface PathLock {
  readonly path: string;
  release(): Promise<void>;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readOwner(path: string): Promise<LockOwner | undefined> {
  try {
    const owner = JSON.parse(await readFile(path, 'utf8')) as LockOwner;
    return typeof owner.pid === 'number' ? owner : undefined;
  } catch {
    return undefined;
  }
}

/** What the lock file says the process is doing: the program and its subcommand, never its options (they may hold secrets). */
function describeCommand(argv: readonly string[]): string {
  const words = argv
    .slice(2)
    .filter((arg) => /^[a-z][a-z-]*$/.test(arg))
    .slice(0, 2);
  return [basename(argv[1] ?? 'node'), ...words].join(' ');
}

/**
 * Locks a path for this process: an embedded data directory (PGlite does not lock it, and two
 * processes writing one directory corrupt it), or the config file while `config set` rewrites it.
 * `what` names it in errors. The lock is a file beside the path (`<path>.lock`), created with
 * O_EXCL, holding the owner's pid. A lock whose process is gone (same host) is taken over: the
 * stale file is first renamed to a name of our own, so of two processes racing for it only one
 * wins, and one that renamed a live lock by mistake puts it back.
 *
 * Not an mtime-heartbeat lock on purpose: PGlite runs SQL synchronously in WASM and can block the
 * event loop for longer than any heartbeat, which would let a second process "recover" a lock
 * that is still in use.
 */
export async function lockPath(
  target: string,
  command = describeCommand(process.argv),
  what = `the embedded database ${target}`,
): Promise<PathLock> {
  const path = `${target}.lock`;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const me: LockOwner = { pid: process.pid, hostname: hostname(), command, since: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(path, JSON.stringify(me), { flag: 'wx', mode: 0o600 });
      let released = false;
      return {
        path,
        async release() {
          if (released) return;
          released = true;
          const owner = await readOwner(path);
          if (owner?.pid === me.pid) await unlink(path).catch(() => undefined);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = await readOwner(path);
    const age = await stat(path).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    // A lock whose owner died is stale; an unreadable one is stale once it is older than a write takes.
    const stale = owner ? owner.hostname === me.hostname && !isAlive(owner.pid) : age > 5_000;
    if (!stale) throw held(what, path, owner);
    const aside = `${path}.stale-${process.pid}`;
    if (
      !(await rename(path, aside).then(
        () => true,
        () => false,
      ))
    )
      continue; // another process took it first
    const taken = await readOwner(aside);
    if (taken && owner && (taken.pid !== owner.pid || taken.since !== owner.since)) {
      // We moved a lock that a racing process had just created: give it back and report it.
      await link(aside, path).catch(() => undefined);
      await unlink(aside).catch(() => undefined);
      throw held(what, path, taken);
    }
    await unlink(aside).catch(() => undefined);
  }
  throw new LlmspellError('LOCK_HELD', `could not lock ${what}`, {
    hint: `Another process keeps taking ${path}; try again.`,
  });
}

function held(what: string, path: string, owner: LockOwner | undefined): LlmspellError {
  const who = owner
    ? `pid ${owner.pid} on ${owner.hostname} (${owner.command || 'llmspell'}, since ${owner.since})`
    : 'another process';
  return new LlmspellError('LOCK_HELD', `${what} is in use by ${who}`, {
    hint: `Wait for that process to finish or stop it; one process at a time may use it. If no such process exists, delete ${path}.`,
  });
}
