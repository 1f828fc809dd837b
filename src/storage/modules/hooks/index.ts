/**
 * Hook history (component `core`): so far its owner face alone — a forgotten tenant's hook
 * executions (migration 0010); the tenant store comes with the hook-history module.
 */
import { defineModule } from '../../mechanism/module.js';

export const hooksModule = defineModule({
  id: 'hooks',
  component: 'core',
  statements: {},
  owner: { tables: [{ name: 'hook_history', key: ['execution_id'] }] },
});
