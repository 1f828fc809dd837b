/**
 * The tenant-conformance registry (run by `../conformance.test.ts`): every module's registration, by
 * module id. A new module = one file here (its registration; the types and helpers are in
 * `harness.ts`) + one line in index.ts (the type of `CONFORMANCE` asks for one entry per id of
 * `MODULES`).
 */
import type { ModuleId } from '../../../../src/storage/registry.js';
import { agentState } from './agent-state.js';
import { events } from './events.js';
import type { AnyRegistration, Registration } from './harness.js';
import { procedural } from './procedural.js';
import { sessions } from './sessions.js';
import { vectors } from './vectors.js';
import { workflows } from './workflows.js';

export {
  plain,
  type AnyRegistration,
  type Attempt,
  type AttemptKind,
  type Expected,
  type MethodOf,
  type Need,
  type Registration,
  type RowLocation,
} from './harness.js';

/** Every module's registration, by module id: the type asks for one per id of `MODULES`. */
export const CONFORMANCE: { readonly [M in ModuleId]: Registration<M, unknown, unknown> } = {
  events,
  agentState,
  workflows,
  sessions,
  procedural,
  vectors,
};

/** The registrations, in `CONFORMANCE` order. */
export const REGISTRATIONS: readonly AnyRegistration[] = Object.values(CONFORMANCE);
