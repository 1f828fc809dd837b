import { decodeCursor, pageSize, toPage, type Page } from '../../kit/cursor.js';
import { itemsOf } from '../../mechanism/streaming.js';
import { notFound } from '../../mechanism/errors.js';
import { callOf, identifier, parseInput } from '../../values/fields.js';
import type { CallOptions, ModuleContext, StoreInterface } from '../../mechanism/module.js';
import { missedWrite } from '../../kit/versions.js';
import * as sql from './sql.js';
import { listOptions, writeOptions, type AgentState, type ListOptions, type WriteOptions } from './types.js';

const what = (agentId: string) => `agent state ${JSON.stringify(agentId)}`;

/**
 * The state of a tenant's agents: one JSON document per agent id, versioned for optimistic
 * concurrency. Reach it as `storage.tenant(id).agentState`.
 */
export class DefaultAgentStateStore {
  constructor(private readonly context: ModuleContext) {}

  /** The agent's state; `NOT_FOUND` when it has none. */
  async get(agentId: string, options: CallOptions = {}): Promise<AgentState> {
    const row = await this.context.first(sql.get, { agentId }, callOf('agentState.get', options));
    if (!row) throw notFound('agentState.get', what(agentId));
    return row;
  }

  /**
   * Stores `state` as the agent's whole state (creating it at version 1, or replacing it and
   * adding one to the version). With `expectedVersion`, only over that version (0: only if the
   * agent has no state yet); otherwise `CONFLICT` and nothing is written.
   */
  async put(agentId: string, state: Record<string, unknown>, options: WriteOptions = {}): Promise<AgentState> {
    const call = parseInput('agentState.put', writeOptions, options);
    const { expectedVersion } = call;
    const row =
      expectedVersion === undefined
        ? await this.context.first(sql.upsert, { agentId, state }, call)
        : expectedVersion === 0
          ? await this.context.first(sql.insert, { agentId, state }, call)
          : await this.context.first(sql.replace, { agentId, state, expectedVersion }, call);
    return row ?? this.#missed('agentState.put', agentId, call);
  }

  /**
   * Merges `partial` into the agent's state on the server, atomically (concurrent patches of
   * different keys all survive): each key replaces the stored one, a key set to `null` is
   * removed, nested objects are replaced whole. `NOT_FOUND` when the agent has no state;
   * `CONFLICT` when `expectedVersion` is given and stale.
   */
  async patch(agentId: string, partial: Record<string, unknown>, options: WriteOptions = {}): Promise<AgentState> {
    const call = parseInput('agentState.patch', writeOptions, options);
    const row = await this.context.first(sql.patch, { agentId, partial, expectedVersion: call.expectedVersion }, call);
    return row ?? this.#missed('agentState.patch', agentId, call);
  }

  /**
   * Deletes the agent's state; false when it had none. With `expectedVersion`, only that version
   * (`CONFLICT` otherwise, `NOT_FOUND` when there is none).
   */
  async delete(agentId: string, options: WriteOptions = {}): Promise<boolean> {
    const call = parseInput('agentState.delete', writeOptions, options);
    const deleted = await this.context.count(sql.remove, { agentId, expectedVersion: call.expectedVersion }, call);
    if (deleted > 0) return true;
    if (call.expectedVersion === undefined) return false;
    return this.#missed('agentState.delete', agentId, call);
  }

  /**
   * Every one of the tenant's agents in agent-id order, page after page: each page ({@link list}'s `limit`, default 50)
   * is read in a transaction of its own, so nothing is held between pages. Options as `list`.
   *
   * @example
   * for await (const item of store.scan({ limit: 500 })) handle(item);
   */
  scan(options: ListOptions = {}): AsyncGenerator<AgentState, void, undefined> {
    return itemsOf((cursor) => this.list(cursor === undefined ? options : { ...options, cursor }));
  }

  /** The tenant's agents in agent-id order, a page at a time. */
  async list(options: ListOptions = {}): Promise<Page<AgentState>> {
    const call = parseInput('agentState.list', listOptions, options);
    const size = pageSize(call.limit);
    const [after] = (decodeCursor('agentState.list', 'agentState', call.cursor, [identifier()]) ?? []) as [string?];
    const rows = await this.context.all(sql.list, { after, limit: size + 1 }, undefined, call);
    return toPage('agentState', rows, size, (row) => [row.agentId]);
  }

  /** Why a versioned write changed nothing, read after it (it wrote nothing either way). */
  async #missed(operation: string, agentId: string, call: WriteOptions): Promise<never> {
    const current = await this.context.first(sql.currentVersion, { agentId }, call);
    throw missedWrite(operation, what(agentId), current?.version, call.expectedVersion);
  }
}

/**
 * The store a tenant view holds: the public methods of {@link DefaultAgentStateStore}, as a plain
 * object type (no private members), so that a framework can write a test double or another
 * implementation of it.
 */
export type AgentStateStore = StoreInterface<DefaultAgentStateStore>;
