import * as z from 'zod/mini';
import type { PreciseDate } from '../../values/codecs.js';
import { column, integer, signalOption } from '../../values/fields.js';
import type { CallOptions } from '../../mechanism/module.js';

/** A learned pattern: how often `key = value` was seen in a scope, and when first and last. */
export interface Pattern {
  id: string;
  scope: string;
  key: string;
  value: string;
  /** How many times it was recorded. */
  frequency: number;
  firstSeen: PreciseDate;
  lastSeen: PreciseDate;
  metadata: Record<string, unknown>;
}

/** Options of `record`. */
export interface RecordOptions extends CallOptions {
  /** Merged (top level) into the pattern's metadata. */
  metadata?: Record<string, unknown>;
}

/** Options of `top`. */
export interface TopOptions extends CallOptions {
  /** Only patterns seen at least this often. */
  minFrequency?: number;
  /** At most this many, 1 to 1000; default 50. */
  limit?: number;
}

/** What `prune` deletes: patterns matching every condition given (at least one of `olderThan`, `maxFrequency`). */
export interface PruneOptions extends CallOptions {
  /** Last seen before this instant. */
  olderThan?: Date;
  /** Seen at most this often. */
  maxFrequency?: number;
  /** Only in this scope. */
  scope?: string;
}

/** The longest scope, in bytes (the `CHECK` of `procedural_memory.scope`). */
export const MAX_SCOPE_BYTES = 512;

export const patternRow = {
  id: column.text(),
  scope: column.text(),
  key: column.text(),
  value: column.text(),
  frequency: column.integer(),
  firstSeen: column.timestamp(),
  lastSeen: column.timestamp(),
  metadata: column.jsonObject(),
};

export const frequency = () => integer(1, Number.MAX_SAFE_INTEGER);
export const recordOptionKeys = ['metadata', 'signal'] as const;
export const topOptions = z.strictObject({
  minFrequency: z.optional(frequency()),
  limit: z.optional(integer(1, 1000)),
  ...signalOption,
});
export const pruneOptionKeys = ['olderThan', 'maxFrequency', 'scope', 'signal'] as const;
