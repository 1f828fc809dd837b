/** Agent state: one versioned JSON document per agent (component `state`). */
import { defineModule } from '../../mechanism/module.js';
import * as sql from './sql.js';
import { DefaultAgentStateStore, type AgentStateStore } from './store.js';

export type { AgentStateStore };
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
  create: (context): AgentStateStore => new DefaultAgentStateStore(context),
});
