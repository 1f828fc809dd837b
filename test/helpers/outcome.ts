import { DatabaseError } from '../../src/db/errors.js';
import { LlmspellError } from '../../src/errors.js';

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
