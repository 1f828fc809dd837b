/**
 * How `toDatabaseError` and `typedFailure` (`src/db/errors.ts`) report SQLSTATE 57014: a statement
 * that `statement_timeout` cancelled names the key that set it (and its value when known) and what
 * to do; a cancel request, which shares the SQLSTATE, is reported as it came. The server errors
 * here are built as `pg` delivers them (SQLSTATE, severity, message); the real ones are in
 * `test/integration/statement-timeout.test.ts`.
 */
import { describe, expect, it } from 'vitest';
import { DatabaseError, STATEMENT_TIMEOUT_KEY, toDatabaseError, typedFailure } from '../../../src/db/errors.js';

/** A server error as `pg` delivers it. */
const serverError = (message: string, code = '57014') =>
  Object.assign(new Error(message), { code, severity: 'ERROR', file: 'postgres.c' });

const TIMEOUT = 'canceling statement due to statement timeout';
const USER = 'canceling statement due to user request';

describe('SQLSTATE 57014', () => {
  it('from statement_timeout, inside a transaction: names the key, and its value when known', () => {
    for (const during of ['transaction', 'commit'] as const) {
      const error = typedFailure(serverError(TIMEOUT), 'db', during) as DatabaseError;
      expect(error).toBeInstanceOf(DatabaseError);
      expect(error.code).toBe('DB_QUERY_FAILED');
      expect(error.sqlstate).toBe('57014');
      expect(error.message).toContain(STATEMENT_TIMEOUT_KEY);
      expect(error.hint).toContain(STATEMENT_TIMEOUT_KEY);
    }
    const known = typedFailure(serverError(TIMEOUT), 'db', 'transaction', {
      statementTimeoutSecs: 30,
    }) as DatabaseError;
    expect(known.message).toContain(`${STATEMENT_TIMEOUT_KEY} (30 s)`);
  });

  it('from statement_timeout outside llmspell transactions: says statement_timeout and where it may come from', () => {
    for (const error of [
      typedFailure(serverError(TIMEOUT), 'db', 'autocommit') as DatabaseError,
      toDatabaseError(serverError(TIMEOUT), 'migration 0001') as DatabaseError,
    ]) {
      expect(error).toMatchObject({ code: 'DB_QUERY_FAILED', fields: { sqlstate: '57014' } });
      expect(error.message).toMatch(/statement_timeout/);
      expect(error.message).not.toContain(STATEMENT_TIMEOUT_KEY);
      expect(error.hint).toContain(STATEMENT_TIMEOUT_KEY);
      expect(error.hint).toContain('migration_timeout_secs');
    }
  });

  it('from a cancel request: not called a timeout', () => {
    for (const error of [
      typedFailure(serverError(USER), 'db', 'transaction') as DatabaseError,
      toDatabaseError(serverError(USER), 'db') as DatabaseError,
    ]) {
      expect(error).toMatchObject({ code: 'DB_QUERY_FAILED', fields: { sqlstate: '57014' } });
      expect(error.message).toBe(USER);
      expect(error.hint).toBeUndefined();
    }
  });

  it('in another language (lc_messages): reported as it came', () => {
    const error = typedFailure(serverError('Anweisung wegen Statement-Timeout abgebrochen'), 'db', 'transaction');
    expect(error).toMatchObject({ code: 'DB_QUERY_FAILED', fields: { sqlstate: '57014' } });
    expect((error as DatabaseError).message).not.toContain(STATEMENT_TIMEOUT_KEY);
  });

  it('only for 57014: the same words under another SQLSTATE are reported as they came', () => {
    const error = typedFailure(serverError(TIMEOUT, 'XX000'), 'db', 'transaction') as DatabaseError;
    expect(error.message).toBe(TIMEOUT);
  });
});
