/**
 * Artifacts (component `core`): so far their owner face alone — a forgotten tenant's artifacts
 * and content (migration 0008); the tenant store comes with the artifacts module.
 */
import { defineModule } from '../../mechanism/module.js';

export const artifactsModule = defineModule({
  id: 'artifacts',
  component: 'core',
  statements: {},
  owner: {
    tables: [
      { name: 'artifacts', key: ['artifact_id'] },
      { name: 'artifact_chunks', key: ['content_hash', 'chunk_index'] },
      { name: 'artifact_content', key: ['content_hash'] },
    ],
  },
});
