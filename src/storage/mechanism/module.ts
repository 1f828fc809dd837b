import type { Settings } from '../../config/schema.js';
import type { TenantTransaction } from './tenant-transaction.js';

/**
 * The component a module belongs to, which decides its backend: `memory` follows
 * `[storage.memory] backend`, `state` follows `[storage.state] backend`, and `core` (artifacts,
 * the event log, hook history, API keys) stays on `storage.backend`.
 */
export type Component = 'memory' | 'state' | 'core';

/** What a store is given: its tenant, the settings, and a way to run work in a transaction of its tenant. */
export interface ModuleContext {
  /** The tenant of every call. */
  readonly tenant: string;
  /** `storage.postgres` of the settings the storage was opened with (a module's own keys are under it). */
  readonly settings: Settings['storage']['postgres'];
  /**
   * Runs `work` in a transaction of the tenant: a transaction of its own for a call through
   * `storage.tenant(id)` (retried when it fails with a serialization failure or a deadlock: all of
   * `work` is run again, so it must do nothing but send statements), or the caller's
   * `storage.transaction()`.
   */
  run<T>(work: (tx: TenantTransaction) => Promise<T>, options?: RunOptions): Promise<T>;
}

/** Options of {@link ModuleContext.run}. */
export interface RunOptions {
  /**
   * `work` sends exactly one statement and cannot fail after it: on a pipelining connection the
   * whole transaction (prologue, statement, COMMIT) is then one round trip. A store splits a call
   * into such runs where it can (the write; then, only when it changed nothing, the read that says why).
   */
  singleStatement?: boolean;
}

/** {@link RunOptions} of a one-statement run. */
export const ONE_STATEMENT: RunOptions = Object.freeze({ singleStatement: true });

/** A storage module: its id (the property of a tenant view), component, and the factory of its store. */
export interface StorageModule<Id extends string = string, Store = unknown> {
  readonly id: Id;
  readonly component: Component;
  /** Makes the store for one tenant (cheap: called once per tenant view). */
  create(context: ModuleContext): Store;
}

/** Declares a module (typed, for the registry). */
export function defineModule<const Id extends string, Store>(
  module: StorageModule<Id, Store>,
): StorageModule<Id, Store> {
  return module;
}
