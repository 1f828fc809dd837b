/** Workflows: executions with a status graph, steps, context and lifecycle timestamps (component `state`). */
import { defineModule } from '../../mechanism/module.js';
import * as sql from './sql.js';
import { DefaultWorkflowStore, type WorkflowStore } from './store.js';

export type { WorkflowStore };
export { WORKFLOW_STATUSES, WORKFLOW_TRANSITIONS } from './types.js';
export type {
  ListOptions as WorkflowListOptions,
  NewWorkflow,
  TransitionOptions,
  UpdateOptions as WorkflowUpdateOptions,
  Workflow,
  WorkflowStatus,
  WorkflowUpdate,
} from './types.js';

export const workflowsModule = defineModule({
  id: 'workflows',
  component: 'state',
  statements: sql,
  owner: { tables: [{ name: 'workflow_states', key: ['workflow_id'] }] },
  create: (context): WorkflowStore => new DefaultWorkflowStore(context),
});
