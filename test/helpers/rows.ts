/**
 * One valid sample row per tenant table of the real schema (`migrations/*.sql`), for behaviour
 * tests: every call makes fresh keys, so a test may insert as many samples as it likes.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';

/** One parameterised statement. */
export interface Statement {
  text: string;
  values: unknown[];
}

/** The dimensions of the vector track's tables (`migrations/vector/0001_vector_embeddings.sql`). */
export const VECTOR_DIMENSIONS = [384, 768, 1536, 3072] as const;

/** The tenant tables of the core track, in an order that respects their foreign keys. */
export const CORE_TENANT_TABLES = [
  'entity_identities',
  'entities',
  'relationships',
  'procedural_memory',
  'agent_state',
  'workflow_states',
  'sessions',
  'artifact_content',
  'artifact_chunks',
  'artifacts',
  'event_log',
  'event_streams',
  'event_consumers',
  'hook_history',
  'api_keys',
  'tenant_erasures',
] as const;

/** The tenant tables of the vector track. */
export const VECTOR_TENANT_TABLES = VECTOR_DIMENSIONS.map((dims) => `vector_embeddings_${dims}` as const);

/** Every tenant table. */
export type TenantTable = (typeof CORE_TENANT_TABLES)[number] | (typeof VECTOR_TENANT_TABLES)[number];

/** A sample row of one table, and how to find it again. */
export interface SampleRow {
  table: TenantTable;
  /** Rows the sample's foreign keys need, inserted first (same tenant). */
  prerequisites: Statement[];
  /** The INSERT of the row itself. */
  insert: Statement;
  /** A condition that picks out exactly this row: `SELECT … FROM llmspell.<table> WHERE ${where.text}`. */
  where: Statement;
}

/** A pgvector literal of `dims` components, e.g. `[0.1,0.1,…]`. */
export function vectorLiteral(dims: number, value = 0.1): string {
  return `[${Array<number>(dims).fill(value).join(',')}]`;
}

function insert(table: string, row: Record<string, unknown>): Statement {
  const columns = Object.keys(row);
  const placeholders = columns.map((_, i) => `$${i + 1}`);
  return {
    text: `INSERT INTO llmspell.${table} (${columns.join(', ')}) VALUES (${placeholders.join(', ')})`,
    values: Object.values(row),
  };
}

function content(tenantId: string): { hash: Buffer; data: Buffer; statement: Statement } {
  const data = randomBytes(64);
  const hash = createHash('sha256').update(data).digest();
  return {
    hash,
    data,
    statement: insert('artifact_content', {
      tenant_id: tenantId,
      content_hash: hash,
      size_bytes: data.length,
      stored_bytes: data.length,
      chunk_count: 1,
    }),
  };
}

