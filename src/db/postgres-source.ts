import { createReadStream, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import pg from 'pg';
import { parseIntoClientConfig } from 'pg-connection-string';
import type { Env } from '../config/paths.js';
import { sendCancelRequest, type CancelAddress } from './abort.js';
import type { Settings } from '../config/schema.js';
import { redactConnectionString } from '../config/redact.js';
import { checkPostgresUrl, connectTimeoutSecs } from '../config/urls.js';
import { AcquireTimeoutError, lend, SourceClosedError, type ConnectionSource, type Lease } from './database.js';
import { DatabaseError, toDatabaseError, type ConnectionContext } from './errors.js';
import { allows, encryptionWanted, stripTlsParameters, tlsParameters, tlsPlan, type Encryption } from './tls.js';

/** Pool settings taken from `[storage.postgres]`. */
export type PostgresPoolSettings = Pick<
  Settings['storage']['postgres'],
  'url' | 'pool_size' | 'pool_timeout_secs' | 'idle_timeout_secs' | 'max_lifetime_secs'
>;

/** Options of {@link createPostgresSource}. */
export interface PostgresSourceOptions {
  /**
   * Environment for `PGSSLMODE` and the other libpq variables, `PGPASSWORD`, `PGPASSFILE` and
   * `HOME`; default `process.env`.
   */
  env?: Env;
  /** The configuration key the URL came from, for messages; default `storage.postgres.url`. */
  urlKey?: string;
  /** Where the URL's value came from (`LLMSPELL_STORAGE_POSTGRES_URL`, `DATABASE_URL`, a file), for messages. */
  urlOrigin?: string;
}

/** The helper module of the `pgpass` package (the one `pg` uses): it takes the environment as an argument. */
interface PgpassHelper {
  getFileName(env: Env): string;
  usePgPass(stats: Stats, file: string): boolean;
  getPassword(connInfo: object, stream: NodeJS.ReadableStream, cb: (password: string | undefined) => void): void;
}
const pgpass = createRequire(import.meta.url)('pgpass/lib/helper.js') as PgpassHelper;

/**
 * The password of a URL without one, as libpq finds it: `PGPASSWORD`, else the matching line of
 * `~/.pgpass` (`PGPASSFILE`; ignored, with a warning, when group or others can read it). Given to
 * `pg` as its `password` function, so that pg's own deprecated pgpass lookup (and its warning)
 * never runs. Called only when the server asks for a password; throws `DB_AUTH_FAILED` when there
 * is none, as libpq's "no password supplied".
 */
function passwordLookup(env: Env, target: string, context: ConnectionContext) {
  return async (params: { host?: string; port?: number; database?: string; user?: string }): Promise<string> => {
    if (env.PGPASSWORD) return env.PGPASSWORD;
    const file = pgpass.getFileName(env);
    const found = await stat(file).then(
      (stats) =>
        pgpass.usePgPass(stats, file)
          ? new Promise<string | undefined>((resolve) => pgpass.getPassword(params, createReadStream(file), resolve))
          : undefined,
      () => undefined,
    );
    if (found !== undefined) return found;
    const key = context.urlKey ?? 'storage.postgres.url';
    throw new DatabaseError(
      'DB_AUTH_FAILED',
      `${target} asks for a password for user "${params.user ?? ''}", and none was given`,
      {
        hint: `Put the password in ${key} (percent-encoded), or in PGPASSWORD, or in a ~/.pgpass line (HOST:PORT:DATABASE:USER:PASSWORD, mode 0600; PGPASSFILE names another file).`,
      },
    );
  };
}

/**
 * A `pg.Pool` to a real server: `pool_size` → max, `pool_timeout_secs` → acquire timeout,
 * `idle_timeout_secs`, `max_lifetime_secs`, `application_name = llmspell` unless the URL names
 * one. TLS follows libpq's `sslmode` (src/db/tls.ts). `connect_timeout` in the URL (seconds,
 * libpq's minimum of 2) bounds each connection attempt when it is shorter than
 * `pool_timeout_secs`, which bounds both the attempt and the wait for a pooled connection. A URL
 * without a password takes it from `PGPASSWORD` or `~/.pgpass`. Connection errors name the key
 * the URL came from (`options.urlKey`) and where it was set (`options.urlOrigin`).
 */
export function createPostgresSource(
  settings: PostgresPoolSettings,
  options: PostgresSourceOptions = {},
): ConnectionSource {
  const env = options.env ?? process.env;
  const urlKey = options.urlKey ?? 'storage.postgres.url';
  const url = checkPostgresUrl(settings.url, urlKey, {
    env,
    ...(options.urlOrigin ? { origin: options.urlOrigin } : {}),
  });
  const target = redactConnectionString(url);
  // A config object, not a connection string: what pg parses from a connection string overrides
  // the options beside it (`ssl`, `password`), so the URL is parsed here, without its TLS parameters.
  const {
    password,
    connect_timeout: _ignored,
    ...config
  } = parseIntoClientConfig(stripTlsParameters(url)) as pg.ClientConfig & { connect_timeout?: unknown };
  const socket = typeof config.host === 'string' && config.host.startsWith('/');
  const params = tlsParameters(url, env);
  const plan = tlsPlan(params, target, socket);
  const poolMs = settings.pool_timeout_secs * 1000;
  // connect_timeout bounds each attempt when it is the shorter bound; otherwise pool_timeout_secs
  // does (pg-pool ends an attempt that outlasts it), as it bounds the wait for a pooled connection.
  const connectSecs = connectTimeoutSecs(url);
  const attemptMs = connectSecs !== undefined && (poolMs === 0 || connectSecs * 1000 < poolMs) ? connectSecs * 1000 : 0;
  const context: ConnectionContext = {
    urlKey,
    ...(options.urlOrigin ? { urlOrigin: options.urlOrigin } : {}),
    sslmode: plan.mode,
    ...(plan.rootCert ? { sslrootcert: plan.rootCert } : {}),
    ...(attemptMs > 0 ? { connectTimeoutSecs: connectSecs } : {}),
    poolTimeoutSecs: settings.pool_timeout_secs,
  };

  // prefer/allow: the encryption this pool connects with now. It starts as the mode's first
  // choice and switches when a connection attempt fails because of encryption alone
  // (encryptionWanted): pg cannot change TLS settings within a connection, so acquire() connects
  // once more the other way, and later connections keep to what the server accepted. That costs
  // one failed attempt per pool (as much as probing the server's answer to an SSLRequest
  // beforehand would), sees what a probe cannot (pg_hba.conf accepting a user only with, or only
  // without, TLS), and works behind PgBouncer, which answers the SSLRequest itself.
  let encryption: Encryption = plan.first;
  const secret = password || (passwordLookup(env, target, context) as () => Promise<string>);
  class NegotiatingClient extends pg.Client {
    constructor(poolConfig?: pg.ClientConfig) {
      super({
        ...poolConfig,
        // Here, not in the pool's options: pg-pool keeps a password there as a non-enumerable
        // property, which the spread above would drop.
        password: secret,
        ssl: encryption === 'tls' ? (plan.options ?? false) : false,
        connectionTimeoutMillis: attemptMs,
      });
    }
  }
  const pool = new pg.Pool({
    ...config,
    application_name: config.application_name ?? 'llmspell',
    max: settings.pool_size,
    connectionTimeoutMillis: poolMs,
    idleTimeoutMillis: settings.idle_timeout_secs * 1000,
    maxLifetimeSeconds: settings.max_lifetime_secs,
    Client: NegotiatingClient,
    // Idle connections do not keep the process alive: a program that forgets close() still exits.
    allowExitOnIdle: true,
    // Statements of a transaction may be sent before the answer to the one before: withTenant's
    // prologue travels with the first statement (database.ts). Each statement is still awaited.
    pipeline: true,
  });
  // An idle connection dropped by the server is removed from the pool by pg; without a listener the
  // 'error' event would crash the process. The next acquire opens a fresh connection.
  pool.on('error', () => undefined);

  const connect = async (): Promise<pg.PoolClient> => {
    try {
      return await pool.connect();
    } catch (error) {
      const wanted = encryptionWanted(error);
      if (wanted === undefined || !allows(plan, wanted)) throw error;
      encryption = wanted;
      return pool.connect();
    }
  };
  let closing: Promise<void> | undefined;
  /** Callers waiting for a connection: close() fails them at once (pg-pool's end() leaves them to time out). */
  const waiting = new Set<(error: Error) => void>();
  /** A connection, or the rejection of close() when it comes first; a connection that comes after is given back. */
  const connectUnlessClosed = (): Promise<pg.PoolClient> =>
    new Promise<pg.PoolClient>((resolve, reject) => {
      if (closing) return reject(new SourceClosedError());
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        reject(error);
      };
      waiting.add(fail);
      connect().then(
        (client) => {
          waiting.delete(fail);
          if (settled) client.release();
          else {
            settled = true;
            resolve(client);
          }
        },
        (error: unknown) => {
          waiting.delete(fail);
          fail(error as Error);
        },
      );
    });
  return {
    kind: 'postgres',
    pipelines: true,
    target,
    async acquire(): Promise<Lease> {
      let client: pg.PoolClient;
      try {
        client = await connectUnlessClosed();
      } catch (error) {
        if (closing) throw error; // the storage was closed while this call waited
        // Waiting for a busy pool is the caller's to report (DB_POOL_TIMEOUT); the rest is about connecting.
        if (/timeout exceeded when trying to connect/.test(String((error as Error).message))) {
          throw new AcquireTimeoutError((error as Error).message, { cause: error });
        }
        throw toDatabaseError(error, target, context);
      }
      return lend(
        client,
        (discard) => client.release(discard),
        () => cancelRunning(client),
      );
    },
    stats: () => ({
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
      max: settings.pool_size,
    }),
    close: () => {
      if (!closing) {
        closing = pool.end();
        for (const fail of waiting) fail(new SourceClosedError());
      }
      return closing;
    },
  };
}

/** Cancels what `client` runs now: a CancelRequest to where it connected, with the key it was given. */
function cancelRunning(client: pg.PoolClient): Promise<void> {
  const { processID, secretKey } = client as unknown as { processID?: unknown; secretKey?: unknown };
  if (typeof processID !== 'number' || typeof secretKey !== 'number') return Promise.resolve();
  const address: CancelAddress = client.host.startsWith('/')
    ? { path: `${client.host}/.s.PGSQL.${client.port}` }
    : { host: client.host, port: client.port };
  return sendCancelRequest(address, processID, secretKey);
}
