import { decodeCursor, pageSize, toPage, type Page } from '../../kit/cursor.js';
import { itemsOf } from '../../mechanism/streaming.js';
import { conflict, invalidInput, notFound, StorageError } from '../../mechanism/errors.js';
import { callOf, checkKeys, identifier, parseInput } from '../../values/fields.js';
import type { CallOptions, ModuleContext, StoreInterface } from '../../mechanism/module.js';
import { invalidTransition, predecessors } from '../../kit/transitions.js';
import { missedWrite } from '../../kit/versions.js';
import * as sql from './sql.js';
import {
  listOptions,
  newWorkflowKeys,
  status,
  transitionOptions,
  updateOptions,
  workflowUpdateKeys,
  WORKFLOW_TRANSITIONS,
  type ListOptions,
  type NewWorkflow,
  type TransitionOptions,
  type UpdateOptions,
  type Workflow,
  type WorkflowStatus,
  type WorkflowUpdate,
} from './types.js';

const what = (workflowId: string) => `workflow ${JSON.stringify(workflowId)}`;

/**
 * A tenant's workflow executions: status along an allowed graph, the step reached, the context,
 * and lifecycle timestamps. Reach it as `storage.tenant(id).workflows`.
 */
export class DefaultWorkflowStore {
  constructor(private readonly context: ModuleContext) {}

  /** Creates a `pending` workflow; `CONFLICT` when the id is taken. */
  async create(input: NewWorkflow, options: CallOptions = {}): Promise<Workflow> {
    const { workflowId, name, state } = checkKeys('workflows.create', 'input', input, newWorkflowKeys);
    const call = callOf('workflows.create', options);
    try {
      return await this.context.one(sql.create, { workflowId, name, state }, call);
    } catch (error) {
      if (error instanceof StorageError && error.code === 'CONFLICT' && workflowId !== undefined) {
        throw conflict('workflows.create', `${what(workflowId)} exists already`, error.details);
      }
      throw error;
    }
  }

  /** The workflow; `NOT_FOUND` when there is none. */
  async get(workflowId: string, options: CallOptions = {}): Promise<Workflow> {
    const row = await this.context.first(sql.get, { workflowId }, callOf('workflows.get', options));
    if (!row) throw notFound('workflows.get', what(workflowId));
    return row;
  }

  /**
   * Replaces the context (`state`) and/or sets the step reached. With `expectedVersion`, only
   * over that version (`CONFLICT` otherwise). The status changes only by {@link transition}.
   */
  async update(workflowId: string, changes: WorkflowUpdate, options: UpdateOptions = {}): Promise<Workflow> {
    const { state, currentStep } = checkKeys('workflows.update', 'changes', changes, workflowUpdateKeys);
    if (state === undefined && currentStep === undefined) {
      throw invalidInput('workflows.update', 'changes', 'must set state, currentStep or both');
    }
    const call = parseInput('workflows.update', updateOptions, options);
    const { expectedVersion } = call;
    const row = await this.context.first(sql.update, { workflowId, state, currentStep, expectedVersion }, call);
    if (row) return row;
    const now = await this.#current(workflowId, call);
    throw missedWrite('workflows.update', what(workflowId), now?.version, expectedVersion);
  }

  /**
   * Moves the workflow to `to` if the graph allows it from its status now (pending → running,
   * cancelled, failed; running → paused, completed, failed, cancelled; paused → running,
   * cancelled, failed); otherwise `INVALID_TRANSITION` and nothing is written. Sets `startedAt`
   * on the first start and `completedAt` on a final status; `error` is recorded with `failed` or
   * `cancelled`. Of two concurrent transitions from the same status, one wins and the other is
   * `INVALID_TRANSITION`.
   */
  async transition(workflowId: string, to: WorkflowStatus, options: TransitionOptions = {}): Promise<Workflow> {
    const target = parseInput('workflows.transition', status(), to, 'to');
    const call = parseInput('workflows.transition', transitionOptions, options);
    const { error } = call;
    if (error !== undefined && target !== 'failed' && target !== 'cancelled') {
      throw invalidInput('workflows.transition', 'error', `is recorded only with failed or cancelled, not ${target}`);
    }
    const from = predecessors(WORKFLOW_TRANSITIONS, target);
    const row =
      from.length === 0
        ? undefined
        : await this.context.first(sql.transition, { workflowId, to: target, from, error }, call);
    if (row) return row;
    // It changed nothing: say why, from the row as it is now (a concurrent transition may have won).
    const now = await this.#current(workflowId, call);
    if (!now) throw notFound('workflows.transition', what(workflowId));
    throw invalidTransition('workflows.transition', what(workflowId), WORKFLOW_TRANSITIONS, now.status, target);
  }

  /**
   * Every one of the tenant's workflows in workflow-id order (optionally of one status), page after page: each page ({@link list}'s `limit`, default 50)
   * is read in a transaction of its own, so nothing is held between pages. Options as `list`.
   *
   * @example
   * for await (const item of store.scan({ limit: 500 })) handle(item);
   */
  scan(options: ListOptions = {}): AsyncGenerator<Workflow, void, undefined> {
    return itemsOf((cursor) => this.list(cursor === undefined ? options : { ...options, cursor }));
  }

  /** The tenant's workflows in workflow-id order, optionally of one status, a page at a time. */
  async list(options: ListOptions = {}): Promise<Page<Workflow>> {
    const call = parseInput('workflows.list', listOptions, options);
    const { status: only, limit, cursor } = call;
    const size = pageSize(limit);
    const listName = `workflows:${only ?? '*'}`;
    const [after] = (decodeCursor('workflows.list', listName, cursor, [identifier()]) ?? []) as [string?];
    const rows = await this.context.all(sql.list, { status: only, after, limit: size + 1 }, undefined, call);
    return toPage(listName, rows, size, (row) => [row.workflowId]);
  }

  #current(workflowId: string, call: CallOptions) {
    return this.context.first(sql.current, { workflowId }, call);
  }
}

/**
 * The store a tenant view holds: the public methods of {@link DefaultWorkflowStore}, as a plain
 * object type (no private members), so that a framework can write a test double or another
 * implementation of it.
 */
export type WorkflowStore = StoreInterface<DefaultWorkflowStore>;
