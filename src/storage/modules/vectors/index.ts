/** Vector embeddings: similarity search under tenants, scopes and metadata filters (component `memory`). */
import { defineModule } from '../../mechanism/module.js';
import { VectorStore } from './store.js';

export { VectorStore };
export { VECTOR_DIMENSIONS } from './types.js';
export type {
  DimensionStats,
  SearchOptions,
  SearchResult,
  SearchRoute,
  StoredVector,
  VectorDimension,
  VectorEntry,
  VectorHit,
  VectorIndexKind,
  VectorRecord,
  VectorSelection,
  VectorStats,
} from './types.js';

export const vectorsModule = defineModule({
  id: 'vectors',
  component: 'memory',
  create: (context) => new VectorStore(context),
});
