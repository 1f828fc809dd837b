/**
 * Concurrency and atomicity of the storage modules. On `postgres` the calls really run at once
 * (the login pool holds 16 connections by default, so up to 16 transactions overlap); on `memory`
 * PGlite is one session and its calls queue, so the same tests check that serialized calls give
 * the same answers. Optimistic versions: one of two writers over the same version wins; server-side
 * merges and counters lose nothing; status transitions have one winner; a `transaction()` commits
 * all of its calls or none.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageError } from '../../../src/storage/mechanism/errors.js';
import type { Storage } from '../../../src/storage/open-storage.js';
import { codeOf } from '../../helpers/outcome.js';
import { openStorageTarget, type OpenedStorage } from '../../helpers/storage.js';

/** A tenant id of its own for each test (`^[a-z0-9-]{3,255}$`). */
const tenantId = (role: string) => `${role}-${randomBytes(6).toString('hex')}`;

/** The one fulfilled and the one rejected of two settled calls (the test fails unless it is so). */
function oneWinner<T>(results: PromiseSettledResult<T>[]): { winner: T; index: number; loser: unknown } {
  const fulfilled = results.flatMap((result, index) => (result.status === 'fulfilled' ? [index] : []));
  const rejected = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
  expect({ fulfilled: fulfilled.length, rejected: rejected.length }).toEqual({ fulfilled: 1, rejected: 1 });
  const index = fulfilled[0]!;
  return { winner: (results[index] as PromiseFulfilledResult<T>).value, index, loser: rejected[0] };
}

function codeOfError(error: unknown): string {
  expect(error).toBeInstanceOf(StorageError);
  return (error as StorageError).code;
}

