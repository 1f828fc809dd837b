/**
 * Batch writes: a call that writes many rows sends them as arrays (`unnest($ids::uuid[], …)`),
 * a statement per chunk. The one splitter every module uses: chunks hold rows of one group (the
 * table they go to), at most {@link BatchLimits.statementRows} rows and
 * {@link BatchLimits.statementBytes} bytes each, and a call holds at most
 * {@link BatchLimits.callBytes} in all, refused before anything is built or sent.
 */
import { invalidInput } from './errors.js';

/** How a batch is cut into statements. */
export interface BatchLimits {
  /** The most rows one statement carries. @default 1000 */
  readonly statementRows: number;
  /** The most bytes one statement carries (a row larger than this goes alone). @default 4 MiB */
  readonly statementBytes: number;
  /** The most bytes one call may carry in all (its transaction is one). @default 256 MiB */
  readonly callBytes: number;
}

/** The limits of a batch write unless a module names others. */
export const BATCH_LIMITS: BatchLimits = Object.freeze({
  statementRows: 1000,
  statementBytes: 4 * 1024 * 1024,
  callBytes: 256 * 1024 * 1024,
});

/** The rows of one statement: all of one group, in input order. */
export interface Chunk<K, T> {
  readonly group: K;
  readonly rows: readonly T[];
}

/** What the splitter needs to know of a row: its group (the table it goes to) and its size in bytes. */
export interface RowMeasure<K> {
  readonly group: K;
  readonly bytes: number;
}

/**
 * Cuts `rows` into chunks (one statement each) within `limits`, in the order their groups first
 * appear; the rows of each chunk keep their input order. Throws `INVALID_INPUT` naming `field`
 * (and the row where the call went over, then `advice`) when the whole call holds more than `callBytes`.
 *
 * @example
 * const chunks = splitBatch('vectors.upsert', 'entries', entries, (e) => ({ group: e.dims, bytes: e.text.length }));
 */
export function splitBatch<K, T>(
  operation: string,
  field: string,
  rows: Iterable<T>,
  measure: (row: T) => RowMeasure<K>,
  limits: BatchLimits = BATCH_LIMITS,
  advice = '; split it into several calls',
): Chunk<K, T>[] {
  const chunks: { group: K; rows: T[]; bytes: number }[] = [];
  const open = new Map<K, (typeof chunks)[number]>();
  let total = 0;
  let index = 0;
  for (const row of rows) {
    const { group, bytes } = measure(row);
    total += bytes;
    if (total > limits.callBytes) {
      throw invalidInput(
        operation,
        field,
        `holds more than ${formatBytes(limits.callBytes)} in all (at ${field}.${index})${advice}`,
      );
    }
    let chunk = open.get(group);
    if (!chunk || chunk.rows.length >= limits.statementRows || chunk.bytes + bytes > limits.statementBytes) {
      chunk = { group, rows: [], bytes: 0 };
      open.set(group, chunk);
      chunks.push(chunk);
    }
    chunk.rows.push(row);
    chunk.bytes += bytes;
    index++;
  }
  return chunks.map(({ group, rows: chunkRows }) => ({ group, rows: chunkRows }));
}

/**
 * The array parameters of a chunk: for each column, its values row by row (`{ ids: [...], scopes:
 * [...] }`), as an `unnest(…)` statement takes them.
 */
export function columns<T, C extends Record<string, (row: T) => unknown>>(
  rows: readonly T[],
  pick: C,
): { [K in keyof C]: ReturnType<C[K]>[] } {
  return Object.fromEntries(Object.entries(pick).map(([name, of]) => [name, rows.map((row) => of(row))])) as never;
}

function formatBytes(bytes: number): string {
  return bytes % 2 ** 20 === 0 ? `${bytes / 2 ** 20} MiB` : `${bytes} bytes`;
}
