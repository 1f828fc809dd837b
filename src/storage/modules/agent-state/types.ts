import * as z from 'zod/mini';
import type { PreciseDate } from '../../values/codecs.js';
import { column, identifier, pageOptions, signalOption, version } from '../../values/fields.js';
import type { CallOptions } from '../../mechanism/module.js';

/** The stored state of one agent. */
export interface AgentState {
  agentId: string;
  /** The state document (a JSON object). */
  state: Record<string, unknown>;
  /** 1 when created, one more at each write: pass it as `expectedVersion` to write only over what you read. */
  version: number;
  createdAt: PreciseDate;
  updatedAt: PreciseDate;
}

/** Options of `put`, `patch` and `delete`. */
export interface WriteOptions extends CallOptions {
  /** Write only if the stored version is this one (0: only if there is none yet); otherwise `CONFLICT`. */
  expectedVersion?: number;
}

/** Options of `list` and `scan`. */
export interface ListOptions extends CallOptions {
  /** Page size, 1 to 1000; default 50. */
  limit?: number;
  /** The `nextCursor` of the page before. */
  cursor?: string;
}

/** The columns of an agent-state row, named as in {@link AgentState}. */
export const agentStateRow = {
  agentId: column.text(),
  state: column.jsonObject(),
  version: column.integer(),
  createdAt: column.timestamp(),
  updatedAt: column.timestamp(),
};

export const agentId = identifier;
export const writeOptions = z.strictObject({ expectedVersion: z.optional(version()), ...signalOption });
export const listOptions = z.strictObject(pageOptions);
