import { decodeCursor, pageSize, toPage, type Page } from '../cursor.js';
import { notFound } from '../errors.js';
import { parseInput } from '../fields.js';
import type { ModuleContext } from '../module.js';
import { missedWrite } from '../versions.js';
import * as sql from './sql.js';
import { listOptions, writeOptions, type AgentState, type ListOptions, type WriteOptions } from './types.js';

const what = (agentId: string) => `agent state ${JSON.stringify(agentId)}`;

/**
 * The state of a tenant's agents: one JSON document per agent id, versioned for optimistic
 * concurrency. Reach it as `storage.tenant(id).agentState`.
 */
export class AgentStateStore {
  constructor(private readonly context: ModuleContext) {}

  /** The agent's state; `NOT_FOUND` when it has none. */
  async get(agentId: string): Promise<AgentState> {
    return this.context.run(async (tx) => {
      const row = await tx.first(sql.get, { agentId });
      if (!row) throw notFound('agentState.get', what(agentId));
      return row;
    });
  }

  /**
   * Stores `state` as the agent's whole state (creating it at version 1, or replacing it and
   * adding one to the version). With `expectedVersion`, only over that version (0: only if the
   * agent has no state yet); otherwise `CONFLICT` and nothing is written.
   */
  async put(agentId: string, state: Record<string, unknown>, options: WriteOptions = {}): Promise<AgentState> {
    const { expectedVersion } = parseInput('agentState.put', writeOptions, options);
    return this.context.run(async (tx) => {
      if (expectedVersion === undefined) return (await tx.first(sql.upsert, { agentId, state }))!;
      const row =
        expectedVersion === 0
          ? await tx.first(sql.insert, { agentId, state })
          : await tx.first(sql.replace, { agentId, state, expectedVersion });
      if (row) return row;
      const current = await tx.first(sql.currentVersion, { agentId });
      throw missedWrite('agentState.put', what(agentId), current?.version, expectedVersion);
    });
  }

  /**
   * Merges `partial` into the agent's state on the server, atomically (concurrent patches of
   * different keys all survive): each key replaces the stored one, a key set to `null` is
   * removed, nested objects are replaced whole. `NOT_FOUND` when the agent has no state;
   * `CONFLICT` when `expectedVersion` is given and stale.
   */
  async patch(agentId: string, partial: Record<string, unknown>, options: WriteOptions = {}): Promise<AgentState> {
    const { expectedVersion } = parseInput('agentState.patch', writeOptions, options);
    return this.context.run(async (tx) => {
      const row = await tx.first(sql.patch, { agentId, partial, expectedVersion });
      if (row) return row;
      const current = await tx.first(sql.currentVersion, { agentId });
      throw missedWrite('agentState.patch', what(agentId), current?.version, expectedVersion);
    });
  }

  /**
   * Deletes the agent's state; false when it had none. With `expectedVersion`, only that version
   * (`CONFLICT` otherwise, `NOT_FOUND` when there is none).
   */
  async delete(agentId: string, options: WriteOptions = {}): Promise<boolean> {
    const { expectedVersion } = parseInput('agentState.delete', writeOptions, options);
    return this.context.run(async (tx) => {
      if ((await tx.count(sql.remove, { agentId, expectedVersion })) > 0) return true;
      if (expectedVersion === undefined) return false;
      const current = await tx.first(sql.currentVersion, { agentId });
      throw missedWrite('agentState.delete', what(agentId), current?.version, expectedVersion);
    });
  }

  /** The tenant's agents in agent-id order, a page at a time. */
  async list(options: ListOptions = {}): Promise<Page<AgentState>> {
    const { limit, cursor } = parseInput('agentState.list', listOptions, options);
    const size = pageSize(limit);
    const [after] = (decodeCursor('agentState.list', 'agentState', cursor, 1) ?? []) as [string?];
    return this.context.run(async (tx) => {
      const rows = await tx.all(sql.list, { after, limit: size + 1 });
      return toPage('agentState', rows, size, (row) => [row.agentId]);
    });
  }
}
