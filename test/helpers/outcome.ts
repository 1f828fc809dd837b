import { DatabaseError } from '../../src/db/errors.js';
import { LlmspellError } from '../../src/errors.js';
import { StorageError } from '../../src/storage/mechanism/errors.js';

/** The `code` an operation failed with (`undefined` if it succeeded), for assertions on codes, not wording. */
export async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return error instanceof LlmspellError ? error.code : `not an LlmspellError: ${String(error)}`;
  }
  return undefined;
}

/** The SQLSTATE a database operation failed with (`undefined` if it succeeded); other errors are rethrown. */
export async function sqlstateOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DatabaseError) return error.sqlstate ?? `DatabaseError ${error.code} without SQLSTATE`;
    throw error;
  }
  return undefined;
}

const STORAGE_CODES: readonly string[] = ['NOT_FOUND', 'CONFLICT', 'INVALID_INPUT', 'INVALID_TRANSITION'];

/** How a storage call failed: its code and, for a storage error, `details.field`. */
export interface Failure {
  code: string;
  field?: string;
}

/**
 * How a call failed: its code and, for a storage error, `details.field`. A storage code on an
 * error that is not a {@link StorageError}, an error of another class, or no error at all each
 * come back as a code no expectation names, so the assertion fails and says why.
 */
export async function failure(call: Promise<unknown> | (() => unknown)): Promise<Failure> {
  try {
    await (typeof call === 'function' ? call() : call);
  } catch (error) {
    if (error instanceof StorageError) {
      return error.details.field === undefined
        ? { code: error.code }
        : { code: error.code, field: error.details.field };
    }
    if (error instanceof LlmspellError) {
      return { code: STORAGE_CODES.includes(error.code) ? `${error.code} (not a StorageError)` : error.code };
    }
    return { code: `not an LlmspellError: ${String(error)}` };
  }
  return { code: 'no error: the call succeeded' };
}

/** The {@link Failure} of bad input in `field`. */
export const invalid = (field: string): Failure => ({ code: 'INVALID_INPUT', field });
