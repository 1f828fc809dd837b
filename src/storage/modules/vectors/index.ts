/** Vector embeddings: similarity search under tenants, scopes and metadata filters (component `memory`). */
import { defineModule } from '../../mechanism/module.js';
import { vectorIndexesCheck } from './health.js';
import { vectorIndexMaintenance } from './maintenance.js';
import * as sql from './sql.js';
import { DefaultVectorStore, type VectorStore, type VectorSettings } from './store.js';

export type { VectorStore };
import { VECTOR_DIMENSIONS } from './types.js';

export { VECTOR_DIMENSIONS };
export type {
  DimensionStats,
  SearchOptions,
  SearchResult,
  SearchRoute,
  StoredVector,
  VectorDimension,
  VectorEntry,
  UpsertOptions,
  VectorHit,
  VectorIndexKind,
  VectorRecord,
  VectorSelection,
  VectorStats,
} from './types.js';

export const vectorsModule = defineModule({
  id: 'vectors',
  component: 'memory',
  statements: sql,
  owner: {
    tables: VECTOR_DIMENSIONS.map((dims) => ({ name: `vector_embeddings_${dims}`, key: ['id'] })),
    maintenance: vectorIndexMaintenance,
    health: [vectorIndexesCheck],
  },
  settings: ({ max_document_bytes, vector_embeddings }): VectorSettings => ({ max_document_bytes, vector_embeddings }),
  migrationHint:
    'Run `llmspell database migrate` with storage.postgres.vector_embeddings.enabled = true (the server needs pgvector or VectorChord).',
  create: (context): VectorStore => new DefaultVectorStore(context),
});