/** A fresh valid row of `table` for `tenantId` (and the rows its foreign keys need). */
export function sampleRow(table: TenantTable, tenantId: string): SampleRow {
  const id = randomUUID();
  const byId = (column: string, value: unknown = id): Statement => ({ text: `${column} = $1`, values: [value] });
  const identity = (entityId: string) => insert('entity_identities', { tenant_id: tenantId, entity_id: entityId });
  switch (table) {
    case 'entity_identities':
      return { table, prerequisites: [], insert: identity(id), where: byId('entity_id') };
    case 'entities':
      return {
        table,
        prerequisites: [identity(id)],
        insert: insert(table, { tenant_id: tenantId, entity_id: id, entity_type: 'person', name: 'Ada' }),
        where: byId('entity_id'),
      };
    case 'relationships': {
      const [from, to] = [randomUUID(), randomUUID()];
      return {
        table,
        prerequisites: [identity(from), identity(to)],
        insert: insert(table, {
          tenant_id: tenantId,
          relationship_id: id,
          from_entity_id: from,
          to_entity_id: to,
          relationship_type: 'knows',
        }),
        where: byId('relationship_id'),
      };
    }
    case 'procedural_memory':
      return {
        table,
        prerequisites: [],
        insert: insert(table, {
          tenant_id: tenantId,
          id,
          scope: 'global',
          pattern_key: `key-${id}`,
          pattern_value: 'value',
        }),
        where: byId('id'),
      };
    case 'agent_state':
      return {
        table,
        prerequisites: [],
        insert: insert(table, { tenant_id: tenantId, agent_id: `agent-${id}`, state: { step: 1 } }),
        where: byId('agent_id', `agent-${id}`),
      };
    case 'workflow_states':
      return {
        table,
        prerequisites: [],
        insert: insert(table, { tenant_id: tenantId, workflow_id: `wf-${id}`, name: 'ingest' }),
        where: byId('workflow_id', `wf-${id}`),
      };
    case 'sessions':
      return {
        table,
        prerequisites: [],
        insert: insert(table, { tenant_id: tenantId, session_id: id }),
        where: byId('session_id'),
      };
    case 'artifact_content': {
      const { hash, statement } = content(tenantId);
      return { table, prerequisites: [], insert: statement, where: byId('content_hash', hash) };
    }
    case 'artifact_chunks': {
      const { hash, data, statement } = content(tenantId);
      return {
        table,
        prerequisites: [statement],
        insert: insert(table, { tenant_id: tenantId, content_hash: hash, chunk_index: 0, data }),
        where: byId('content_hash', hash),
      };
    }
    case 'artifacts': {
      const { hash, statement } = content(tenantId);
      const sessionId = randomUUID();
      return {
        table,
        prerequisites: [statement, insert('sessions', { tenant_id: tenantId, session_id: sessionId })],
        insert: insert(table, {
          tenant_id: tenantId,
          artifact_id: id,
          session_id: sessionId,
          name: 'report.txt',
          mime_type: 'text/plain',
          content_hash: hash,
        }),
        where: byId('artifact_id'),
      };
    }
    case 'event_log':
      return {
        table,
        prerequisites: [],
        insert: insert(table, { tenant_id: tenantId, event_id: id, event_type: 'sample', payload: { n: 1 } }),
        where: byId('event_id'),
      };
    case 'event_streams':
      return {
        table,
        prerequisites: [],
        insert: insert(table, { tenant_id: tenantId, stream_id: `stream-${id}`, version: 1 }),
        where: byId('stream_id', `stream-${id}`),
      };
    case 'event_consumers':
      return {
        table,
        prerequisites: [],
        // transaction_id is xid8: sent as text, the INSERT casts it.
        insert: insert(table, {
          tenant_id: tenantId,
          consumer: `consumer-${id}`,
          transaction_id: '1',
          global_position: 1,
        }),
        where: byId('consumer', `consumer-${id}`),
      };
    case 'hook_history':
      return {
        table,
        prerequisites: [],
        insert: insert(table, {
          tenant_id: tenantId,
          execution_id: id,
          hook_id: 'hook-1',
          hook_type: 'pre_tool',
          input: { q: 1 },
          status: 'succeeded',
          duration_ms: 5,
        }),
        where: byId('execution_id'),
      };
    case 'api_keys':
      return {
        table,
        prerequisites: [],
        insert: insert(table, {
          tenant_id: tenantId,
          key_id: id,
          service: `service-${id}`,
          ciphertext: randomBytes(40),
          nonce: randomBytes(12),
          auth_tag: randomBytes(16),
          encryption_key_id: 'test-key',
          key_hint: 'abcd',
        }),
        where: byId('key_id'),
      };
    case 'tenant_erasures':
      return {
        table,
        prerequisites: [],
        insert: insert(table, { tenant_id: tenantId, request_id: id, run_token: randomUUID() }),
        where: byId('request_id'),
      };
    default: {
      const dims = Number(table.slice('vector_embeddings_'.length));
      return {
        table,
        prerequisites: [],
        insert: insert(table, { tenant_id: tenantId, id, scope: 'docs', embedding: vectorLiteral(dims) }),
        where: byId('id'),
      };
    }
  }
}
