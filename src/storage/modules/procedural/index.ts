/** Procedural memory: patterns counted by frequency and first/last seen (component `memory`). */
import { defineModule } from '../../mechanism/module.js';
import * as sql from './sql.js';
import { DefaultProceduralStore, type ProceduralStore } from './store.js';

export type { ProceduralStore };
export type { Pattern, PruneOptions, RecordOptions, TopOptions } from './types.js';

export const proceduralModule = defineModule({
  id: 'procedural',
  component: 'memory',
  statements: sql,
  owner: { tables: [{ name: 'procedural_memory', key: ['id'] }] },
  create: (context): ProceduralStore => new DefaultProceduralStore(context),
});
