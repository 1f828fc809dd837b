/**
 * The statements of sessions, over `llmspell.sessions` (migration 0007): one session through the
 * primary key `(tenant_id, session_id)`; `list` walks `sessions_tenant_created` in creation
 * order; `expire` reads the partial index `sessions_expiring` of active sessions.
 */
import * as z from 'zod/mini';
import { cursorTimestamp, integer, jsonObject, oneOf, timestamp, uuid } from '../../values/fields.js';
import { statement } from '../../mechanism/statement.js';
import { MAX_TTL_SECONDS, SESSION_STATUSES, sessionRow, status, UPDATABLE_STATUSES } from './types.js';

const RETURNED = `session_id AS "sessionId", status, metadata, created_at AS "createdAt", updated_at AS "updatedAt",
  last_accessed_at AS "lastAccessedAt", expires_at AS "expiresAt"`;

export const create = statement({
  name: 'sessions.create',
  sql: `INSERT INTO llmspell.sessions (tenant_id, metadata, expires_at)
        VALUES ($tenant, COALESCE($metadata::jsonb, '{}'),
                CASE WHEN $ttlSeconds::int IS NULL THEN $expiresAt::timestamptz
                     ELSE now() + make_interval(secs => $ttlSeconds) END)
        RETURNING ${RETURNED}`,
  params: {
    metadata: z.optional(jsonObject()),
    ttlSeconds: z.optional(integer(1, MAX_TTL_SECONDS)),
    expiresAt: z.optional(timestamp({ future: true })),
  },
  row: sessionRow,
});

export const get = statement({
  name: 'sessions.get',
  sql: `SELECT ${RETURNED} FROM llmspell.sessions WHERE tenant_id = $tenant AND session_id = $sessionId`,
  params: { sessionId: uuid() },
  row: sessionRow,
});

export const currentStatus = statement({
  name: 'sessions.status',
  sql: `SELECT status FROM llmspell.sessions WHERE tenant_id = $tenant AND session_id = $sessionId`,
  params: { sessionId: uuid() },
  row: { status: z.enum(SESSION_STATUSES) },
});

/** Records an access; never moves `last_accessed_at` back (a transaction that began earlier may commit later). */
export const touch = statement({
  name: 'sessions.touch',
  sql: `UPDATE llmspell.sessions SET last_accessed_at = GREATEST(last_accessed_at, now())
         WHERE tenant_id = $tenant AND session_id = $sessionId
        RETURNING ${RETURNED}`,
  params: { sessionId: uuid() },
  row: sessionRow,
});

/** Replaces the metadata and/or moves the status, the latter only from one of `$from`. */
export const update = statement({
  name: 'sessions.update',
  sql: `UPDATE llmspell.sessions
           SET metadata = COALESCE($metadata::jsonb, metadata), status = COALESCE($status, status), updated_at = now()
         WHERE tenant_id = $tenant AND session_id = $sessionId
           AND ($status::text IS NULL OR status = ANY ($from::text[]))
        RETURNING ${RETURNED}`,
  params: {
    sessionId: uuid(),
    metadata: z.optional(jsonObject()),
    status: z.optional(oneOf(UPDATABLE_STATUSES)),
    from: z.array(status()),
  },
  row: sessionRow,
});

/** Archives a session that is not archived yet. */
export const archive = statement({
  name: 'sessions.archive',
  sql: `UPDATE llmspell.sessions SET status = 'archived', updated_at = now()
         WHERE tenant_id = $tenant AND session_id = $sessionId AND status <> 'archived'
        RETURNING ${RETURNED}`,
  params: { sessionId: uuid() },
  row: sessionRow,
});

/** Marks every active session past its expiry as expired (through `sessions_expiring`). */
export const expire = statement({
  name: 'sessions.expire',
  sql: `UPDATE llmspell.sessions SET status = 'expired', updated_at = now()
         WHERE tenant_id = $tenant AND status = 'active' AND expires_at <= now()`,
  params: {},
});

/** A page in creation order (then session id), through `sessions_tenant_created`. */
export const list = statement({
  name: 'sessions.list',
  sql: `SELECT ${RETURNED} FROM llmspell.sessions
         WHERE tenant_id = $tenant AND ($status::text IS NULL OR status = $status)
           AND ($afterCreated::timestamptz IS NULL OR (created_at, session_id) > ($afterCreated, $afterId::uuid))
         ORDER BY created_at, session_id LIMIT $limit`,
  params: {
    status: z.optional(status()),
    afterCreated: z.optional(cursorTimestamp()),
    afterId: z.optional(uuid()),
    limit: integer(1, 1001),
  },
  row: sessionRow,
});
