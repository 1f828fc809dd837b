import { isErasureRefusal } from '../../db/tenant.js';
import { LlmspellError } from '../../errors.js';

/** The codes a storage module adds to the database ones. */
export type StorageErrorCode = 'NOT_FOUND' | 'CONFLICT' | 'INVALID_INPUT' | 'INVALID_TRANSITION';

/** What a storage error names besides its message: never a value of another tenant's row. */
export interface StorageErrorDetails {
  /** The module method or statement that failed, e.g. `agentState.put`. */
  operation?: string;
  /** For `INVALID_INPUT`: the input field, as a dotted path (`options.limit`, `entries.3.vector`). */
  field?: string;
  /** For `INVALID_INPUT`: what the field must be. */
  expected?: string;
  /** SQLSTATE of the server error behind it, if any. */
  sqlstate?: string;
  /** The schema constraint behind it, if any (a name from the migrations, never a value). */
  constraint?: string;
  /** True when the same call may succeed if made again (a serialization failure, a deadlock). */
  retryable?: boolean;
}

/**
 * An error of a storage module: a missing row, a conflict (a stale expected version, a duplicate
 * id, a serialization failure that kept failing), bad input (with the field and what was
 * expected), or a state transition the module does not allow. Its message says what happened in
 * the caller's own terms; it never quotes the server's detail (which holds key values).
 */
export class StorageError extends LlmspellError {
  declare readonly code: StorageErrorCode;
  readonly details: StorageErrorDetails;

  constructor(
    code: StorageErrorCode,
    message: string,
    details: StorageErrorDetails = {},
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(code, message, options);
    this.details = details;
  }

  /** The input field of an `INVALID_INPUT`. */
  get field(): string | undefined {
    return this.details.field;
  }

  /** Whether making the same call again may succeed. */
  get retryable(): boolean {
    return this.details.retryable === true;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), ...this.details };
  }
}

/** `INVALID_INPUT` for `field` of `operation`: `what` it must be. */
export function invalidInput(operation: string, field: string, expected: string): StorageError {
  return new StorageError('INVALID_INPUT', `${operation}: ${field} ${expected}`, { operation, field, expected });
}

/** `NOT_FOUND`: `what` (e.g. `agent state "planner"`) does not exist for the tenant. */
export function notFound(operation: string, what: string): StorageError {
  return new StorageError('NOT_FOUND', `${operation}: ${what} does not exist`, { operation });
}

/** `CONFLICT`: the call lost to another writer, or would duplicate a row. */
export function conflict(operation: string, why: string, details: StorageErrorDetails = {}): StorageError {
  return new StorageError('CONFLICT', `${operation}: ${why}`, { operation, ...details });
}

/** How each SQLSTATE a statement may raise becomes a storage error: the one table of the mapping. */
export const SQLSTATE_CODES: Readonly<Record<string, { code: StorageErrorCode; retryable?: true; what: string }>> = {
  '23505': { code: 'CONFLICT', what: 'a row with the same key exists already' },
  '23P01': { code: 'CONFLICT', what: 'it overlaps a row that exists already' },
  '23514': { code: 'INVALID_INPUT', what: 'it breaks a rule of the schema' },
  '23502': { code: 'INVALID_INPUT', what: 'a required value is missing' },
  '23503': { code: 'NOT_FOUND', what: 'a row it refers to does not exist' },
  '22001': { code: 'INVALID_INPUT', what: 'a value is too long for its column' },
  '22003': { code: 'INVALID_INPUT', what: 'a number is out of range' },
  '22007': { code: 'INVALID_INPUT', what: 'a date or time is malformed' },
  '22008': { code: 'INVALID_INPUT', what: 'a date or time is out of range' },
  '22009': { code: 'INVALID_INPUT', what: 'a time zone in a date or time is out of range' },
  '22P02': { code: 'INVALID_INPUT', what: 'a value has the wrong form' },
  '22P05': { code: 'INVALID_INPUT', what: 'a text holds a character PostgreSQL cannot store' },
  '22021': { code: 'INVALID_INPUT', what: 'a text is not valid in the database encoding' },
  '54000': { code: 'INVALID_INPUT', what: 'a value exceeds a PostgreSQL size limit' },
  '40001': {
    code: 'CONFLICT',
    retryable: true,
    what: 'a concurrent transaction changed the same rows (serialization failure)',
  },
  '40P01': { code: 'CONFLICT', retryable: true, what: 'it deadlocked with a concurrent transaction' },
};

