/**
 * Keyset pagination: a `list` returns a page and, when more rows follow, an opaque cursor holding
 * the sort key of the page's last row. The next page starts after that key through the same index
 * (`WHERE key > $after ORDER BY key LIMIT n`), so a page costs the same wherever it is and rows
 * inserted meanwhile are neither skipped nor repeated, as `OFFSET` would. A cursor names the list it
 * came from; another list's cursor is refused. It holds nothing secret: only the caller's own key.
 */
import type * as z from 'zod/mini';
import { invalidInput } from '../mechanism/errors.js';
import { DEFAULT_PAGE_SIZE } from '../values/fields.js';

/** One page of a `list`. */
export interface Page<T> {
  items: T[];
  /** Pass it as `cursor` for the next page; `undefined` on the last page. */
  nextCursor: string | undefined;
}

/** A sort key: the values of the ordering columns of one row. */
export type CursorKey = readonly (string | number)[];

/** The cursor of `key` in the list `list`. */
export function encodeCursor(list: string, key: CursorKey): string {
  return Buffer.from(JSON.stringify([list, ...key])).toString('base64url');
}

/**
 * The key a cursor of `list` holds, `undefined` for no cursor, or `INVALID_INPUT` (naming
 * `cursor`) for a cursor of another list, one that is not a cursor at all, or one whose key parts
 * do not pass `parts` (the field types of the ordering columns: a forged key is refused here, not
 * by the statement it would feed).
 */
export function decodeCursor(
  operation: string,
  list: string,
  cursor: string | undefined,
  parts: readonly z.ZodMiniType[],
): CursorKey | undefined {
  const arity = parts.length;
  if (cursor === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString());
  } catch {
    parsed = undefined;
  }
  const valid =
    Array.isArray(parsed) &&
    parsed.length === arity + 1 &&
    parsed[0] === list &&
    parsed
      .slice(1)
      .every(
        (part, i) => (typeof part === 'string' || Number.isSafeInteger(part)) && parts[i]!.safeParse(part).success,
      );
  if (!valid) {
    throw invalidInput(operation, 'cursor', `must be a nextCursor returned by ${operation} with the same filter`);
  }
  return (parsed as unknown[]).slice(1) as CursorKey;
}

/**
 * The page of `rows`, read with one row more than `limit` (the extra row tells that another page
 * follows), and the cursor that continues after its last item.
 */
export function toPage<T>(list: string, rows: T[], limit: number, keyOf: (row: T) => CursorKey): Page<T> {
  if (rows.length <= limit) return { items: rows, nextCursor: undefined };
  const items = rows.slice(0, limit);
  return { items, nextCursor: encodeCursor(list, keyOf(items[items.length - 1]!)) };
}

/** The page size of a list: the caller's, or {@link DEFAULT_PAGE_SIZE}. */
export function pageSize(limit: number | undefined): number {
  return limit ?? DEFAULT_PAGE_SIZE;
}
