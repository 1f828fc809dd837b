/**
 * The storage modules, in one list. A module is a folder of the same shape (types, sql, store,
 * index), one line here, and one registration in the tenant-conformance suite
 * (`test/integration/storage/conformance.ts`); its tables come from a migration.
 */
import { agentStateModule } from './modules/agent-state/index.js';
import type { Component } from './mechanism/module.js';
import { proceduralModule } from './modules/procedural/index.js';
import { sessionsModule } from './modules/sessions/index.js';
import { vectorsModule } from './modules/vectors/index.js';
import { workflowsModule } from './modules/workflows/index.js';

/** Every module: its id is its property on a tenant view (`storage.tenant('acme').agentState`). */
export const MODULES = [vectorsModule, agentStateModule, workflowsModule, sessionsModule, proceduralModule] as const;

type Modules = (typeof MODULES)[number];

/** The id of a storage module. */
export type ModuleId = Modules['id'];

/** The stores of one tenant, by module id. */
export type TenantStores = { readonly [M in Modules as M['id']]: ReturnType<M['create']> };

/** Which component each module belongs to (and so which backend serves it). */
export const MODULE_COMPONENTS: Readonly<Record<ModuleId, Component>> = Object.fromEntries(
  MODULES.map((module) => [module.id, module.component]),
) as Record<ModuleId, Component>;
