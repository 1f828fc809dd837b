import type { Settings } from '../config/schema.js';
import { embeddedDataDir, embeddedDatabaseExists, openDatabase, type OpenDatabaseOptions } from '../db/open.js';
import type { Database } from '../db/types.js';
import { LlmspellError } from '../errors.js';
import { migrationSource } from '../migrate/connect.js';
import { HEALTH_CHECKS, type Check, type CheckResult } from './checks.js';

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
export interface HealthCheckOptions extends Pick<OpenDatabaseOptions, 'env' | 'onProgress' | 'backend'> {
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
 * connection error (troubleshooting hints included, no password).
 */
export async function healthCheck(settings: Settings, options: HealthCheckOptions): Promise<HealthReport> {
  const timeoutSecs = Math.max(1, Math.ceil(options.timeoutMs / 1000));
  const bounded: Settings = {
    ...settings,
    storage: { ...settings.storage, postgres: { ...settings.storage.postgres, pool_timeout_secs: Math.min(settings.storage.postgres.pool_timeout_secs, timeoutSecs) } },
  };
  const checks = options.checks ?? HEALTH_CHECKS;
  const { tracks } = migrationSource(settings, options.migrationsDir);
  if ((options.backend ?? settings.storage.backend) === 'embedded' && !embeddedDatabaseExists(settings, options.env)) {
    const error = new LlmspellError('DB_NOT_FOUND', `no embedded database at ${embeddedDataDir(settings, options.env)} yet`, {
      hint: '`llmspell database migrate` creates it.',
    });
    return { status: 'unreachable', target: embeddedDataDir(settings, options.env), checks: [{ id: 'connection', status: 'fail', summary: error.message, hint: error.hint! }], error };
  }
  const results: CheckResult[] = [];
  const timer = deadline(options.timeoutMs);
  let db: Database | undefined;
  let target = settings.storage.backend;
  try {
    const openOptions: OpenDatabaseOptions = { ...(options.env ? { env: options.env } : {}), ...(options.onProgress ? { onProgress: options.onProgress } : {}), ...(options.backend ? { backend: options.backend } : {}) };
    db = await Promise.race([openDatabase(bounded, openOptions), timer.promise]);
    target = db.target as typeof target;
    const open = db;
    await Promise.race([
      open.withClient(async (client) => {
        for (const check of checks) {
          results.push(await check({ db: open, client, settings, tracks }));
        }
      }),
      timer.promise,
    ]);
  } catch (error) {
    const timedOut = error instanceof Timeout;
    const failure = timedOut
      ? new LlmspellError('DB_UNREACHABLE', `health check timed out after ${timeoutSecs}s${results.length > 0 ? ` (${results.length} of ${checks.length} checks done)` : ''}`, {
          hint: 'The server did not answer in time: check that it is up and reachable, or raise --timeout.',
        })
      : error instanceof LlmspellError
        ? error
        : new LlmspellError('INTERNAL', (error as Error).message, { cause: error });
    const unreachable = results.length === 0 && ['DB_UNREACHABLE', 'DB_AUTH_FAILED', 'DB_NOT_FOUND', 'LOCK_HELD', 'CONFIG_INVALID', 'DB_POOL_TIMEOUT'].includes(failure.code);
    results.push({ id: results.length === 0 ? 'connection' : 'timeout', status: 'fail', summary: failure.message, ...(failure.hint ? { hint: failure.hint } : {}) });
    if (unreachable || timedOut) {
      // A hung connection must not hold the caller: close without waiting for it.
      void db?.close().catch(() => undefined);
      return { status: unreachable ? 'unreachable' : 'unhealthy', target: db?.target ?? target, checks: results, error: failure };
    }
  } finally {
    timer.cancel();
  }
  await db?.close().catch(() => undefined);
  const failed = results.some((r) => r.status === 'fail' || (options.strict === true && r.status === 'warn'));
  return { status: failed ? 'unhealthy' : 'healthy', target: db?.target ?? target, checks: results };
}
