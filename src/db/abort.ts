import { connect } from 'node:net';
import { LlmspellError } from '../errors.js';

/**
 * `ABORTED`: the call's `AbortSignal` fired before it finished. Its transaction is rolled back
 * (or was never begun); `cause` is the signal's reason.
 */
export function abortedError(signal: AbortSignal): LlmspellError {
  const reason: unknown = signal.reason;
  // The library aborts a call of its own with the error to report (SCOPE_NESTED, say).
  if (reason instanceof LlmspellError) return reason;
  const why =
    reason instanceof Error && reason.name !== 'AbortError' && reason.name !== 'TimeoutError'
      ? `: ${reason.message}`
      : reason instanceof Error && reason.name === 'TimeoutError'
        ? ' (its timeout passed)'
        : '';
  return new LlmspellError(
    'ABORTED',
    `the call was aborted by its AbortSignal${why}; its transaction was rolled back, nothing of it was kept`,
    {
      hint: 'Nothing to mend: the caller asked for it. Make the call again with a signal that has not fired.',
      cause: reason,
    },
  );
}

/** Throws {@link abortedError} when `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw abortedError(signal);
}

/**
 * `work`, or `ABORTED` at once when `signal` fires first and `onAbort` (which starts whatever
 * stops the work: a cancel request, a rollback) does not answer `false` (too late: a COMMIT is on
 * its way, and the work settles as it would have). An aborted work goes on to its end unobserved.
 */
export function unlessAborted<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  onAbort: () => boolean = () => true,
): Promise<T> {
  if (signal === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      if (!onAbort()) return;
      work.catch(() => undefined);
      reject(abortedError(signal));
    };
    if (signal.aborted) return abort();
    signal.addEventListener('abort', abort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(error);
      },
    );
  });
}

/**
 * A signal that fires when `outer` does (with its reason) or when `abort` is called; `release()`
 * takes its listener off `outer`, once the call it served has settled.
 */
export function linkedSignal(outer: AbortSignal | undefined): {
  signal: AbortSignal;
  abort: (reason: unknown) => void;
  release: () => void;
} {
  const controller = new AbortController();
  const relay = () => controller.abort(outer!.reason);
  if (outer?.aborted === true) controller.abort(outer.reason);
  else outer?.addEventListener('abort', relay, { once: true });
  return {
    signal: controller.signal,
    abort: (reason) => controller.abort(reason),
    release: () => outer?.removeEventListener('abort', relay),
  };
}

/** Where a server listens, for a cancel request: a TCP host and port, or a Unix socket's path. */
export type CancelAddress = { host: string; port: number } | { path: string };

/**
 * Asks the server to cancel the statement its backend `processId` runs now, with the cancel key
 * the server announced (`BackendKeyData`): PostgreSQL's CancelRequest, a message of 16 bytes on a
 * connection of its own, which the server (or a pooler such as PgBouncer, which forwards it) reads
 * before any authentication and answers by closing it. The connection is left for the other end
 * to close, as libpq does: PgBouncer 1.18 (Debian 12's) exits with a fatal error when the client
 * of a cancel closes first. Resolves once it was closed, or after 5 s, or when the attempt failed
 * (a cancel is best effort: the caller discards the connection whatever came of it).
 */
export function sendCancelRequest(address: CancelAddress, processId: number, secretKey: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const socket = 'path' in address ? connect(address.path) : connect(address.port, address.host);
    const done = () => {
      socket.destroy();
      resolve();
    };
    socket.setTimeout(5000, done);
    socket.once('error', done);
    socket.once('end', done);
    socket.once('close', done);
    socket.once('connect', () => {
      const message = Buffer.alloc(16);
      message.writeInt32BE(16, 0);
      message.writeInt32BE(80877102, 4); // the CancelRequest code: 1234 << 16 | 5678
      message.writeInt32BE(processId, 8);
      message.writeInt32BE(secretKey, 12);
      socket.write(message);
    });
  });
}
