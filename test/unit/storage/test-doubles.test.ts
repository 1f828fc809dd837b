/**
 * The store types a framework programs against are plain object types: a test double written by
 * hand typechecks (`npm run typecheck` compiles this file; before, the stores were classes with
 * private members and TS2739 refused it), and works where a store is expected.
 */
import { describe, expect, it } from 'vitest';
import * as api from '../../../src/index.js';
import type { AgentState, AgentStateStore, Page, TenantStores, WorkflowStore } from '../../../src/index.js';

/** An in-memory agent-state store, as a framework's unit tests would write one. */
function fakeAgentStates(): AgentStateStore {
  const rows = new Map<string, AgentState>();
  const store: AgentStateStore = {
    async get(agentId) {
      const row = rows.get(agentId);
      if (!row) throw new Error(`no agent ${agentId}`);
      return row;
    },
    async put(agentId, state) {
      const now = new api.PreciseDate();
      const row: AgentState = {
        agentId,
        state,
        version: (rows.get(agentId)?.version ?? 0) + 1,
        createdAt: now,
        updatedAt: now,
      };
      rows.set(agentId, row);
      return row;
    },
    async patch(agentId, partial) {
      return store.put(agentId, { ...(await store.get(agentId)).state, ...partial });
    },
    async delete(agentId) {
      return rows.delete(agentId);
    },
    async list(): Promise<Page<AgentState>> {
      return { items: [...rows.values()], nextCursor: undefined };
    },
    async *scan() {
      yield* rows.values();
    },
  };
  return store;
}

/** Code written against the store type, as a framework's would be. */
async function plannerStep(stores: Pick<TenantStores, 'agentState'>): Promise<number> {
  const saved = await stores.agentState.put('planner', { step: 1 });
  await stores.agentState.patch('planner', { step: 2 });
  const seen: string[] = [];
  for await (const state of stores.agentState.scan()) seen.push(state.agentId);
  return saved.version + seen.length;
}

describe('store types', () => {
  it('a hand-written test double stands in for a store', async () => {
    expect(await plannerStep({ agentState: fakeAgentStates() })).toBe(2);
  });

  it('exports the store types only: the classes behind them are not part of the API', () => {
    const names = Object.keys(api);
    for (const store of ['AgentStateStore', 'WorkflowStore', 'SessionStore', 'ProceduralStore', 'VectorStore']) {
      expect(names).not.toContain(store);
      expect(names).not.toContain(`Default${store}`);
    }
    const typed: keyof WorkflowStore = 'transition';
    expect(typed).toBe('transition');
  });
});
