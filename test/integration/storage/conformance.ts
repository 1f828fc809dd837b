/**
 * The tenant-conformance registry: one registration per storage module (every id of `MODULES` in
 * `src/storage/registry.ts`), run by `conformance.test.ts` on every storage target.
 *
 * A registration says how tenant A makes rows (`seed`), how A reads them back (`snapshot`, compared
 * before and after every attempt), and what tenant B tries against A's handle (`attempts`): every
 * method of the module, with what B must get. Reads by A's ids are `NOT_FOUND`; lists, tops and
 * counts show B only its own rows; writes, deletes and transitions are `NOT_FOUND` (or `false`/0),
 * never `CONFLICT` or `INVALID_TRANSITION`, which would tell B that A's row exists; a creation by B
 * with A's key (A's agent id, workflow id, pattern) succeeds for B alone; bulk operations by B touch
 * none of A's rows. `control` runs last, as A: it shows the attempts aimed at live rows (A's own
 * delete, expire or prune does reach them).
 *
 * A new module is one more entry of {@link CONFORMANCE} (the type requires it, and a test checks it
 * at run time, together with an attempt for every method of the store).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import type { StorageErrorCode } from '../../../src/storage/errors.js';
import type { ModuleId, TenantStores } from '../../../src/storage/registry.js';

/** The methods of a module's store (what B must be made to call, every one of them). */
export type MethodOf<M extends ModuleId> = {
  [K in keyof TenantStores[M]]: TenantStores[M][K] extends (...args: never[]) => unknown ? K : never;
}[keyof TenantStores[M]] &
  string;

/** What kind of call an attempt is. */
export type AttemptKind = 'read' | 'list' | 'write' | 'delete' | 'transition' | 'same-key' | 'bulk';

/** What B must get: a rejection with a code, a value (`toEqual`), or what a check accepts. */
export type Expected<H, R> =
  | { readonly rejects: StorageErrorCode }
  | { readonly resolves: unknown }
  | {
      /** Asserts on B's result; it may read more as B (`b`), e.g. that B's own row is B's. */
      check(result: R, b: TenantStores, handle: H): Promise<void> | void;
    };

/** One call of tenant B against tenant A's handle; B is a fresh tenant for every attempt. */
export interface Attempt<M extends ModuleId, H, R = unknown> {
  readonly method: MethodOf<M>;
  readonly kind: AttemptKind;
  /** What B does, in a few words (the test's name). */
  readonly name: string;
  run(b: TenantStores, handle: H): Promise<R>;
  readonly expect: Expected<H, R>;
}

/** Where one of A's rows is in the schema, to look at it with SQL that has no tenant predicate. */
export interface RowLocation {
  readonly table: string;
  readonly column: string;
  readonly value: string;
}

/** The conformance registration of one module. */
export interface Registration<M extends ModuleId, H, S> {
  readonly module: M;
  /** Tenant A creates rows and returns their handle; `marker` goes into A's data (never its keys). */
  seed(a: TenantStores, marker: string): Promise<H>;
  /** Tenant A reads its rows back, as plain JSON, for comparing before and after. */
  snapshot(a: TenantStores, handle: H): Promise<S>;
  /** A's main row, for the raw-SQL look behind the library. */
  locate(handle: H): RowLocation;
  /** A harmless call of the module for the caller's own tenant (for the scope checks). */
  probe(stores: TenantStores): Promise<unknown>;
  readonly attempts: readonly Attempt<M, H>[];
  /** Run last, as A: A's own calls do reach the rows B could not. */
  control(a: TenantStores, handle: H): Promise<void>;
}

/** A registration whatever its handle and snapshot types. */
export type AnyRegistration = { [M in ModuleId]: Registration<M, unknown, unknown> }[ModuleId];

/** A registration of `M`, typed by its handle. */
function register<M extends ModuleId, H, S>(registration: Registration<M, H, S>): Registration<M, unknown, unknown> {
  return registration as unknown as Registration<M, unknown, unknown>;
}

/** An attempt maker for module `M` and handle `H` that infers each attempt's result type. */
function attemptsOf<M extends ModuleId, H>() {
  return <R>(attempt: Attempt<M, H, R>): Attempt<M, H> => attempt as unknown as Attempt<M, H>;
}

/** A value as JSON would carry it (dates as their full-precision ISO text). */
export function plain<T>(value: T): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}

const token = () => randomBytes(5).toString('hex');

/** Greater than any frequency a test records. */
const BIG = Number.MAX_SAFE_INTEGER;

// ---------------------------------------------------------------------------------------------------
// agentState

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

