import { conflict, notFound, type StorageError } from '../mechanism/errors.js';

/**
 * Why a write guarded by `expectedVersion` changed nothing: the row is missing (`NOT_FOUND`), or
 * it has another version (`CONFLICT`: someone wrote it since it was read; read it again, and
 * retry or give up). `current` is the row's version, read in the same transaction.
 */
export function missedWrite(
  operation: string,
  what: string,
  current: number | undefined,
  expected: number | undefined,
): StorageError {
  if (current === undefined) return notFound(operation, what);
  if (expected === 0) return conflict(operation, `${what} exists already (expectedVersion 0 means it must not)`);
  return conflict(operation, `${what} is at version ${current}, not the expected ${String(expected)}`);
}
