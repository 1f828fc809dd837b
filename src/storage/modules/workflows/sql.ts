/**
 * The statements of workflows, over `llmspell.workflow_states` (migration 0006): one workflow
 * through the primary key `(tenant_id, workflow_id)`; `list` walks that key in order (with a
 * status, filtered on the way).
 */
import * as z from 'zod/mini';
import { column, identifier, integer, jsonObject, text, version } from '../../values/fields.js';
import { statement } from '../../mechanism/statement.js';
import { MAX_ERROR_BYTES, MAX_NAME_BYTES, status, step, workflowRow, WORKFLOW_STATUSES } from './types.js';

const RETURNED = `workflow_id AS "workflowId", name, status, current_step AS "currentStep", state, error, version,
  created_at AS "createdAt", started_at AS "startedAt", completed_at AS "completedAt", updated_at AS "updatedAt"`;

export const create = statement({
  name: 'workflows.create',
  sql: `INSERT INTO llmspell.workflow_states (tenant_id, workflow_id, name, state)
        VALUES ($tenant, COALESCE($workflowId, gen_random_uuid()::text), $name, COALESCE($state::jsonb, '{}'))
        RETURNING ${RETURNED}`,
  params: { workflowId: z.optional(identifier()), name: text(MAX_NAME_BYTES), state: z.optional(jsonObject()) },
  row: workflowRow,
});

export const get = statement({
  name: 'workflows.get',
  sql: `SELECT ${RETURNED} FROM llmspell.workflow_states WHERE tenant_id = $tenant AND workflow_id = $workflowId`,
  params: { workflowId: identifier() },
  row: workflowRow,
});

/** Version and status alone, to explain a write that changed nothing. */
export const current = statement({
  name: 'workflows.current',
  sql: `SELECT version, status FROM llmspell.workflow_states WHERE tenant_id = $tenant AND workflow_id = $workflowId`,
  params: { workflowId: identifier() },
  row: { version: column.integer(), status: z.enum(WORKFLOW_STATUSES) },
});

export const update = statement({
  name: 'workflows.update',
  sql: `UPDATE llmspell.workflow_states
           SET state = COALESCE($state::jsonb, state), current_step = COALESCE($currentStep::int, current_step),
               version = version + 1, updated_at = now()
         WHERE tenant_id = $tenant AND workflow_id = $workflowId
           AND ($expectedVersion::bigint IS NULL OR version = $expectedVersion)
        RETURNING ${RETURNED}`,
  params: {
    workflowId: identifier(),
    state: z.optional(jsonObject()),
    currentStep: z.optional(step()),
    expectedVersion: z.optional(version()),
  },
  row: workflowRow,
});

/**
 * Moves a workflow to `$to` only from one of `$from` (the statuses the graph allows), so that of
 * two concurrent transitions the second re-reads the row after the first and changes nothing.
 * `started_at` is set on the first start; `completed_at` on a final status, never before
 * `started_at` (a transaction that began earlier may commit later).
 */
export const transition = statement({
  name: 'workflows.transition',
  sql: `WITH clock AS MATERIALIZED (SELECT now() AS at)
        UPDATE llmspell.workflow_states
           SET status = $to,
               started_at = CASE WHEN $to = 'running' THEN COALESCE(started_at, clock.at) ELSE started_at END,
               completed_at = CASE WHEN $to IN ('completed', 'failed', 'cancelled') THEN GREATEST(clock.at, started_at) END,
               error = CASE WHEN $to IN ('failed', 'cancelled') THEN $error ELSE error END,
               version = version + 1, updated_at = clock.at
          FROM clock
         WHERE tenant_id = $tenant AND workflow_id = $workflowId AND status = ANY ($from::text[])
        RETURNING ${RETURNED}`,
  params: {
    workflowId: identifier(),
    to: status(),
    from: z.array(status()),
    error: z.optional(text(MAX_ERROR_BYTES, { allowEmpty: true })),
  },
  row: workflowRow,
});

/** A page in workflow-id order through the primary key, optionally of one status. */
export const list = statement({
  name: 'workflows.list',
  sql: `SELECT ${RETURNED} FROM llmspell.workflow_states
         WHERE tenant_id = $tenant AND ($status::text IS NULL OR status = $status)
           AND ($after::text IS NULL OR workflow_id > $after)
         ORDER BY workflow_id LIMIT $limit`,
  params: { status: z.optional(status()), after: z.optional(identifier()), limit: integer(1, 1001) },
  row: workflowRow,
});
