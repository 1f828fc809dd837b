import * as z from 'zod/mini';
import type { PreciseDate } from '../../values/codecs.js';
import { column, oneOf, pageOptions } from '../../values/fields.js';
import type { CallOptions } from '../../mechanism/module.js';
import type { TransitionGraph } from '../../kit/transitions.js';

/** The statuses of a session (the `CHECK` of `sessions.status`). */
export const SESSION_STATUSES = ['active', 'suspended', 'completed', 'expired', 'archived'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/**
 * Where each status may go: `update` moves between active, suspended and completed; `expire()`
 * moves active sessions past their expiry to expired; `archive` takes any session to archived,
 * which is final.
 */
export const SESSION_TRANSITIONS: TransitionGraph<SessionStatus> = {
  active: ['suspended', 'completed', 'expired', 'archived'],
  suspended: ['active', 'completed', 'archived'],
  completed: ['archived'],
  expired: ['archived'],
  archived: [],
};

/** The statuses `update` may set (`expired` is `expire()`'s, `archived` is `archive`'s). */
export const UPDATABLE_STATUSES = ['active', 'suspended', 'completed'] as const;

/** One session. */
export interface Session {
  /** A UUID chosen by the database. */
  sessionId: string;
  status: SessionStatus;
  metadata: Record<string, unknown>;
  createdAt: PreciseDate;
  updatedAt: PreciseDate;
  lastAccessedAt: PreciseDate;
  /** When it expires (`expire()` marks it then); `null`: never. */
  expiresAt: PreciseDate | null;
}

/** What `create` takes: at most one of `ttlSeconds` and `expiresAt`. */
export interface NewSession {
  /** Expire this many seconds after creation (1 to 10 years' worth). */
  ttlSeconds?: number;
  /** Expire at this instant, in the future. */
  expiresAt?: Date;
  metadata?: Record<string, unknown>;
}

/** What `update` changes. */
export interface SessionUpdate {
  /** Replaces the metadata. */
  metadata?: Record<string, unknown>;
  /** active, suspended or completed, as the status graph allows. */
  status?: (typeof UPDATABLE_STATUSES)[number];
}

/** Options of `list` and `scan`. */
export interface ListOptions extends CallOptions {
  status?: SessionStatus;
  limit?: number;
  cursor?: string;
}

/** The longest `ttlSeconds`: ten years. */
export const MAX_TTL_SECONDS = 10 * 366 * 24 * 3600;

export const sessionRow = {
  sessionId: column.text(),
  status: z.enum(SESSION_STATUSES),
  metadata: column.jsonObject(),
  createdAt: column.timestamp(),
  updatedAt: column.timestamp(),
  lastAccessedAt: column.timestamp(),
  expiresAt: column.nullable(column.timestamp()),
};

export const status = () => oneOf(SESSION_STATUSES);
export const newSessionKeys = ['ttlSeconds', 'expiresAt', 'metadata'] as const;
export const sessionUpdateKeys = ['metadata', 'status'] as const;
export const listOptions = z.strictObject({ status: z.optional(status()), ...pageOptions });
