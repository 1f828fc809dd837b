/**
 * The tenant-conformance registry's types and helpers: one registration per storage module (every
 * id of `MODULES` in `src/storage/registry.ts`), each in a file of this folder, assembled by
 * `index.ts` and run by `conformance.test.ts` on every storage target.
 *
 * A registration says how tenant A makes rows (`seed`), how A reads them back (`snapshot`, compared
 * before and after every attempt), and what tenant B tries against A's handle (`attempts`): every
 * method of the module, with what B must get. Reads by A's ids are `NOT_FOUND`; lists, tops and
 * counts show B only its own rows; writes, deletes and transitions are `NOT_FOUND` (or `false`/0),
 * never `CONFLICT` or `INVALID_TRANSITION`, which would tell B that A's row exists; a creation by B
 * with A's key (A's agent id, workflow id, pattern) succeeds for B alone; bulk operations by B touch
 * none of A's rows. `control` runs last, as A: it shows the attempts aimed at live rows (A's own
 * delete, expire or prune does reach them).
 *
 * A new module is one more entry of `CONFORMANCE` in `index.ts` (the type requires it, and a test
 * checks it at run time, together with an attempt for every method of the store).
 */
import { randomBytes } from 'node:crypto';
import type { StorageErrorCode } from '../../../../src/storage/mechanism/errors.js';
import type { ModuleId, TenantStores } from '../../../../src/storage/registry.js';

/** The methods of a module's store (what B must be made to call, every one of them). */
export type MethodOf<M extends ModuleId> = {
  [K in keyof TenantStores[M]]: TenantStores[M][K] extends (...args: never[]) => unknown ? K : never;
}[keyof TenantStores[M]] &
  string;

/** What kind of call an attempt is. */
export type AttemptKind = 'read' | 'list' | 'write' | 'delete' | 'transition' | 'same-key' | 'bulk';

/** What B must get: a rejection with a code, a value (`toEqual`), or what a check accepts. */
export type Expected<H, R> =
  | { readonly rejects: StorageErrorCode }
  | { readonly resolves: unknown }
  | {
      /** Asserts on B's result; it may read more as B (`b`), e.g. that B's own row is B's. */
      check(result: R, b: TenantStores, handle: H): Promise<void> | void;
    };

/** One call of tenant B against tenant A's handle; B is a fresh tenant for every attempt. */
export interface Attempt<M extends ModuleId, H, R = unknown> {
  readonly method: MethodOf<M>;
  readonly kind: AttemptKind;
  /** What B does, in a few words (the test's name). */
  readonly name: string;
  run(b: TenantStores, handle: H): Promise<R>;
  readonly expect: Expected<H, R>;
}

/** Where one of A's rows is in the schema, to look at it with SQL that has no tenant predicate. */
export interface RowLocation {
  readonly table: string;
  readonly column: string;
  readonly value: string;
}

/**
 * What a module needs of a target beyond the core schema. `pgvector`: the vector track (its
 * tables and the extension), which `openStorageTarget` enables on the PGlite targets only.
 */
export type Need = 'pgvector';

/** The conformance registration of one module. */
export interface Registration<M extends ModuleId, H, S> {
  readonly module: M;
  /** Run only on the targets that have this; the others print why they skip it. */
  readonly needs?: Need;
  /** Tenant A creates rows and returns their handle; `marker` goes into A's data (never its keys). */
  seed(a: TenantStores, marker: string): Promise<H>;
  /** Tenant A reads its rows back, as plain JSON, for comparing before and after. */
  snapshot(a: TenantStores, handle: H): Promise<S>;
  /** A's main row, for the raw-SQL look behind the library. */
  locate(handle: H): RowLocation;
  /** A harmless call of the module for the caller's own tenant (for the scope checks). */
  probe(stores: TenantStores): Promise<unknown>;
  readonly attempts: readonly Attempt<M, H>[];
  /**
   * Every method of the store called by B with `signal` (`{ signal }` in its options), one call
   * each: the signal tests run them with a live, an aborted and an aborting signal.
   */
  readonly signalled: {
    readonly [K in MethodOf<M>]: (b: TenantStores, handle: H, signal: AbortSignal) => Promise<unknown>;
  };
  /** Run last, as A: A's own calls do reach the rows B could not. */
  control(a: TenantStores, handle: H): Promise<void>;
}

/** A registration whatever its handle and snapshot types. */
export type AnyRegistration = { [M in ModuleId]: Registration<M, unknown, unknown> }[ModuleId];

/** A registration of `M`, typed by its handle. */
export function register<M extends ModuleId, H, S>(
  registration: Registration<M, H, S>,
): Registration<M, unknown, unknown> {
  return registration as unknown as Registration<M, unknown, unknown>;
}

/** An attempt maker for module `M` and handle `H` that infers each attempt's result type. */
export function attemptsOf<M extends ModuleId, H>() {
  return <R>(attempt: Attempt<M, H, R>): Attempt<M, H> => attempt as unknown as Attempt<M, H>;
}

/** A value as JSON would carry it (dates as their full-precision ISO text). */
export function plain<T>(value: T): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}

export const token = () => randomBytes(5).toString('hex');

/** Every item an async iterable yields (a `scan`), as an array. */
export async function drain<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

/** Greater than any frequency a test records. */
export const BIG = Number.MAX_SAFE_INTEGER;
