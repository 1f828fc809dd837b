/**
 * The storage modules, in one list. A module is a folder of the same shape (types, sql, store,
 * index), one line here, and one registration in the tenant-conformance suite
 * (`test/integration/storage/conformance/`); its tables come from a migration. A forgotten
 * tenant's rows are deleted module by module in this order (see `OwnerFace.tables`).
 */
import { agentStateModule } from './modules/agent-state/index.js';
import { apiKeysModule } from './modules/api-keys/index.js';
import { artifactsModule } from './modules/artifacts/index.js';
import { graphModule } from './modules/graph/index.js';
import { hooksModule } from './modules/hooks/index.js';
import { eventsModule } from './modules/events/index.js';
import type { Component, StorageModule } from './mechanism/module.js';
import { proceduralModule } from './modules/procedural/index.js';
import { sessionsModule } from './modules/sessions/index.js';
import { vectorsModule } from './modules/vectors/index.js';
import { workflowsModule } from './modules/workflows/index.js';

/** Every module: its id is its property on a tenant view (`storage.tenant('acme').agentState`). */
export const MODULES = [
  eventsModule,
  vectorsModule,
  agentStateModule,
  workflowsModule,
  sessionsModule,
  proceduralModule,
  // Owner faces alone so far (erasure): their stores come with their module issues.
  graphModule,
  artifactsModule,
  hooksModule,
  apiKeysModule,
] as const;

type Modules = (typeof MODULES)[number];

/** The store a module makes for a tenant (`never` for a module without one). */
type StoreOf<M> = M extends { create?(context: never): infer Store } ? Store : never;

/** The modules with a store: the properties of a tenant view. */
type StoreModules = { [M in Modules as M['id']]: [StoreOf<M>] extends [never] ? never : M }[Modules['id']];

/** The id of a storage module with a store (a property of a tenant view). */
export type ModuleId = StoreModules['id'];

/** The stores of one tenant, by module id. */
export type TenantStores = { readonly [M in StoreModules as M['id']]: StoreOf<M> };

/** The modules with a store, in registry order: what a tenant view holds. */
export const STORE_MODULES = (MODULES as readonly StorageModule[]).filter(
  (module) => module.create !== undefined,
) as readonly (StorageModule<ModuleId> & Required<Pick<StorageModule, 'create'>>)[];

/** Which component each module belongs to (and so which backend serves it). */
export const MODULE_COMPONENTS: Readonly<Record<Modules['id'], Component>> = Object.fromEntries(
  MODULES.map((module) => [module.id, module.component]),
) as Record<Modules['id'], Component>;