describe.each(['postgres', 'memory'] as const)('concurrency on %s', (target) => {
  const ROUNDS = 20;
  let opened: OpenedStorage;
  let storage: Storage;
  beforeAll(async () => {
    opened = await openStorageTarget(target);
    storage = opened.storage;
  });
  afterAll(() => opened?.dispose());

  describe('agentState', () => {
    it(`two puts over the same expectedVersion: one wins, the other is CONFLICT (${ROUNDS} rounds)`, async () => {
      const agents = storage.tenant(tenantId('put')).agentState;
      for (let round = 0; round < ROUNDS; round++) {
        const agentId = `agent-${round}`;
        const old = (await agents.put(agentId, { writer: 'none' })).version;
        const results = await Promise.allSettled(
          (['x', 'y'] as const).map((writer) => agents.put(agentId, { writer }, { expectedVersion: old })),
        );
        const { winner, index, loser } = oneWinner(results);
        expect(codeOfError(loser)).toBe('CONFLICT');
        expect(winner.version).toBe(old + 1);
        const final = await agents.get(agentId);
        expect(final.version).toBe(old + 1);
        expect(final.state).toEqual({ writer: ['x', 'y'][index] });
      }
    });

    it(`two creations with expectedVersion 0: one wins, the other is CONFLICT (${ROUNDS} rounds)`, async () => {
      const agents = storage.tenant(tenantId('create')).agentState;
      for (let round = 0; round < ROUNDS; round++) {
        const agentId = `new-${round}`;
        const results = await Promise.allSettled(
          (['x', 'y'] as const).map((writer) => agents.put(agentId, { writer }, { expectedVersion: 0 })),
        );
        const { index, loser } = oneWinner(results);
        expect(codeOfError(loser)).toBe('CONFLICT');
        expect(await agents.get(agentId)).toMatchObject({ version: 1, state: { writer: ['x', 'y'][index] } });
      }
    });

    it('20 concurrent patches of different keys: every key survives, one version each', async () => {
      const agents = storage.tenant(tenantId('patch')).agentState;
      await agents.put('merged', { base: true });
      const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
      const results = await Promise.all(keys.map((key, i) => agents.patch('merged', { [key]: i })));
      expect(new Set(results.map((result) => result.version)).size).toBe(keys.length);
      const final = await agents.get('merged');
      expect(final.state).toEqual({ base: true, ...Object.fromEntries(keys.map((key, i) => [key, i])) });
      expect(final.version).toBe(1 + keys.length);
    });
  });

  describe('procedural', () => {
    it('50 concurrent records of one pattern count exactly 50', async () => {
      const patterns = storage.tenant(tenantId('record')).procedural;
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => patterns.record('scope', 'tool', 'grep', { metadata: { [`m${i}`]: i } })),
      );
      expect(results.map((result) => result.frequency).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      expect(new Set(results.map((result) => result.id)).size).toBe(1);
      const final = await patterns.get('scope', 'tool', 'grep');
      expect(final.frequency).toBe(50);
      expect(Object.keys(final.metadata)).toHaveLength(50);
    });

    it('two tenants recording the same pattern at once each get their own exact count', async () => {
      const [first, second] = [tenantId('one'), tenantId('two')];
      const counts = { [first]: 30, [second]: 20 };
      const calls = Array.from({ length: 50 }, (_, i) => (i % 5 < 3 ? first : second));
      expect(calls.filter((tenant) => tenant === first)).toHaveLength(30);
      await Promise.all(calls.map((tenant) => storage.tenant(tenant).procedural.record('shared', 'tool', 'grep')));
      for (const tenant of [first, second]) {
        const pattern = await storage.tenant(tenant).procedural.get('shared', 'tool', 'grep');
        expect(pattern.frequency).toBe(counts[tenant]);
      }
    });
  });

  describe('workflows', () => {
    it(`two transitions from running (completed, failed): one wins, the other fails (${ROUNDS} rounds)`, async () => {
      const flows = storage.tenant(tenantId('race')).workflows;
      for (let round = 0; round < ROUNDS; round++) {
        const workflowId = `wf-${round}`;
        await flows.create({ workflowId, name: 'race' });
        await flows.transition(workflowId, 'running');
        const results = await Promise.allSettled([
          flows.transition(workflowId, 'completed'),
          flows.transition(workflowId, 'failed', { error: 'lost' }),
        ]);
        const { winner, loser } = oneWinner(results);
        expect(['INVALID_TRANSITION', 'CONFLICT']).toContain(codeOfError(loser));
        const final = await flows.get(workflowId);
        expect(final.status).toBe(winner.status);
        expect(final).toMatchObject({ version: 3, error: winner.status === 'failed' ? 'lost' : null });
        expect(final.completedAt).not.toBeNull();
      }
    });

    it(`two starts of a pending workflow: one wins (${ROUNDS} rounds)`, async () => {
      const flows = storage.tenant(tenantId('start')).workflows;
      for (let round = 0; round < ROUNDS; round++) {
        const workflowId = `wf-${round}`;
        await flows.create({ workflowId, name: 'start' });
        const results = await Promise.allSettled([
          flows.transition(workflowId, 'running'),
          flows.transition(workflowId, 'running'),
        ]);
        const { loser } = oneWinner(results);
        expect(['INVALID_TRANSITION', 'CONFLICT']).toContain(codeOfError(loser));
        expect(await flows.get(workflowId)).toMatchObject({ status: 'running', version: 2 });
      }
    });
  });

  describe('transaction atomicity', () => {
    it('a transaction that writes and then throws leaves nothing written', async () => {
      const tenant = tenantId('throw');
      const boom = new Error('boom');
      await expect(
        storage.transaction(tenant, async (stores) => {
          await stores.agentState.put('planner', { step: 1 });
          expect((await stores.agentState.get('planner')).state).toEqual({ step: 1 }); // visible inside
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await codeOf(storage.tenant(tenant).agentState.get('planner'))).toBe('NOT_FOUND');
      expect((await storage.tenant(tenant).agentState.list()).items).toEqual([]);
    });

    it('a throw after writes to every module rolls all of them back', async () => {
      const tenant = tenantId('throw-all');
      const boom = new Error('boom');
      await expect(
        storage.transaction(tenant, async (stores) => {
          await stores.agentState.put('planner', { step: 1 });
          await stores.workflows.create({ workflowId: 'wf', name: 'x' });
          await stores.sessions.create();
          await stores.procedural.record('scope', 'tool', 'grep');
          throw boom;
        }),
      ).rejects.toBe(boom);
      const stores = storage.tenant(tenant);
      expect(await codeOf(stores.agentState.get('planner'))).toBe('NOT_FOUND');
      expect(await codeOf(stores.workflows.get('wf'))).toBe('NOT_FOUND');
      expect((await stores.sessions.list()).items).toEqual([]);
      expect(await codeOf(stores.procedural.get('scope', 'tool', 'grep'))).toBe('NOT_FOUND');
    });

    it('an INVALID_TRANSITION as the second statement rolls the first write back', async () => {
      const tenant = tenantId('invalid');
      await storage.tenant(tenant).workflows.create({ workflowId: 'wf', name: 'pending' });
      const code = await codeOf(
        storage.transaction(tenant, async (stores) => {
          await stores.agentState.put('planner', { step: 1 });
          await stores.workflows.transition('wf', 'completed'); // pending → completed is not allowed
        }),
      );
      expect(code).toBe('INVALID_TRANSITION');
      expect(await codeOf(storage.tenant(tenant).agentState.get('planner'))).toBe('NOT_FOUND');
      expect(await storage.tenant(tenant).workflows.get('wf')).toMatchObject({ status: 'pending', version: 1 });
    });

    it('a CONFLICT from the server (a duplicate workflow id) as the second statement rolls the first back', async () => {
      const tenant = tenantId('duplicate');
      await storage.tenant(tenant).workflows.create({ workflowId: 'wf', name: 'first' });
      const code = await codeOf(
        storage.transaction(tenant, async (stores) => {
          await stores.agentState.put('planner', { step: 1 });
          await stores.workflows.create({ workflowId: 'wf', name: 'again' });
        }),
      );
      expect(code).toBe('CONFLICT');
      expect(await codeOf(storage.tenant(tenant).agentState.get('planner'))).toBe('NOT_FOUND');
      expect((await storage.tenant(tenant).workflows.get('wf')).name).toBe('first');
    });

    it('a transaction that returns commits every call of every module together', async () => {
      const tenant = tenantId('commit');
      const sessionId = await storage.transaction(tenant, async (stores) => {
        await stores.agentState.put('planner', { step: 1 });
        await stores.agentState.patch('planner', { step: 2 });
        await stores.workflows.create({ workflowId: 'wf', name: 'x' });
        await stores.workflows.transition('wf', 'running');
        await stores.procedural.record('scope', 'tool', 'grep');
        await stores.procedural.record('scope', 'tool', 'grep');
        return (await stores.sessions.create()).sessionId;
      });
      const stores = storage.tenant(tenant);
      expect(await stores.agentState.get('planner')).toMatchObject({ version: 2, state: { step: 2 } });
      expect(await stores.workflows.get('wf')).toMatchObject({ status: 'running', version: 2 });
      expect((await stores.procedural.get('scope', 'tool', 'grep')).frequency).toBe(2);
      expect((await stores.sessions.get(sessionId)).status).toBe('active');
    });

    if (target === 'postgres') {
      it("a transaction's writes are invisible to other calls until its callback returns", async () => {
        const tenant = tenantId('pending');
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        let written!: () => void;
        const wrote = new Promise<void>((resolve) => (written = resolve));
        const done = storage.transaction(tenant, async (stores) => {
          await stores.agentState.put('planner', { step: 1 });
          written();
          await gate;
        });
        await wrote;
        expect(await codeOf(storage.tenant(tenant).agentState.get('planner'))).toBe('NOT_FOUND');
        release();
        await done;
        expect((await storage.tenant(tenant).agentState.get('planner')).state).toEqual({ step: 1 });
      });

      it('a put over the version an open transaction replaces waits for it, then is CONFLICT', async () => {
        const tenant = tenantId('hold');
        const agents = storage.tenant(tenant).agentState;
        await agents.put('planner', { step: 1 });
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        let written!: () => void;
        const wrote = new Promise<void>((resolve) => (written = resolve));
        const done = storage.transaction(tenant, async (stores) => {
          await stores.agentState.put('planner', { step: 2 }, { expectedVersion: 1 });
          written();
          await gate;
        });
        await wrote;
        let settled = false;
        const racing = agents.put('planner', { step: 'other' }, { expectedVersion: 1 }).finally(() => (settled = true));
        racing.catch(() => undefined);
        await sleep(300);
        expect(settled).toBe(false); // blocked on the row the transaction holds
        release();
        await done;
        expect(await codeOf(racing)).toBe('CONFLICT');
        expect(await agents.get('planner')).toMatchObject({ version: 2, state: { step: 2 } });
      });
    }
  });
});
