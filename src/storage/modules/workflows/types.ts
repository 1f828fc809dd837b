import * as z from 'zod/mini';
import type { PreciseDate } from '../../values/codecs.js';
import { column, integer, oneOf, pageOptions, signalOption, text, version } from '../../values/fields.js';
import type { CallOptions } from '../../mechanism/module.js';
import type { TransitionGraph } from '../../kit/transitions.js';

/** The statuses of a workflow (the `CHECK` of `workflow_states.status`). */
export const WORKFLOW_STATUSES = ['pending', 'running', 'paused', 'completed', 'failed', 'cancelled'] as const;
export type WorkflowStatus = (typeof WORKFLOW_STATUSES)[number];

/** Where each status may go; completed, failed and cancelled are final. */
export const WORKFLOW_TRANSITIONS: TransitionGraph<WorkflowStatus> = {
  pending: ['running', 'cancelled', 'failed'],
  running: ['paused', 'completed', 'failed', 'cancelled'],
  paused: ['running', 'cancelled', 'failed'],
  completed: [],
  failed: [],
  cancelled: [],
};

/** One workflow execution. */
export interface Workflow {
  workflowId: string;
  name: string;
  status: WorkflowStatus;
  /** The step reached, from 0. */
  currentStep: number;
  /** The execution context (a JSON object). */
  state: Record<string, unknown>;
  /** The error a `failed` or `cancelled` transition recorded, if any. */
  error: string | null;
  version: number;
  createdAt: PreciseDate;
  /** Set when it first becomes `running`. */
  startedAt: PreciseDate | null;
  /** Set when it becomes `completed`, `failed` or `cancelled`. */
  completedAt: PreciseDate | null;
  updatedAt: PreciseDate;
}

/** What `create` takes. */
export interface NewWorkflow {
  /** Default: a random UUID. */
  workflowId?: string;
  name: string;
  /** Default `{}`. */
  state?: Record<string, unknown>;
}

/** What `update` changes: the context, the step, or both. */
export interface WorkflowUpdate {
  state?: Record<string, unknown>;
  currentStep?: number;
}

/** Options of `update`. */
export interface UpdateOptions extends CallOptions {
  /** Update only this version; `CONFLICT` otherwise. */
  expectedVersion?: number;
}

/** Options of `transition`. */
export interface TransitionOptions extends CallOptions {
  /** Recorded with a `failed` or `cancelled` transition. */
  error?: string;
}

/** Options of `list` and `scan`. */
export interface ListOptions extends CallOptions {
  /** Only workflows in this status. */
  status?: WorkflowStatus;
  limit?: number;
  cursor?: string;
}

/** The longest workflow name, in bytes. */
export const MAX_NAME_BYTES = 1024;
/** The longest error text a transition records, in bytes. */
export const MAX_ERROR_BYTES = 65_536;

export const workflowRow = {
  workflowId: column.text(),
  name: column.text(),
  status: z.enum(WORKFLOW_STATUSES),
  currentStep: column.integer(),
  state: column.jsonObject(),
  error: column.nullable(column.text()),
  version: column.integer(),
  createdAt: column.timestamp(),
  startedAt: column.nullable(column.timestamp()),
  completedAt: column.nullable(column.timestamp()),
  updatedAt: column.timestamp(),
};

export const status = () => oneOf(WORKFLOW_STATUSES);
export const step = () => integer(0, 2_147_483_647);
export const newWorkflowKeys = ['workflowId', 'name', 'state'] as const;
export const workflowUpdateKeys = ['state', 'currentStep'] as const;
export const updateOptions = z.strictObject({ expectedVersion: z.optional(version()), ...signalOption });
export const transitionOptions = z.strictObject({
  error: z.optional(text(MAX_ERROR_BYTES, { allowEmpty: true })),
  ...signalOption,
});
export const listOptions = z.strictObject({ status: z.optional(status()), ...pageOptions });
