import { StorageError } from '../mechanism/errors.js';

/** A status graph: for each status, the statuses it may move to. */
export type TransitionGraph<S extends string> = Readonly<Record<S, readonly S[]>>;

/** The statuses from which `to` may be reached: the `WHERE status = ANY(…)` of a transition. */
export function predecessors<S extends string>(graph: TransitionGraph<S>, to: S): S[] {
  return (Object.keys(graph) as S[]).filter((from) => graph[from].includes(to));
}

/** `INVALID_TRANSITION`: `what` is `from` and may not go to `to`; says where it may go. */
export function invalidTransition<S extends string>(
  operation: string,
  what: string,
  graph: TransitionGraph<S>,
  from: S,
  to: S,
): StorageError {
  const allowed = graph[from];
  const next = allowed.length === 0 ? `${from} is final` : `from ${from} it may go to ${allowed.join(', ')}`;
  return new StorageError('INVALID_TRANSITION', `${operation}: ${what} is ${from} and cannot become ${to}; ${next}`, {
    operation,
    expected: allowed.join(', '),
  });
}
