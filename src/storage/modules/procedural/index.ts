/** Procedural memory: patterns counted by frequency and first/last seen (component `memory`). */
import { defineModule } from '../../mechanism/module.js';
import * as sql from './sql.js';
import { ProceduralStore } from './store.js';

export { ProceduralStore };
export type { Pattern, PruneOptions, RecordOptions, TopOptions } from './types.js';

export const proceduralModule = defineModule({
  id: 'procedural',
  component: 'memory',
  statements: sql,
  owner: { tables: [{ name: 'procedural_memory', key: ['id'] }] },
  create: (context) => new ProceduralStore(context),
});
