import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** A PgBouncer in front of a test server. */
export interface PgBouncer {
  port: number;
  /** A URL through PgBouncer for `database`, with the given credentials. */
  url(database: string, user: string, password: string): string;
  stop(): Promise<void>;
}

/** Options of {@link startPgBouncer}. */
export interface PgBouncerOptions {
  /** The PostgreSQL server behind it. */
  host: string;
  port: number;
  /** Users PgBouncer knows, with their passwords (it logs in to the server with them). */
  users: Record<string, string>;
  poolMode?: 'session' | 'transaction' | 'statement';
  /** Server connections per (database, user). */
  defaultPoolSize?: number;
}

/** Where the pgbouncer binary is, or why there is none (Debian: `apt-get install pgbouncer`). */
export async function findPgBouncer(): Promise<{ path: string } | { reason: string }> {
  for (const candidate of ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer']) {
    const found = await run(candidate, ['--version']).then(
      () => true,
      () => false,
    );
    if (found) return { path: candidate };
  }
  return { reason: 'no pgbouncer binary (apt-get install -y pgbouncer; .ci/run does)' };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const quote = (text: string) => `"${text.replace(/"/g, '""')}"`;

/**
 * Starts PgBouncer on 127.0.0.1 and a free port, in front of one server, for every database
 * (`* = host=… port=…`). PgBouncer refuses to run as root: as root it runs as `postgres` (`-u`).
 */
export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  const binary = await findPgBouncer();
  if (!('path' in binary)) throw new Error(binary.reason);
  const dir = await mkdtemp(join(tmpdir(), 'llmspell-test-pgbouncer-'));
  await chmod(dir, 0o777);
  const port = await freePort();
  const users = Object.entries(options.users)
    .map(([user, password]) => `${quote(user)} ${quote(password)}`)
    .join('\n');
  await writeFile(join(dir, 'userlist.txt'), `${users}\n`, { mode: 0o644 });
  await writeFile(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${options.host} port=${options.port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = scram-sha-256',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      `pool_mode = ${options.poolMode ?? 'transaction'}`,
      `default_pool_size = ${options.defaultPoolSize ?? 2}`,
      'max_client_conn = 200',
      'ignore_startup_parameters = extra_float_digits,options',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const asRoot = process.getuid?.() === 0;
  const child: ChildProcess = spawn(binary.path, [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], {
    stdio: 'ignore',
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      await Promise.race([once(child, 'exit'), sleep(5000).then(() => child.kill('SIGKILL'))]);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const [user, password] = Object.entries(options.users)[0]!;
  const url = (database: string, u: string, p: string) =>
    `postgresql://${encodeURIComponent(u)}:${encodeURIComponent(p)}@127.0.0.1:${port}/${database}`;
  for (let attempt = 0; ; attempt++) {
    const client = new pg.Client({ connectionString: url('pgbouncer', user, password) });
    try {
      await client.connect();
      await client.end();
      break;
    } catch (error) {
      await client.end().catch(() => undefined);
      // The admin console refuses ordinary users (no such database/user); any such answer means it listens.
      if (
        /not allowed|no such user|pgbouncer/i.test(String((error as Error).message)) &&
        !/ECONNREFUSED/.test(String(error))
      )
        break;
      if (child.exitCode !== null || attempt > 100) {
        await stop();
        throw new Error(`pgbouncer did not start: ${String((error as Error).message)}`);
      }
      await sleep(100);
    }
  }
  return { port, url, stop };
}

/** A PgBouncer in front of one database, and the URL of that database through it. */
export interface BouncedDatabase {
  bouncer: PgBouncer;
  /** `directUrl` with host and port replaced by PgBouncer's (same user, password and database). */
  url: string;
}

/**
 * Starts PgBouncer in front of the server of `directUrl` (a test server URL with credentials),
 * knowing that URL's user, and returns the same database's URL through it.
 */
export async function pgBouncerFor(
  directUrl: string,
  options: Pick<PgBouncerOptions, 'poolMode' | 'defaultPoolSize'> = {},
): Promise<BouncedDatabase> {
  const direct = new URL(directUrl);
  const [user, password] = [decodeURIComponent(direct.username), decodeURIComponent(direct.password)];
  const bouncer = await startPgBouncer({
    host: direct.hostname,
    port: Number(direct.port),
    users: { [user]: password },
    poolMode: options.poolMode ?? 'transaction',
    defaultPoolSize: options.defaultPoolSize ?? 2,
  });
  return { bouncer, url: bouncer.url(decodeURIComponent(direct.pathname.slice(1)), user, password) };
}
