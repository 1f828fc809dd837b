/**
 * The statements of agent state, over `llmspell.agent_state` (migration 0005). Every one reads or
 * writes one agent through the primary key `(tenant_id, agent_id)`, and `list` walks it in order.
 */
import * as z from 'zod/mini';
import { column, identifier, integer, jsonObject, version } from '../../values/fields.js';
import { statement } from '../../mechanism/statement.js';
import { agentStateRow } from './types.js';

const RETURNED = `agent_id AS "agentId", state, version, created_at AS "createdAt", updated_at AS "updatedAt"`;

export const get = statement({
  name: 'agentState.get',
  sql: `SELECT ${RETURNED} FROM llmspell.agent_state WHERE tenant_id = $tenant AND agent_id = $agentId`,
  params: { agentId: identifier() },
  row: agentStateRow,
});

/** The version alone, to tell a stale `expectedVersion` from a missing agent. */
export const currentVersion = statement({
  name: 'agentState.version',
  sql: `SELECT version FROM llmspell.agent_state WHERE tenant_id = $tenant AND agent_id = $agentId`,
  params: { agentId: identifier() },
  row: { version: column.integer() },
});

/** `put` without an expected version: create, or replace and bump the version. */
export const upsert = statement({
  name: 'agentState.put',
  sql: `INSERT INTO llmspell.agent_state AS a (tenant_id, agent_id, state, updated_at)
        VALUES ($tenant, $agentId, $state::jsonb, now())
        ON CONFLICT (tenant_id, agent_id)
        DO UPDATE SET state = excluded.state, version = a.version + 1, updated_at = excluded.updated_at
        RETURNING ${RETURNED}`,
  params: { agentId: identifier(), state: jsonObject() },
  row: agentStateRow,
});

/** `put` with `expectedVersion: 0`: create only. */
export const insert = statement({
  name: 'agentState.put',
  sql: `INSERT INTO llmspell.agent_state (tenant_id, agent_id, state) VALUES ($tenant, $agentId, $state::jsonb)
        ON CONFLICT (tenant_id, agent_id) DO NOTHING
        RETURNING ${RETURNED}`,
  params: { agentId: identifier(), state: jsonObject() },
  row: agentStateRow,
});

/** `put` with an expected version ≥ 1: replace only that version. */
export const replace = statement({
  name: 'agentState.put',
  sql: `UPDATE llmspell.agent_state SET state = $state::jsonb, version = version + 1, updated_at = now()
         WHERE tenant_id = $tenant AND agent_id = $agentId AND version = $expectedVersion
        RETURNING ${RETURNED}`,
  params: { agentId: identifier(), state: jsonObject(), expectedVersion: version() },
  row: agentStateRow,
});

/**
 * A top-level JSON merge done by the server in one statement, so that concurrent patches of
 * different keys all survive: each key of the patch replaces the stored one, and a key whose value
 * is `null` is removed (RFC 7396 at the top level; nested objects are replaced whole).
 */
export const patch = statement({
  name: 'agentState.patch',
  sql: `UPDATE llmspell.agent_state
           SET state = (state || $partial::jsonb)
                       - ARRAY(SELECT key FROM jsonb_each($partial::jsonb) WHERE value = 'null'::jsonb),
               version = version + 1, updated_at = now()
         WHERE tenant_id = $tenant AND agent_id = $agentId
           AND ($expectedVersion::bigint IS NULL OR version = $expectedVersion)
        RETURNING ${RETURNED}`,
  params: { agentId: identifier(), partial: jsonObject(), expectedVersion: z.optional(version()) },
  row: agentStateRow,
});

export const remove = statement({
  name: 'agentState.delete',
  sql: `DELETE FROM llmspell.agent_state
         WHERE tenant_id = $tenant AND agent_id = $agentId
           AND ($expectedVersion::bigint IS NULL OR version = $expectedVersion)`,
  params: { agentId: identifier(), expectedVersion: z.optional(version()) },
});

/** A page in agent-id order, through the primary key. */
export const list = statement({
  name: 'agentState.list',
  sql: `SELECT ${RETURNED} FROM llmspell.agent_state
         WHERE tenant_id = $tenant AND ($after::text IS NULL OR agent_id > $after)
         ORDER BY agent_id LIMIT $limit`,
  params: { after: z.optional(identifier()), limit: integer(1, 1001) },
  row: agentStateRow,
});
