import type { Settings } from '../config/schema.js';
import { embeddedDataDir, openDatabase, type OpenDatabaseOptions } from '../db/open.js';
import { dataDirState } from '../db/pglite-source.js';
import type { Database } from '../db/types.js';
import { redactConnectionString } from '../config/redact.js';
import { LlmspellError } from '../errors.js';
import { isDriverError, toDatabaseError } from '../db/errors.js';
import { migrationSource } from '../migrate/connect.js';
import { HEALTH_CHECKS, type Check, type CheckContext, type CheckResult } from './checks.js';

/** Overall verdict: every check ok (warnings allowed unless strict), some check failed, or no connection at all. */
export type HealthStatus = 'healthy' | 'unhealthy' | 'unreachable';

/** What `database health-check` found. */
export interface HealthReport {
  status: HealthStatus;
  target: string;
  checks: CheckResult[];
  /** The error that made the database unreachable, if it was. */
  error?: LlmspellError;
}

/** Options of {@link healthCheck}. */
export interface HealthCheckOptions extends Pick<
  OpenDatabaseOptions,
  'env' | 'onProgress' | 'backend' | 'urlOrigin' | 'extensions'
> {
  /** Bound on the whole check, connection included. */
  timeoutMs: number;
  /** Treat warnings as failures. */
  strict?: boolean;
  /** Migrations directory to compare with; default the package's. */
  migrationsDir?: string;
  checks?: readonly Check[];
}

class Timeout extends Error {}

function deadline(ms: number): { promise: Promise<never>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Timeout()), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/**
 * Runs every health check against the configured database within `timeoutMs`. Returns a report,
 * never throws for a finding: an unreachable server is a report with status `unreachable` and the
 * connection error (troubleshooting hints included, no password). Settings that cannot be used
 * (`CONFIG_INVALID`: no URL, a malformed one, an unknown sslmode) throw, as they do for every
 * other entry point.
 */
export async function healthCheck(settings: Settings, options: HealthCheckOptions): Promise<HealthReport> {
  const timeoutSecs = Math.max(1, Math.ceil(options.timeoutMs / 1000));
  const bounded: Settings = {
    ...settings,
    storage: {
      ...settings.storage,
      postgres: {
        ...settings.storage.postgres,
        pool_timeout_secs: Math.min(settings.storage.postgres.pool_timeout_secs, timeoutSecs),
      },
    },
  };
  const checks = options.checks ?? HEALTH_CHECKS;
  const { tracks } = migrationSource(settings, options.migrationsDir);
  if ((options.backend ?? settings.storage.backend) === 'embedded') {
    // Never create the embedded database, nor open one in a directory that is not a database.
    const dataDir = embeddedDataDir(settings, options.env);
    const error = await dataDirState(dataDir).then(
      (state) =>
        state === 'new'
          ? new LlmspellError('DB_NOT_FOUND', `no embedded database at ${dataDir} yet`, {
              hint: '`llmspell database migrate` creates it.',
            })
          : undefined,
      (failure: unknown) => (failure instanceof LlmspellError ? failure : toDatabaseError(failure, dataDir)),
    );
    if (error) {
      return {
        status: 'unreachable',
        target: dataDir,
        checks: [
          { id: 'connection', status: 'fail', summary: error.message, ...(error.hint ? { hint: error.hint } : {}) },
        ],
        error,
      };
    }
  }
  const results: CheckResult[] = [];
  const timer = deadline(options.timeoutMs);
  const opening = openDatabase(bounded, {
    ...(options.env ? { env: options.env } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.urlOrigin ? { urlOrigin: options.urlOrigin } : {}),
    ...(options.extensions ? { extensions: options.extensions } : {}),
  });
  let db: Database | undefined;
  let abandoned = false;
  try {
    db = await Promise.race([opening, timer.promise]);
    const open = db;
    await Promise.race([
      open.withClient(async (client) => {
        for (const check of checks) {
          if (abandoned) return;
          results.push(await runCheck(check, { db: open, client, settings, tracks }));
        }
      }),
      timer.promise,
    ]);
  } catch (error) {
    abandoned = true;
    const timedOut = error instanceof Timeout;
    const failure = timedOut
      ? new LlmspellError(
          'DB_UNREACHABLE',
          `health check timed out after ${timeoutSecs}s${results.length > 0 ? ` (${results.length} of ${checks.length} checks done)` : ''}`,
          {
            hint: 'The server did not answer in time: check that it is up and reachable, or raise --timeout.',
          },
        )
      : error instanceof LlmspellError
        ? error
        : new LlmspellError('INTERNAL', (error as Error).message, { cause: error });
    const done = [
      ...results,
      {
        id: results.length === 0 ? 'connection' : 'timeout',
        status: 'fail' as const,
        summary: failure.message,
        ...(failure.hint ? { hint: failure.hint } : {}),
      },
    ];
    // Close without waiting: a hung connection must not hold the caller. A database that opens
    // after the deadline is closed as soon as it does (the embedded one holds a lock).
    if (db) void db.close().catch(() => undefined);
    else void opening.then((late) => late.close()).catch(() => undefined);
    // A configuration that cannot be used (a malformed URL, an unknown sslmode) is not a finding
    // about the database: it is the caller's error, as for every other command.
    if (failure.code === 'CONFIG_INVALID') throw failure;
    const unreachable = results.length === 0 && !timedOut ? UNREACHABLE_CODES.has(failure.code) : results.length === 0;
    return {
      status: unreachable ? 'unreachable' : 'unhealthy',
      target: db?.target ?? targetOf(settings, options),
      checks: done,
      error: failure,
    };
  } finally {
    timer.cancel();
  }
  await db.close().catch(() => undefined);
  const failed = results.some((r) => r.status === 'fail' || (options.strict === true && r.status === 'warn'));
  return { status: failed ? 'unhealthy' : 'healthy', target: db.target, checks: results };
}

/** Errors that mean "could not get a connection at all", as opposed to a check that failed. */
const UNREACHABLE_CODES = new Set(['DB_UNREACHABLE', 'DB_AUTH_FAILED', 'DB_NOT_FOUND', 'LOCK_HELD', 'DB_POOL_TIMEOUT']);

/** Where the check points, for a report written before any connection exists. */
function targetOf(settings: Settings, options: HealthCheckOptions): string {
  const backend = options.backend ?? settings.storage.backend;
  if (backend === 'embedded') return embeddedDataDir(settings, options.env);
  if (backend === 'postgres')
    return redactConnectionString(settings.storage.postgres.url ?? '(no storage.postgres.url)');
  return backend;
}

/**
 * Runs one check; an error it raises (a missing privilege, say) fails that check alone, so the
 * others still report. The checks share one connection in autocommit mode, so a failed statement
 * leaves nothing behind for the next check.
 */
async function runCheck(check: Check, ctx: CheckContext): Promise<CheckResult> {
  try {
    return await check.run(ctx);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return {
      id: check.id,
      status: 'fail',
      summary: `The ${check.id} check could not run: ${message}`,
      // The server's fields (SQLSTATE, detail) kept, for --verbose.
      error: isDriverError(error) ? toDatabaseError(error, ctx.db.target) : error,
      hint: /permission denied/i.test(message)
        ? 'The login role lacks a privilege this check needs: run the health check as the migrating (owner) role, or re-run `llmspell database migrate`, which grants the application role read access to the migration history.'
        : 'Run with --verbose for details.',
    };
  }
}
