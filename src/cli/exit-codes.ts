import { LlmspellError, type ErrorCode } from '../errors.js';

/**
 * Exit statuses of the `llmspell` command. The README's table is generated from the same facts;
 * scripts and CI may rely on them.
 */
export const EXIT = {
  /** Success. */
  OK: 0,
  /** An unexpected failure, a failed statement, or a command that is not available yet. */
  FAILURE: 1,
  /** Bad usage or configuration: unknown option or key, wrong type, invalid file, bad tenant id. */
  USAGE: 2,
  /** A check ran and did not pass (`database health-check` found a failure). */
  CHECK_FAILED: 3,
  /** No connection could be had: refused, timed out, authentication failed, no such database, pool exhausted. */
  UNREACHABLE: 4,
  /** The embedded database, or the migration lock, is held by another process. */
  LOCKED: 5,
  /** `migration-status`: migrations are waiting to be applied. */
  PENDING: 6,
  /** The database and the migration files disagree: an applied file changed, or the database knows a migration this build does not. */
  DRIFT: 7,
} as const;

const BY_CODE: Partial<Record<ErrorCode, number>> = {
  USAGE: EXIT.USAGE,
  CONFIG_INVALID: EXIT.USAGE,
  CONFIG_SYNTAX: EXIT.USAGE,
  CONFIG_NOT_FOUND: EXIT.USAGE,
  TENANT_INVALID: EXIT.USAGE,
  DB_UNREACHABLE: EXIT.UNREACHABLE,
  DB_AUTH_FAILED: EXIT.UNREACHABLE,
  DB_NOT_FOUND: EXIT.UNREACHABLE,
  DB_POOL_TIMEOUT: EXIT.UNREACHABLE,
  DB_CONNECTION_LOST: EXIT.UNREACHABLE,
  DB_DATA_DIR_INVALID: EXIT.UNREACHABLE,
  LOCK_HELD: EXIT.LOCKED,
  POOLER_NOT_SUPPORTED: EXIT.USAGE,
  MIGRATION_DRIFT: EXIT.DRIFT,
  MIGRATION_ORDER: EXIT.DRIFT,
};

/** The one place an error becomes an exit status. */
export function exitCodeFor(error: unknown): number {
  return error instanceof LlmspellError ? (BY_CODE[error.code] ?? EXIT.FAILURE) : EXIT.FAILURE;
}
