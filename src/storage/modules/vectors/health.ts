import { check, VECTORS_DISABLED } from '../../../health/check.js';
import { TENANT_INDEX_PATTERN } from './tenant-indexes.js';

/** The per-tenant partial vector indexes maintenance keeps: how many, and none left invalid by an interrupted build. */
export const vectorIndexesCheck = check('vector-indexes', async ({ client, settings }) => {
  const config = settings.storage.postgres.vector_embeddings;
  if (!config.enabled) return { ...VECTORS_DISABLED, id: 'vector-indexes' };
  const { rows } = await client.query<{ tables: boolean; valid: number; invalid: number }>(
    `SELECT to_regclass('llmspell.vector_embeddings_384') IS NOT NULL AS tables,
            count(*) FILTER (WHERE i.indisvalid)::int AS valid, count(*) FILTER (WHERE NOT i.indisvalid)::int AS invalid
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'llmspell' AND c.relname ~ '${TENANT_INDEX_PATTERN}'`,
  );
  const row = rows[0]!;
  if (!row.tables)
    return { id: 'vector-indexes', status: 'skip', summary: 'Tenant vector indexes: no vector tables yet' };
  const data = {
    indexes: row.valid,
    invalid: row.invalid,
    max: config.max_tenant_indexes,
    minRows: config.tenant_index_min_rows,
  };
  if (row.invalid > 0) {
    return {
      id: 'vector-indexes',
      status: 'warn',
      summary: `${row.invalid} tenant vector index(es) left invalid by an interrupted build`,
      hint: 'Run `llmspell database maintain`: it drops invalid indexes and builds them again.',
      data,
    };
  }
  return {
    id: 'vector-indexes',
    status: 'ok',
    summary: `Tenant vector indexes: ${row.valid} (at most ${config.max_tenant_indexes}, for tenants with ${config.tenant_index_min_rows}+ rows)`,
    data,
  };
});
