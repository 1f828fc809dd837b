/**
 * Reading more rows than a page: two ways, one for each need.
 *
 * - {@link pagesOf}: page after page of a keyset list, each read in a short transaction of its
 *   own. Safe everywhere, PGlite's one session included (other calls run between pages); each
 *   page is its own snapshot, and the keyset cursor neither repeats nor skips a row that stays.
 * - {@link cursorStream}: one server-side cursor in one transaction, fetched a batch at a time as
 *   the consumer asks: one snapshot from first row to last, but it HOLDS A CONNECTION (and its
 *   transaction) until the stream ends, is broken off, or its consumer stops; refused on the
 *   single-session backend, where it would stop every other call of the process.
 */
import { LlmspellError } from '../../errors.js';
import type { Page } from '../kit/cursor.js';
import type { Runner } from './module.js';
import type { Statement } from './statement.js';

/**
 * The pages of a list, from the first (or the one `cursor` names) to the last: `read` is the
 * list method itself, called with each page's cursor in turn.
 *
 * @example
 * for await (const page of pagesOf((cursor) => store.list({ limit: 500, cursor }))) handle(page);
 */
export async function* pagesOf<T>(
  read: (cursor: string | undefined) => Promise<Page<T>>,
  cursor?: string,
): AsyncGenerator<T[], void, undefined> {
  let next = cursor;
  do {
    const page = await read(next);
    if (page.items.length > 0) yield page.items;
    next = page.nextCursor;
  } while (next !== undefined);
}

/** Every item of a list, page after page (see {@link pagesOf}). */
export async function* itemsOf<T>(
  read: (cursor: string | undefined) => Promise<Page<T>>,
  cursor?: string,
): AsyncGenerator<T, void, undefined> {
  for await (const page of pagesOf(read, cursor)) yield* page;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** Options of {@link cursorStream}. */
export interface StreamOptions {
  /** Rows per fetch (a batch the consumer receives). @default 1000 */
  rows?: number;
}

/**
 * The rows of a read-only `statement` in batches, from one cursor in one transaction of `run`
 * (never retried: a consumed batch cannot be read again). The transaction opens at the first
 * `next()` and ends when the rows do, when the consumer breaks off (`return()`, as a
 * `for await … break` does), or when a fetch fails. A batch is fetched only when asked for.
 */
export function cursorStream<P, R>(
  run: Runner,
  statement: Statement<P, R>,
  params: P,
  options: StreamOptions & { singleSession: boolean },
): AsyncIterable<R[]> {
  const size = options.rows ?? 1000;
  return {
    [Symbol.asyncIterator](): AsyncIterator<R[]> {
      /** The consumer's word to the producer: fetch the next batch (true) or stop (false). */
      let demand = deferred<boolean>();
      /** The producer's answer: a batch, or null when the rows are done. */
      let supply = deferred<R[] | null>();
      let done = false;
      let running: Promise<void> | undefined;
      const produce = () =>
        run(
          async (tx) => {
            const fetch = await tx.cursor(statement, params);
            for (;;) {
              const go = await demand.promise;
              demand = deferred();
              if (!go) return;
              const rows = await fetch(size);
              const answered = supply;
              supply = deferred();
              answered.resolve(rows.length > 0 ? rows : null);
              if (rows.length < size) return;
            }
          },
          { retry: false },
        ).then(
          () => supply.resolve(null),
          (error: unknown) => supply.reject(error),
        );
      return {
        async next() {
          if (done) return { done: true, value: undefined };
          if (options.singleSession) {
            done = true;
            throw new LlmspellError(
              'USAGE',
              `${statement.name}: a cursor stream holds its connection until it ends, and the embedded backend has one session: every other call would wait`,
              {
                hint: 'Read it page by page (scan, or list with cursors): each page is a short transaction of its own.',
              },
            );
          }
          running ??= produce();
          const answer = supply;
          demand.resolve(true);
          try {
            const rows = await answer.promise;
            if (rows === null) {
              done = true;
              return { done: true, value: undefined };
            }
            return { done: false, value: rows };
          } catch (error) {
            done = true;
            throw error;
          }
        },
        async return() {
          done = true;
          demand.resolve(false);
          await running;
          return { done: true, value: undefined };
        },
      };
    },
  };
}
