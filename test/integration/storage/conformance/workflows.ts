/** The tenant-conformance registration of workflows (see `harness.ts`). */
import { expect } from 'vitest';
import { attemptsOf, drain, plain, register, token } from './harness.js';

interface WorkflowHandle {
  /** A's workflow: running, at step 3, version 3. */
  workflowId: string;
  /** A's second workflow, pending, after `workflowId` in id order. */
  pendingId: string;
  version: number;
  /** A's first-page cursor (limit 1): it points after `workflowId`. */
  cursor: string;
}

const workflow = attemptsOf<'workflows', WorkflowHandle>();

export const workflows = register({
  module: 'workflows',
  async seed(a, marker) {
    const base = `wf-${token()}`;
    const workflowId = `${base}-1`;
    const pendingId = `${base}-2`;
    await a.workflows.create({ workflowId, name: marker, state: { secret: marker } });
    await a.workflows.transition(workflowId, 'running');
    const updated = await a.workflows.update(workflowId, { currentStep: 3 });
    await a.workflows.create({ workflowId: pendingId, name: marker });
    const page = await a.workflows.list({ limit: 1 });
    expect(page.nextCursor).toBeDefined();
    return { workflowId, pendingId, version: updated.version, cursor: page.nextCursor! };
  },
  async snapshot(a, h) {
    return plain([await a.workflows.get(h.workflowId), await a.workflows.get(h.pendingId)]);
  },
  locate: (h) => ({ table: 'workflow_states', column: 'workflow_id', value: h.workflowId }),
  probe: (stores) => stores.workflows.list({ limit: 1 }),
  signalled: {
    create: (b, _h, signal) => b.workflows.create({ name: 'b' }, { signal }),
    get: (b, h, signal) => b.workflows.get(h.workflowId, { signal }),
    update: (b, h, signal) => b.workflows.update(h.workflowId, { currentStep: 9 }, { signal }),
    transition: (b, h, signal) => b.workflows.transition(h.pendingId, 'running', { signal }),
    list: (b, _h, signal) => b.workflows.list({ limit: 10, signal }),
    scan: (b, _h, signal) => drain(b.workflows.scan({ limit: 2, signal })),
  },
  attempts: [
    workflow({
      method: 'get',
      kind: 'read',
      name: "get A's running workflow",
      run: (b, h) => b.workflows.get(h.workflowId),
      expect: { rejects: 'NOT_FOUND' },
    }),
    workflow({
      method: 'get',
      kind: 'read',
      name: "get A's pending workflow",
      run: (b, h) => b.workflows.get(h.pendingId),
      expect: { rejects: 'NOT_FOUND' },
    }),
    workflow({
      method: 'update',
      kind: 'write',
      name: "update A's workflow state",
      run: (b, h) => b.workflows.update(h.workflowId, { state: { mine: 'b' } }),
      expect: { rejects: 'NOT_FOUND' },
    }),
    workflow({
      method: 'update',
      kind: 'write',
      name: "update A's workflow step with A's current version",
      run: (b, h) => b.workflows.update(h.workflowId, { currentStep: 9 }, { expectedVersion: h.version }),
      expect: { rejects: 'NOT_FOUND' },
    }),
    workflow({
      method: 'update',
      kind: 'write',
      name: 'update with a stale version (1)',
      run: (b, h) => b.workflows.update(h.workflowId, { currentStep: 9 }, { expectedVersion: 1 }),
      expect: { rejects: 'NOT_FOUND' },
    }),
    ...(['paused', 'completed', 'cancelled'] as const).map((to) =>
      workflow({
        method: 'transition',
        kind: 'transition',
        name: `transition A's running workflow to ${to}`,
        run: (b, h) => b.workflows.transition(h.workflowId, to),
        expect: { rejects: 'NOT_FOUND' },
      }),
    ),
    workflow({
      method: 'transition',
      kind: 'transition',
      name: "transition A's running workflow to failed with an error",
      run: (b, h) => b.workflows.transition(h.workflowId, 'failed', { error: 'by b' }),
      expect: { rejects: 'NOT_FOUND' },
    }),
    workflow({
      method: 'transition',
      kind: 'transition',
      name: "transition A's running workflow to running (not INVALID_TRANSITION)",
      run: (b, h) => b.workflows.transition(h.workflowId, 'running'),
      expect: { rejects: 'NOT_FOUND' },
    }),
    workflow({
      method: 'transition',
      kind: 'transition',
      name: "transition A's workflow to pending (reachable from nowhere)",
      run: (b, h) => b.workflows.transition(h.workflowId, 'pending'),
      expect: { rejects: 'NOT_FOUND' },
    }),
    workflow({
      method: 'transition',
      kind: 'transition',
      name: "start A's pending workflow",
      run: (b, h) => b.workflows.transition(h.pendingId, 'running'),
      expect: { rejects: 'NOT_FOUND' },
    }),
    workflow({
      method: 'scan',
      kind: 'list',
      name: "scan: only B's own workflows, page after page",
      run: async (b) => {
        await b.workflows.create({ workflowId: 'b-scan-1', name: 'b' });
        await b.workflows.create({ workflowId: 'b-scan-2', name: 'b' });
        return (await drain(b.workflows.scan({ limit: 1 }))).map((item) => item.workflowId);
      },
      expect: { resolves: ['b-scan-1', 'b-scan-2'] },
    }),
    workflow({
      method: 'list',
      kind: 'list',
      name: "list: only B's own workflow",
      run: async (b) => {
        await b.workflows.create({ workflowId: 'b-own', name: 'b' });
        return b.workflows.list({ limit: 1000 });
      },
      expect: {
        check(result) {
          expect(result.items.map((item) => item.workflowId)).toEqual(['b-own']);
          expect(result.nextCursor).toBeUndefined();
        },
      },
    }),
    workflow({
      method: 'list',
      kind: 'list',
      name: "list running: only B's own running workflow",
      run: async (b) => {
        await b.workflows.create({ workflowId: 'b-run', name: 'b' });
        await b.workflows.transition('b-run', 'running');
        return b.workflows.list({ status: 'running' });
      },
      expect: {
        check(result) {
          expect(result.items.map((item) => item.workflowId)).toEqual(['b-run']);
        },
      },
    }),
    workflow({
      method: 'list',
      kind: 'list',
      name: "list with A's cursor: only B's workflows after it",
      run: async (b, h) => {
        await b.workflows.create({ workflowId: `${h.pendingId}-b`, name: 'b' });
        return b.workflows.list({ cursor: h.cursor });
      },
      expect: {
        check(result, _b, h) {
          expect(result.items.map((item) => item.workflowId)).toEqual([`${h.pendingId}-b`]);
        },
      },
    }),
    workflow({
      method: 'create',
      kind: 'same-key',
      name: "create a workflow with A's workflow id: B's own, pending, version 1",
      run: (b, h) => b.workflows.create({ workflowId: h.workflowId, name: 'b' }),
      expect: {
        async check(result, b, h) {
          expect(result).toMatchObject({
            workflowId: h.workflowId,
            name: 'b',
            status: 'pending',
            currentStep: 0,
            state: {},
            version: 1,
            startedAt: null,
          });
          expect(await b.workflows.transition(h.workflowId, 'running')).toMatchObject({
            status: 'running',
            version: 2,
          });
        },
      },
    }),
  ],
  async control(a, h) {
    expect(await a.workflows.transition(h.workflowId, 'completed')).toMatchObject({ status: 'completed' });
    expect(await a.workflows.transition(h.pendingId, 'running')).toMatchObject({ status: 'running' });
  },
});
