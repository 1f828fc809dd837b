/**
 * The bi-temporal knowledge graph (component `memory`): so far its owner face alone — a forgotten
 * tenant's entities and relationships (migration 0003); the tenant store comes with the graph module.
 */
import { defineModule } from '../../mechanism/module.js';

export const graphModule = defineModule({
  id: 'graph',
  component: 'memory',
  statements: {},
  owner: {
    tables: [
      { name: 'relationships', key: ['version_id'] },
      { name: 'entities', key: ['version_id'] },
      { name: 'entity_identities', key: ['entity_id'] },
    ],
  },
});
