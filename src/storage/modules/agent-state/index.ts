/** Agent state: one versioned JSON document per agent (component `state`). */
import { defineModule } from '../../mechanism/module.js';
import * as sql from './sql.js';
import { AgentStateStore } from './store.js';

export { AgentStateStore };
export type {
  AgentState,
  ListOptions as AgentStateListOptions,
  WriteOptions as AgentStateWriteOptions,
} from './types.js';

export const agentStateModule = defineModule({
  id: 'agentState',
  component: 'state',
  statements: sql,
  owner: { tables: [{ name: 'agent_state', key: ['agent_id'] }] },
  create: (context) => new AgentStateStore(context),
});
