/**
 * API keys (component `core`): so far their owner face alone — a forgotten tenant's keys
 * (migration 0011), in one statement since a key refers to the one it replaced; the tenant store
 * comes with the API-key module.
 */
import { defineModule } from '../../mechanism/module.js';

export const apiKeysModule = defineModule({
  id: 'apiKeys',
  component: 'core',
  statements: {},
  owner: { tables: [{ name: 'api_keys', key: ['key_id'], batched: false }] },
});
