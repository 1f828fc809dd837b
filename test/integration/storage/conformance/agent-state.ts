/** The tenant-conformance registration of agentState (see `harness.ts`). */
import { expect } from 'vitest';
import { attemptsOf, drain, plain, register, token } from './harness.js';

interface AgentHandle {
  /** A's agent at version 2 (a put and a patch). */
  agentId: string;
  /** A's second agent, after `agentId` in id order. */
  otherId: string;
  version: number;
  /** A's first-page cursor (limit 1): it points after `agentId`. */
  cursor: string;
}

const agent = attemptsOf<'agentState', AgentHandle>();

export const agentState = register({
  module: 'agentState',
  async seed(a, marker) {
    const base = `agent-${token()}`;
    const agentId = `${base}-1`;
    const otherId = `${base}-2`;
    await a.agentState.put(agentId, { secret: marker, step: 1 });
    const patched = await a.agentState.patch(agentId, { step: 2 });
    await a.agentState.put(otherId, { secret: marker });
    const page = await a.agentState.list({ limit: 1 });
    expect(page.nextCursor).toBeDefined();
    return { agentId, otherId, version: patched.version, cursor: page.nextCursor! };
  },
  async snapshot(a, h) {
    return plain([await a.agentState.get(h.agentId), await a.agentState.get(h.otherId)]);
  },
  locate: (h) => ({ table: 'agent_state', column: 'agent_id', value: h.agentId }),
  probe: (stores) => stores.agentState.list({ limit: 1 }),
  signalled: {
    get: (b, h, signal) => b.agentState.get(h.agentId, { signal }),
    put: (b, h, signal) => b.agentState.put(h.agentId, { mine: 'b' }, { signal }),
    patch: (b, h, signal) => b.agentState.patch(h.agentId, { mine: 'b' }, { signal }),
    delete: (b, h, signal) => b.agentState.delete(h.agentId, { signal }),
    list: (b, _h, signal) => b.agentState.list({ limit: 10, signal }),
    scan: (b, _h, signal) => drain(b.agentState.scan({ limit: 2, signal })),
  },
  attempts: [
    agent({
      method: 'get',
      kind: 'read',
      name: "get A's agent",
      run: (b, h) => b.agentState.get(h.agentId),
      expect: { rejects: 'NOT_FOUND' },
    }),
    agent({
      method: 'get',
      kind: 'read',
      name: "get A's second agent",
      run: (b, h) => b.agentState.get(h.otherId),
      expect: { rejects: 'NOT_FOUND' },
    }),
    agent({
      method: 'put',
      kind: 'same-key',
      name: "put state under A's agent id (no expected version): B's own version 1",
      run: (b, h) => b.agentState.put(h.agentId, { mine: 'b' }),
      expect: {
        async check(result, b, h) {
          expect(result).toMatchObject({ agentId: h.agentId, version: 1, state: { mine: 'b' } });
          expect((await b.agentState.get(h.agentId)).state).toEqual({ mine: 'b' });
          expect((await b.agentState.list()).items.map((item) => item.agentId)).toEqual([h.agentId]);
        },
      },
    }),
    agent({
      method: 'put',
      kind: 'same-key',
      name: "put under A's agent id with expectedVersion 0 (create only): succeeds, no CONFLICT",
      run: (b, h) => b.agentState.put(h.agentId, { mine: 'b' }, { expectedVersion: 0 }),
      expect: {
        check(result, _b, h) {
          expect(result).toMatchObject({ agentId: h.agentId, version: 1, state: { mine: 'b' } });
        },
      },
    }),
    agent({
      method: 'put',
      kind: 'write',
      name: "put with A's current version as expectedVersion",
      run: (b, h) => b.agentState.put(h.agentId, { mine: 'b' }, { expectedVersion: h.version }),
      expect: { rejects: 'NOT_FOUND' },
    }),
    agent({
      method: 'put',
      kind: 'write',
      name: 'put with a stale expectedVersion (1)',
      run: (b, h) => b.agentState.put(h.agentId, { mine: 'b' }, { expectedVersion: 1 }),
      expect: { rejects: 'NOT_FOUND' },
    }),
    agent({
      method: 'patch',
      kind: 'write',
      name: "patch A's agent",
      run: (b, h) => b.agentState.patch(h.agentId, { step: 99, secret: null }),
      expect: { rejects: 'NOT_FOUND' },
    }),
    agent({
      method: 'patch',
      kind: 'write',
      name: "patch A's agent with A's current version",
      run: (b, h) => b.agentState.patch(h.agentId, { step: 99 }, { expectedVersion: h.version }),
      expect: { rejects: 'NOT_FOUND' },
    }),
    agent({
      method: 'delete',
      kind: 'delete',
      name: "delete A's agent: false",
      run: (b, h) => b.agentState.delete(h.agentId),
      expect: { resolves: false },
    }),
    agent({
      method: 'delete',
      kind: 'delete',
      name: "delete A's agent with A's current version",
      run: (b, h) => b.agentState.delete(h.agentId, { expectedVersion: h.version }),
      expect: { rejects: 'NOT_FOUND' },
    }),
    agent({
      method: 'scan',
      kind: 'list',
      name: 'scan: only B’s own agents, page after page',
      run: async (b) => {
        await b.agentState.put('b-scan-1', { mine: 'b' });
        await b.agentState.put('b-scan-2', { mine: 'b' });
        return (await drain(b.agentState.scan({ limit: 1 }))).map((item) => item.agentId);
      },
      expect: { resolves: ['b-scan-1', 'b-scan-2'] },
    }),
    agent({
      method: 'list',
      kind: 'list',
      name: 'list: only B’s own agent',
      run: async (b) => {
        await b.agentState.put('b-own', { mine: 'b' });
        return b.agentState.list({ limit: 1000 });
      },
      expect: {
        check(result) {
          expect(result.items.map((item) => item.agentId)).toEqual(['b-own']);
          expect(result.nextCursor).toBeUndefined();
        },
      },
    }),
    agent({
      method: 'list',
      kind: 'list',
      name: "list with A's cursor: only B's agents after it",
      run: async (b, h) => {
        await b.agentState.put(`${h.otherId}-b`, { mine: 'b' });
        return b.agentState.list({ cursor: h.cursor });
      },
      expect: {
        check(result, _b, h) {
          expect(result.items.map((item) => item.agentId)).toEqual([`${h.otherId}-b`]);
        },
      },
    }),
  ],
  async control(a, h) {
    expect(await a.agentState.delete(h.agentId, { expectedVersion: h.version })).toBe(true);
    expect(await a.agentState.delete(h.otherId)).toBe(true);
  },
});