/**
 * The storage error for a server error a statement raised, or `undefined` for any other failure
 * (a lost connection, a timeout, a missing table: those keep their database codes). A foreign-key
 * failure of a DELETE means the row is still referenced (`CONFLICT`); of any other statement,
 * that the row it refers to is missing (`NOT_FOUND`). The server's detail (which quotes key
 * values) is left out of the message.
 */
export function fromServerError(error: unknown, operation: string, verb: string): StorageError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const raw = error as { code?: unknown; severity?: unknown; constraint?: unknown };
  if (typeof raw.code !== 'string' || typeof raw.severity !== 'string') return undefined;
  const entry = SQLSTATE_CODES[raw.code];
  // A write of a tenant being forgotten keeps its database code, TENANT_ERASING.
  if (!entry || isErasureRefusal(raw)) return undefined;
  const constraint = typeof raw.constraint === 'string' && raw.constraint !== '' ? raw.constraint : undefined;
  const referenced = raw.code === '23503' && verb === 'DELETE';
  const code = referenced ? 'CONFLICT' : entry.code;
  const what = referenced ? 'other rows still refer to it' : entry.what;
  return new StorageError(
    code,
    `${operation}: ${what}${constraint ? ` (${constraint})` : ''}`,
    {
      operation,
      sqlstate: raw.code,
      ...(constraint ? { constraint } : {}),
      ...(entry.retryable ? { retryable: true } : {}),
    },
    { cause: error },
  );
}

/**
 * A server error of a statement marked `sensitive`, with nothing of the values it touched: the
 * SQLSTATE, severity and the names of the constraint, table and column (names from the
 * migrations) stay; the detail, hint, context and query (which quote row values) go, and so does
 * the message of data and integrity errors (classes 22 and 23, and PL/pgSQL's P0), which quotes
 * the offending value. It stands in the whole cause chain where the server's error would.
 */
export class RedactedServerError extends Error {
  readonly code: string;
  readonly severity: string;
  readonly constraint: string | undefined;
  readonly table: string | undefined;
  readonly column: string | undefined;

  constructor(raw: {
    code: string;
    severity: string;
    message?: unknown;
    constraint?: unknown;
    table?: unknown;
    column?: unknown;
  }) {
    const name = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
    const quotesValues = /^(22|23|P0)/.test(raw.code);
    super(
      quotesValues || typeof raw.message !== 'string'
        ? `the server refused the statement with SQLSTATE ${raw.code}${name(raw.constraint) ? ` (constraint ${String(raw.constraint)})` : ''}; its detail is withheld (the statement is sensitive)`
        : raw.message,
    );
    this.name = 'RedactedServerError';
    this.code = raw.code;
    this.severity = raw.severity;
    this.constraint = name(raw.constraint);
    this.table = name(raw.table);
    this.column = name(raw.column);
  }
}

/** `error` redacted ({@link RedactedServerError}) when it is a server error; any other failure as it is. */
export function redactServerError(error: unknown): unknown {
  if (typeof error !== 'object' || error === null || error instanceof RedactedServerError) return error;
  const raw = error as { code?: unknown; severity?: unknown };
  if (typeof raw.code !== 'string' || typeof raw.severity !== 'string') return error;
  return new RedactedServerError(raw as { code: string; severity: string });
}
