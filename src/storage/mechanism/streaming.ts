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
import * as z from 'zod/mini';
import { abortedError } from '../../db/abort.js';
import { LlmspellError } from '../../errors.js';
import { integer, parseInput, signalOption } from '../values/fields.js';
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
  /** Rows per fetch (a batch the consumer receives), 1 to 100,000. @default 1000 */
  rows?: number;
  /** Aborts the stream: the waiting `next()` rejects with `ABORTED`, and its transaction ends. */
  signal?: AbortSignal | undefined;
}

/** What the mechanism tells {@link cursorStream} about the backend. */
export interface StreamBackend {
  /** The backend is one session (PGlite): a stream is refused there. */
  singleSession: boolean;
  /**
   * How long the stream may wait for its consumer to ask for the next batch before it ends its
   * transaction (the server would end the session at `idle_in_transaction_timeout_secs` anyway,
   * and the connection must come back to the pool); 0: no limit.
   */
  idleMs: number;
}

/**
 * The rows of a read-only `statement` in batches, from one cursor in one transaction of `run`
 * (never retried: a consumed batch cannot be read again). The transaction opens at the first
 * `next()` and ends when the rows do, when the consumer breaks off (`return()`, as a
 * `for await … break` does), when a fetch fails, or when the consumer stays away longer than
 * `idleMs` (its next `next()` then rejects). A batch is fetched only when asked for; calls of
 * `next()` are answered one after another, never two with the same batch.
 */
export function cursorStream<P, R>(
  run: Runner,
  statement: Statement<P, R>,
  params: P,
  options: StreamOptions,
  backend: StreamBackend,
): AsyncIterable<R[]> {
  const { rows: size = 1000, signal } = parseInput(statement.name, streamOptions, options);
  return {
    [Symbol.asyncIterator](): AsyncIterator<R[]> {
      /** Set by return() (or an end): the producer stops at its next step, whatever it awaits. */
      let stopped = false;
      let ended = false;
      /** Wakes the producer: the consumer asked for a batch, or stopped. */
      let wake: (() => void) | undefined;
      /** The consumer's request waiting for its batch (at most one: next() calls are chained). */
      let pending: Deferred<R[] | null> | undefined;
      let running: Promise<void> | undefined;
      /** next() calls, answered one after another. */
      let chain: Promise<unknown> = Promise.resolve();

      const asked = () =>
        new Promise<'asked' | 'idle'>((resolve) => {
          if (pending !== undefined || stopped) return resolve('asked');
          const timer = backend.idleMs > 0 ? setTimeout(() => resolve('idle'), backend.idleMs) : undefined;
          timer?.unref();
          wake = () => {
            if (timer) clearTimeout(timer);
            resolve('asked');
          };
        });
      const produce = () => {
        // An abort stops the producer wherever it waits (for the consumer, too): its transaction ends.
        // Aborted while no next() waits: the next one rejects with ABORTED (not a quiet end).
        const onAbort = () => {
          if (!ended && pending === undefined) failure ??= abortedError(signal!);
          stop();
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        return run(
          async (tx) => {
            const fetch = await tx.cursor(statement, params);
            for (;;) {
              if ((await asked()) === 'idle') throw idleError(statement.name, backend.idleMs);
              if (stopped) return;
              const rows = await fetch(size);
              const answered = pending!;
              pending = undefined;
              answered.resolve(rows.length > 0 ? rows : null);
              if (rows.length < size || stopped) return;
            }
          },
          { retry: false, signal },
        )
          .then(
            () => {
              ended = true;
              pending?.resolve(null);
            },
            (error: unknown) => {
              ended = true;
              if (pending) pending.reject(error);
              else if (!stopped) failure = error;
            },
          )
          .finally(() => signal?.removeEventListener('abort', onAbort));
      };
      const stop = () => {
        stopped = true;
        wake?.();
        wake = undefined;
      };
      /** The error of a stream that ended while no next() waited for it (an idle timeout). */
      let failure: unknown;

      const step = async (): Promise<IteratorResult<R[]>> => {
        if (failure !== undefined) {
          const error = failure;
          failure = undefined;
          stopped = true;
          throw error;
        }
        if (stopped || ended) return { done: true, value: undefined };
        if (backend.singleSession) {
          stopped = true;
          throw new LlmspellError(
            'USAGE',
            `${statement.name}: a cursor stream holds its connection until it ends, and the embedded backend has one session: every other call would wait`,
            { hint: 'Read it page by page (scan, or list with cursors): each page is a short transaction of its own.' },
          );
        }
        const answer = deferred<R[] | null>();
        pending = answer;
        running ??= produce();
        wake?.();
        wake = undefined;
        try {
          const rows = await answer.promise;
          if (rows === null) {
            stopped = true;
            return { done: true, value: undefined };
          }
          return { done: false, value: rows };
        } catch (error) {
          stopped = true;
          throw error;
        }
      };
      return {
        next() {
          const result = chain.then(step);
          chain = result.catch(() => undefined);
          return result;
        },
        async return() {
          stop();
          await running;
          return { done: true, value: undefined };
        },
      };
    },
  };
}

const streamOptions = z.strictObject({ rows: z.optional(integer(1, 100_000)), ...signalOption });

function idleError(operation: string, idleMs: number): LlmspellError {
  return new LlmspellError(
    'SCOPE_CLOSED',
    `${operation}: the stream waited ${idleMs / 1000} s for its consumer to ask for more rows (storage.postgres.idle_in_transaction_timeout_secs) and ended its transaction`,
    { hint: 'Consume a cursor stream without pausing, or read page by page (each page a transaction of its own).' },
  );
}