const agentState = register({
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

// ---------------------------------------------------------------------------------------------------
// workflows

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

const workflows = register({
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

// ---------------------------------------------------------------------------------------------------
// sessions

interface SessionHandle {
  /** A's active session, past its expiry (what `expire()` would mark). */
  sessionId: string;
  /** A's session that never expires. */
  otherId: string;
  /** A's first-page cursor (limit 1). */
  cursor: string;
}

const session = attemptsOf<'sessions', SessionHandle>();

/** How long A's first session lives: the seed waits past it. */
const SHORT_LIFE_MS = 600;

const sessions = register({
  module: 'sessions',
  async seed(a, marker) {
    const first = await a.sessions.create({
      expiresAt: new Date(Date.now() + SHORT_LIFE_MS),
      metadata: { secret: marker },
    });
    const other = await a.sessions.create({ metadata: { secret: marker } });
    await a.sessions.update(first.sessionId, { metadata: { secret: marker, n: 1 } });
    await sleep(SHORT_LIFE_MS + 300);
    const page = await a.sessions.list({ limit: 1 });
    expect(page.nextCursor).toBeDefined();
    return { sessionId: first.sessionId, otherId: other.sessionId, cursor: page.nextCursor! };
  },
  async snapshot(a, h) {
    const [first, other] = [await a.sessions.get(h.sessionId), await a.sessions.get(h.otherId)];
    expect(first.status).toBe('active'); // and past its expiry: what expire() would mark
    expect(first.expiresAt!.getTime()).toBeLessThan(Date.now());
    return plain([first, other]);
  },
  locate: (h) => ({ table: 'sessions', column: 'session_id', value: h.sessionId }),
  probe: (stores) => stores.sessions.list({ limit: 1 }),
  attempts: [
    session({
      method: 'get',
      kind: 'read',
      name: "get A's session",
      run: (b, h) => b.sessions.get(h.sessionId),
      expect: { rejects: 'NOT_FOUND' },
    }),
    session({
      method: 'get',
      kind: 'read',
      name: "get A's second session",
      run: (b, h) => b.sessions.get(h.otherId),
      expect: { rejects: 'NOT_FOUND' },
    }),
    session({
      method: 'touch',
      kind: 'write',
      name: "touch A's session",
      run: (b, h) => b.sessions.touch(h.sessionId),
      expect: { rejects: 'NOT_FOUND' },
    }),
    session({
      method: 'update',
      kind: 'write',
      name: "replace A's session metadata",
      run: (b, h) => b.sessions.update(h.sessionId, { metadata: { mine: 'b' } }),
      expect: { rejects: 'NOT_FOUND' },
    }),
    ...(['suspended', 'completed', 'active'] as const).map((status) =>
      session({
        method: 'update',
        kind: 'transition',
        name: `set A's active session to ${status}`,
        run: (b, h) => b.sessions.update(h.sessionId, { status }),
        expect: { rejects: 'NOT_FOUND' },
      }),
    ),
    session({
      method: 'archive',
      kind: 'transition',
      name: "archive A's session",
      run: (b, h) => b.sessions.archive(h.sessionId),
      expect: { rejects: 'NOT_FOUND' },
    }),
    session({
      method: 'archive',
      kind: 'transition',
      name: "archive A's second session",
      run: (b, h) => b.sessions.archive(h.otherId),
      expect: { rejects: 'NOT_FOUND' },
    }),
    session({
      method: 'list',
      kind: 'list',
      name: "list: only B's own session",
      run: async (b) => {
        const own = await b.sessions.create();
        return { own: own.sessionId, page: await b.sessions.list({ limit: 1000 }) };
      },
      expect: {
        check(result) {
          expect(result.page.items.map((item) => item.sessionId)).toEqual([result.own]);
          expect(result.page.nextCursor).toBeUndefined();
        },
      },
    }),
    session({
      method: 'list',
      kind: 'list',
      name: "list active: only B's own session",
      run: async (b) => {
        const own = await b.sessions.create();
        return { own: own.sessionId, page: await b.sessions.list({ status: 'active' }) };
      },
      expect: {
        check(result) {
          expect(result.page.items.map((item) => item.sessionId)).toEqual([result.own]);
        },
      },
    }),
    session({
      method: 'list',
      kind: 'list',
      name: "list with A's cursor: only B's sessions after it",
      run: async (b, h) => {
        const own = await b.sessions.create();
        return { own: own.sessionId, page: await b.sessions.list({ cursor: h.cursor }) };
      },
      expect: {
        check(result) {
          expect(result.page.items.map((item) => item.sessionId)).toEqual([result.own]);
        },
      },
    }),
    session({
      method: 'expire',
      kind: 'bulk',
      name: "expire(): marks none of A's sessions past expiry",
      run: (b) => b.sessions.expire(),
      expect: { resolves: 0 },
    }),
    session({
      method: 'create',
      kind: 'same-key',
      name: 'create: a session of B’s own, with a new id',
      run: (b) => b.sessions.create({ metadata: { mine: 'b' } }),
      expect: {
        async check(result, b, h) {
          expect([h.sessionId, h.otherId]).not.toContain(result.sessionId);
          expect(result).toMatchObject({ status: 'active', metadata: { mine: 'b' } });
          expect((await b.sessions.get(result.sessionId)).metadata).toEqual({ mine: 'b' });
        },
      },
    }),
  ],
  async control(a, h) {
    expect(await a.sessions.expire()).toBe(1);
    expect((await a.sessions.get(h.sessionId)).status).toBe('expired');
    expect((await a.sessions.archive(h.otherId)).status).toBe('archived');
  },
});

// ---------------------------------------------------------------------------------------------------
// procedural

interface PatternHandle {
  scope: string;
  key: string;
  /** Recorded 3 times. */
  value: string;
  /** Recorded once, in the same scope. */
  otherValue: string;
  id: string;
}

const pattern = attemptsOf<'procedural', PatternHandle>();

const procedural = register({
  module: 'procedural',
  async seed(a, marker) {
    const scope = `scope-${token()}`;
    const [key, value, otherValue] = ['tool', 'grep -r', 'sed -n'];
    await a.procedural.record(scope, key, value, { metadata: { secret: marker } });
    await a.procedural.record(scope, key, value);
    const recorded = await a.procedural.record(scope, key, value, { metadata: { n: 3 } });
    expect(recorded.frequency).toBe(3);
    await a.procedural.record(scope, key, otherValue, { metadata: { secret: marker } });
    return { scope, key, value, otherValue, id: recorded.id };
  },
  async snapshot(a, h) {
    return plain([
      await a.procedural.get(h.scope, h.key, h.value),
      await a.procedural.get(h.scope, h.key, h.otherValue),
      await a.procedural.top(h.scope),
    ]);
  },
  locate: (h) => ({ table: 'procedural_memory', column: 'id', value: h.id }),
  probe: (stores) => stores.procedural.top('probe-scope', { limit: 1 }),
  attempts: [
    pattern({
      method: 'get',
      kind: 'read',
      name: "get A's pattern",
      run: (b, h) => b.procedural.get(h.scope, h.key, h.value),
      expect: { rejects: 'NOT_FOUND' },
    }),
    pattern({
      method: 'get',
      kind: 'read',
      name: "get A's second pattern",
      run: (b, h) => b.procedural.get(h.scope, h.key, h.otherValue),
      expect: { rejects: 'NOT_FOUND' },
    }),
    pattern({
      method: 'record',
      kind: 'same-key',
      name: "record A's pattern: B's own count 1, B's metadata alone",
      run: (b, h) => b.procedural.record(h.scope, h.key, h.value, { metadata: { mine: 'b' } }),
      expect: {
        async check(result, b, h) {
          expect(result).toMatchObject({ scope: h.scope, key: h.key, value: h.value, frequency: 1 });
          expect(result.metadata).toEqual({ mine: 'b' });
          expect(result.id).not.toBe(h.id);
          expect((await b.procedural.record(h.scope, h.key, h.value)).frequency).toBe(2);
        },
      },
    }),
    pattern({
      method: 'top',
      kind: 'list',
      name: "top of A's scope: only B's own pattern",
      run: async (b, h) => {
        await b.procedural.record(h.scope, h.key, 'b-own');
        return b.procedural.top(h.scope);
      },
      expect: {
        check(result) {
          expect(result.map((item) => item.value)).toEqual(['b-own']);
        },
      },
    }),
    pattern({
      method: 'top',
      kind: 'list',
      name: "top of A's scope, minFrequency 1, limit 1000: nothing",
      run: (b, h) => b.procedural.top(h.scope, { minFrequency: 1, limit: 1000 }),
      expect: { resolves: [] },
    }),
    pattern({
      method: 'prune',
      kind: 'bulk',
      name: "prune({ maxFrequency: big }): deletes B's own pattern only",
      run: async (b, h) => {
        await b.procedural.record(h.scope, h.key, 'b-own');
        return b.procedural.prune({ maxFrequency: BIG });
      },
      expect: { resolves: 1 },
    }),
    pattern({
      method: 'prune',
      kind: 'bulk',
      name: "prune({ olderThan: a minute ahead }): deletes B's own pattern only",
      run: async (b, h) => {
        await b.procedural.record(h.scope, h.key, 'b-own');
        return b.procedural.prune({ olderThan: new Date(Date.now() + 60_000) });
      },
      expect: { resolves: 1 },
    }),
    pattern({
      method: 'prune',
      kind: 'bulk',
      name: "prune A's scope with both conditions: 0",
      run: (b, h) =>
        b.procedural.prune({ scope: h.scope, maxFrequency: BIG, olderThan: new Date(Date.now() + 60_000) }),
      expect: { resolves: 0 },
    }),
  ],
  async control(a, h) {
    expect(await a.procedural.prune({ scope: h.scope, maxFrequency: BIG })).toBe(2);
  },
});

/** Every module's registration, by module id: the type asks for one per id of `MODULES`. */
export const CONFORMANCE: { readonly [M in ModuleId]: Registration<M, unknown, unknown> } = {
  agentState,
  workflows,
  sessions,
  procedural,
};

/** The registrations, in `CONFORMANCE` order. */
export const REGISTRATIONS: readonly AnyRegistration[] = Object.values(CONFORMANCE);
