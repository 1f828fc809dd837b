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
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import type { StorageErrorCode } from '../../../src/storage/mechanism/errors.js';
import type { ModuleId, TenantStores } from '../../../src/storage/registry.js';
import type { SearchOptions, SearchResult, VectorDimension } from '../../../src/storage/modules/vectors/index.js';
import { testSettings } from '../../helpers/settings.js';

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

/**
 * What a module needs of a target beyond the core schema. `pgvector`: the vector track (its
 * tables and the extension), which `openStorageTarget` enables on the PGlite targets only.
 */
export type Need = 'pgvector';

/** The conformance registration of one module. */
export interface Registration<M extends ModuleId, H, S> {
  readonly module: M;
  /** Run only on the targets that have this; the others print why they skip it. */
  readonly needs?: Need;
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

// ---------------------------------------------------------------------------------------------------
// vectors

interface VectorRow {
  id: string;
  dims: VectorDimension;
  scope: string;
  vector: number[];
}

interface VectorHandle {
  /** In A's metadata (`secret`): what B filters on. */
  marker: string;
  /** A's scope of most rows (one per table but 768), and its other scope. */
  scope: string;
  otherScope: string;
  /** A's rows, in every table; the first is the 384 row of `scope` that `locate` names. */
  rows: VectorRow[];
  ids: string[];
  /**
   * A's scope of {@link EXACT_MAX} + 1 more 384 rows (not in `rows`): more candidates than an exact
   * search takes, so a routing count that saw A's rows would send B's searches to the index.
   */
  bulkScope: string;
}

const vector = attemptsOf<'vectors', VectorHandle>();

/** A deterministic vector of `dims` numbers, none all zero, different for each seed. */
const wave = (seed: number, dims: number) =>
  Array.from({ length: dims }, (_, i) => Math.sin(seed * 12.9898 + i * 0.731) + 0.1 * Math.cos(seed + i));

/** A's row of `dims` in A's main scope. */
const rowOf = (h: VectorHandle, dims: VectorDimension) =>
  h.rows.find((row) => row.dims === dims && row.scope === h.scope)!;

/** A filter on A's marker that B's own rows (`mine: 'b'`) also pass. */
const markerOrMine = (h: VectorHandle) => ({ $or: [{ secret: h.marker }, { mine: 'b' }] });

/** The candidate count up to which a search scans exactly (the exact route); one more takes the index route. */
const EXACT_MAX = testSettings().storage.postgres.vector_embeddings.exact_search_max_rows;

/** B's hits are B's own rows alone: none of A's ids, every one of `own`. */
function onlyOwnHits(result: SearchResult, h: VectorHandle, own: readonly string[]): void {
  const ids = result.hits.map((hit) => hit.id);
  expect(ids.filter((id) => h.ids.includes(id))).toEqual([]);
  expect(ids.filter((id) => !own.includes(id))).toEqual([]);
}

const vectors = register({
  module: 'vectors',
  needs: 'pgvector',
  async seed(a, marker) {
    const scope = `docs-${token()}`;
    const otherScope = `notes-${token()}`;
    const base = randomBytes(2).readUInt16BE() + 1;
    const plan: [VectorDimension, string, Record<string, unknown>][] = [
      [384, scope, { secret: marker, kind: 'doc', n: 1 }],
      [384, scope, { secret: marker, kind: 'doc', tags: ['x', marker] }],
      [384, otherScope, { secret: marker, nested: { secret: marker } }],
      [768, otherScope, { secret: marker }],
      [1536, scope, { secret: marker }],
      [3072, scope, { secret: marker, kind: 'big' }],
      [3072, otherScope, { secret: marker }],
    ];
    const entries = plan.map(([dims, where, metadata], index) => ({
      // Half the ids are A's choice, half the store's.
      ...(index % 2 === 0 ? { id: randomUUID() } : {}),
      scope: where,
      vector: wave(base + index, dims),
      metadata,
    }));
    const ids = await a.vectors.upsert(entries);
    const bulkScope = `bulk-${token()}`;
    await a.vectors.upsert(
      Array.from({ length: EXACT_MAX + 1 }, (_, index) => ({
        scope: bulkScope,
        vector: wave(base + 100 + index, 384),
        metadata: { secret: marker, bulk: index },
      })),
    );
    const rows = entries.map((entry, index) => ({
      id: ids[index]!,
      dims: plan[index]![0],
      scope: entry.scope,
      vector: entry.vector,
    }));
    expect((await a.vectors.updateMetadata(ids[0]!, { n: 2 })).metadata).toMatchObject({ secret: marker, n: 2 });
    return { marker, scope, otherScope, rows, ids, bulkScope };
  },
  async snapshot(a, h) {
    const main = rowOf(h, 384);
    // In A's scope: few candidates, an exact search (the index route's answer could change as B writes).
    const search = await a.vectors.search({ vector: main.vector, k: 1000, scope: h.scope });
    return plain({
      rows: await a.vectors.get(h.ids),
      counts: [
        await a.vectors.count(),
        await a.vectors.count({ scope: h.scope }),
        await a.vectors.count({ scope: h.otherScope }),
        await a.vectors.count({ scope: h.bulkScope }),
        await a.vectors.count({ filter: { secret: h.marker } }),
      ],
      stats: await a.vectors.stats(),
      search: search.hits.map((hit) => hit.id),
    });
  },
  locate: (h) => ({ table: 'vector_embeddings_384', column: 'id', value: h.rows[0]!.id }),
  probe: (stores) => stores.vectors.count(),
  attempts: [
    // upsert with A's ids: B's own rows, A's untouched (the snapshot after each attempt).
    vector({
      method: 'upsert',
      kind: 'same-key',
      name: "upsert with A's 384 id, twice: B's own row, replaced the second time",
      run: async (b, h) => {
        const main = rowOf(h, 384);
        const entry = { id: main.id, scope: h.scope, vector: main.vector };
        expect(await b.vectors.upsert([{ ...entry, metadata: { mine: 'b', n: 1 } }])).toEqual([main.id]);
        return b.vectors.upsert([{ ...entry, metadata: { mine: 'b', n: 2 } }]);
      },
      expect: {
        async check(result, b, h) {
          const main = rowOf(h, 384);
          expect(result).toEqual([main.id]);
          const got = await b.vectors.get([main.id]);
          expect(got.map(({ id, scope, dimensions, metadata }) => ({ id, scope, dimensions, metadata }))).toEqual([
            { id: main.id, scope: h.scope, dimensions: 384, metadata: { mine: 'b', n: 2 } },
          ]);
          expect(await b.vectors.count()).toBe(1);
        },
      },
    }),
    vector({
      method: 'upsert',
      kind: 'same-key',
      name: "upsert A's 384 id as a 3072 vector (an id moves between tables): B's own, A's 384 row stays",
      run: (b, h) =>
        b.vectors.upsert([
          { id: rowOf(h, 384).id, scope: h.scope, vector: rowOf(h, 3072).vector, metadata: { mine: 'b' } },
        ]),
      expect: {
        async check(result, b, h) {
          expect(result).toEqual([rowOf(h, 384).id]);
          expect((await b.vectors.get(result)).map((row) => row.dimensions)).toEqual([3072]);
          const stats = await b.vectors.stats();
          expect([384, 768, 1536, 3072].map((dims) => stats[dims as VectorDimension].rows)).toEqual([0, 0, 0, 1]);
        },
      },
    }),
    vector({
      method: 'upsert',
      kind: 'same-key',
      name: "upsert every one of A's ids, each into another table than A's: B's own rows",
      run: (b, h) =>
        b.vectors.upsert(
          h.rows.map((row, index) => ({
            id: row.id,
            scope: row.scope,
            vector: wave(index + 1, row.dims === 384 ? 768 : 384),
            metadata: { mine: 'b' },
          })),
        ),
      expect: {
        async check(result, b, h) {
          expect(result).toEqual(h.ids);
          const got = await b.vectors.get(h.ids);
          expect(got.map((row) => row.id)).toEqual(h.ids);
          expect(got.every((row) => JSON.stringify(row.metadata) === '{"mine":"b"}')).toBe(true);
          expect(await b.vectors.count()).toBe(h.ids.length);
        },
      },
    }),
    // search, exact route: B's candidates are at most EXACT_MAX.
    vector({
      method: 'search',
      kind: 'list',
      name: "search A's exact 384 vector, no filter, k 1000 (B has no rows): no hits, exact route",
      run: (b, h) => b.vectors.search({ vector: rowOf(h, 384).vector, k: 1000 }),
      expect: { resolves: { hits: [], complete: true, route: 'exact' } },
    }),
    vector({
      method: 'search',
      kind: 'list',
      name: "search A's exact vector of every table, k 1000: no hits",
      run: (b, h) => Promise.all(h.rows.map((row) => b.vectors.search({ vector: row.vector, k: 1000 }))),
      expect: {
        check(result, _b, h) {
          expect(result).toEqual(h.rows.map(() => ({ hits: [], complete: true, route: 'exact' })));
        },
      },
    }),
    vector({
      method: 'search',
      kind: 'list',
      name: "search with a filter on A's marker, k 1000: no hits",
      run: (b, h) => b.vectors.search({ vector: rowOf(h, 384).vector, k: 1000, filter: { secret: h.marker } }),
      expect: { resolves: { hits: [], complete: true, route: 'exact' } },
    }),
    vector({
      method: 'search',
      kind: 'list',
      name: `search in A's scope of ${EXACT_MAX + 1} rows, unfiltered and on A's marker: no hits, exact route (the routing count is B's)`,
      run: (b, h) =>
        Promise.all([
          b.vectors.search({ vector: wave(1, 384), k: 1000, scope: h.bulkScope }),
          b.vectors.search({ vector: wave(1, 384), k: 1000, scope: h.bulkScope, filter: { secret: h.marker } }),
        ]),
      expect: {
        resolves: [
          { hits: [], complete: true, route: 'exact' },
          { hits: [], complete: true, route: 'exact' },
        ],
      },
    }),
    vector({
      method: 'search',
      kind: 'list',
      name: "search in A's scope, k 1000: no hits",
      run: (b, h) => b.vectors.search({ vector: rowOf(h, 384).vector, k: 1000, scope: h.scope }),
      expect: { resolves: { hits: [], complete: true, route: 'exact' } },
    }),
    vector({
      method: 'search',
      kind: 'list',
      name: "search A's vector with B's own rows, unfiltered / on A's marker / in A's scope: B's own rows only",
      run: async (b, h) => {
        const main = rowOf(h, 384);
        const own = await b.vectors.upsert([
          { scope: h.scope, vector: main.vector, metadata: { mine: 'b' } },
          { scope: h.otherScope, vector: wave(7, 384), metadata: { mine: 'b' } },
          { scope: 'b-own', vector: wave(8, 384), metadata: { mine: 'b' } },
        ]);
        const searches: SearchOptions[] = [
          { vector: main.vector, k: 1000 },
          { vector: main.vector, k: 1000, filter: markerOrMine(h) },
          { vector: main.vector, k: 1000, scope: h.scope },
          { vector: main.vector, k: 1000, scope: h.scope, filter: markerOrMine(h), minScore: -1, includeVectors: true },
        ];
        return { own, results: await Promise.all(searches.map((options) => b.vectors.search(options))) };
      },
      expect: {
        check({ own, results }, _b, h) {
          expect(results.map((result) => [result.route, result.hits.length])).toEqual([
            ['exact', 3],
            ['exact', 3],
            ['exact', 1],
            ['exact', 1],
          ]);
          for (const result of results) onlyOwnHits(result, h, own);
          expect(results[2]!.hits[0]).toMatchObject({ id: own[0], scope: h.scope, metadata: { mine: 'b' } });
          expect(results[2]!.hits[0]!.score).toBeCloseTo(1, 5);
        },
      },
    }),
    vector({
      method: 'search',
      kind: 'list',
      name: "search A's exact 3072 vector in A's scope, filter on A's marker, with vectors: B's own row only",
      run: async (b, h) => {
        const big = rowOf(h, 3072);
        const own = await b.vectors.upsert([{ scope: h.scope, vector: wave(9, 3072), metadata: { mine: 'b' } }]);
        const result = await b.vectors.search({
          vector: big.vector,
          k: 1000,
          scope: h.scope,
          filter: markerOrMine(h),
          includeVectors: true,
        });
        return { own, result };
      },
      expect: {
        check({ own, result }, _b, h) {
          expect(result.route).toBe('exact');
          expect(result.hits.map((hit) => hit.id)).toEqual(own);
          onlyOwnHits(result, h, own);
          expect(result.hits[0]!.vector).toHaveLength(3072);
        },
      },
    }),
    // search, index route: more candidates of B's own than EXACT_MAX, near A's vector.
    vector({
      method: 'search',
      kind: 'list',
      name: `search with ${EXACT_MAX + 1} rows of B's own in A's scope near A's vector (index route), unfiltered / on A's marker / in A's scope: B's own only`,
      run: async (b, h) => {
        const main = rowOf(h, 384);
        const own = await b.vectors.upsert(
          Array.from({ length: EXACT_MAX + 1 }, (_, index) => ({
            scope: h.scope,
            vector: main.vector.map((x, i) => x + 0.05 * Math.sin(index * 3.7 + i)),
            metadata: { mine: 'b' },
          })),
        );
        const searches: SearchOptions[] = [
          { vector: main.vector, k: 1000 },
          { vector: main.vector, k: 1000, filter: markerOrMine(h) },
          { vector: main.vector, k: 1000, scope: h.scope },
        ];
        const results: SearchResult[] = [];
        for (const options of searches) results.push(await b.vectors.search(options));
        return { own, results };
      },
      expect: {
        check({ own, results }, _b, h) {
          for (const result of results) {
            expect(['index', 'fallback']).toContain(result.route);
            expect(result.hits).toHaveLength(1000);
            onlyOwnHits(result, h, own);
          }
        },
      },
    }),
    // get
    vector({
      method: 'get',
      kind: 'read',
      name: "get A's ids (every table): []",
      run: (b, h) => b.vectors.get(h.ids),
      expect: { resolves: [] },
    }),
    vector({
      method: 'get',
      kind: 'read',
      name: "get A's ids upper-cased: []",
      run: (b, h) => b.vectors.get(h.ids.map((id) => id.toUpperCase())),
      expect: { resolves: [] },
    }),
    vector({
      method: 'get',
      kind: 'read',
      name: "get A's ids and B's own: B's own only",
      run: async (b, h) => {
        const [own] = await b.vectors.upsert([
          { scope: h.scope, vector: rowOf(h, 384).vector, metadata: { mine: 'b' } },
        ]);
        return { own: own!, got: await b.vectors.get([...h.ids, own!]) };
      },
      expect: {
        check({ own, got }) {
          expect(got.map((row) => [row.id, row.metadata])).toEqual([[own, { mine: 'b' }]]);
        },
      },
    }),
    // updateMetadata
    vector({
      method: 'updateMetadata',
      kind: 'write',
      name: "updateMetadata of A's 384 id",
      run: (b, h) => b.vectors.updateMetadata(rowOf(h, 384).id, { mine: 'b' }),
      expect: { rejects: 'NOT_FOUND' },
    }),
    vector({
      method: 'updateMetadata',
      kind: 'write',
      name: "updateMetadata of A's 3072 id, removing A's marker (null)",
      run: (b, h) => b.vectors.updateMetadata(rowOf(h, 3072).id, { secret: null }),
      expect: { rejects: 'NOT_FOUND' },
    }),
    vector({
      method: 'updateMetadata',
      kind: 'write',
      name: "updateMetadata of A's 768 id with an empty patch",
      run: (b, h) => b.vectors.updateMetadata(h.rows.find((row) => row.dims === 768)!.id, {}),
      expect: { rejects: 'NOT_FOUND' },
    }),
    vector({
      method: 'updateMetadata',
      kind: 'same-key',
      name: "updateMetadata of A's id once B has a row of its own with it: B's own row only",
      run: async (b, h) => {
        const main = rowOf(h, 384);
        await b.vectors.upsert([{ id: main.id, scope: 'b-own', vector: main.vector, metadata: { mine: 'b' } }]);
        return b.vectors.updateMetadata(main.id, { n: 9, secret: null });
      },
      expect: {
        check(result, _b, h) {
          expect(result).toMatchObject({ id: rowOf(h, 384).id, scope: 'b-own', dimensions: 384 });
          expect(result.metadata).toEqual({ mine: 'b', n: 9 });
        },
      },
    }),
    // delete
    vector({
      method: 'delete',
      kind: 'delete',
      name: "delete A's ids (every table): 0",
      run: (b, h) => b.vectors.delete(h.ids),
      expect: { resolves: 0 },
    }),
    vector({
      method: 'delete',
      kind: 'delete',
      name: "delete A's ids upper-cased: 0",
      run: (b, h) => b.vectors.delete(h.ids.map((id) => id.toUpperCase())),
      expect: { resolves: 0 },
    }),
    vector({
      method: 'delete',
      kind: 'delete',
      name: "delete A's ids once B has a row of its own with one of them: B's own (1)",
      run: async (b, h) => {
        const big = rowOf(h, 3072);
        await b.vectors.upsert([{ id: big.id, scope: h.scope, vector: wave(3, 384), metadata: { mine: 'b' } }]);
        return { deleted: await b.vectors.delete(h.ids), left: await b.vectors.count() };
      },
      expect: { resolves: { deleted: 1, left: 0 } },
    }),
    // deleteWhere
    vector({
      method: 'deleteWhere',
      kind: 'bulk',
      name: "deleteWhere A's scope: 0",
      run: (b, h) => b.vectors.deleteWhere({ scope: h.scope }),
      expect: { resolves: 0 },
    }),
    vector({
      method: 'deleteWhere',
      kind: 'bulk',
      name: "deleteWhere A's other scope: 0",
      run: (b, h) => b.vectors.deleteWhere({ scope: h.otherScope }),
      expect: { resolves: 0 },
    }),
    vector({
      method: 'deleteWhere',
      kind: 'bulk',
      name: `deleteWhere A's scope of ${EXACT_MAX + 1} rows: 0`,
      run: (b, h) => b.vectors.deleteWhere({ scope: h.bulkScope }),
      expect: { resolves: 0 },
    }),
    vector({
      method: 'deleteWhere',
      kind: 'bulk',
      name: "deleteWhere filter on A's marker: 0",
      run: (b, h) => b.vectors.deleteWhere({ filter: { secret: h.marker } }),
      expect: { resolves: 0 },
    }),
    vector({
      method: 'deleteWhere',
      kind: 'bulk',
      name: "deleteWhere A's scope and a filter on A's marker: 0",
      run: (b, h) => b.vectors.deleteWhere({ scope: h.scope, filter: { secret: h.marker } }),
      expect: { resolves: 0 },
    }),
    vector({
      method: 'deleteWhere',
      kind: 'bulk',
      name: 'deleteWhere filter {} (every embedding), B having none: 0',
      run: (b) => b.vectors.deleteWhere({ filter: {} }),
      expect: { resolves: 0 },
    }),
    vector({
      method: 'deleteWhere',
      kind: 'bulk',
      name: "deleteWhere A's scope / filter {}, B having rows of its own there: B's own only",
      run: async (b, h) => {
        const put = () =>
          b.vectors.upsert([
            { scope: h.scope, vector: rowOf(h, 384).vector, metadata: { mine: 'b' } },
            { scope: h.scope, vector: rowOf(h, 3072).vector, metadata: { mine: 'b' } },
          ]);
        await put();
        const inScope = await b.vectors.deleteWhere({ scope: h.scope });
        await put();
        const onMarker = await b.vectors.deleteWhere({ filter: markerOrMine(h) });
        await put();
        const every = await b.vectors.deleteWhere({ filter: {} });
        return { inScope, onMarker, every, left: await b.vectors.count() };
      },
      expect: { resolves: { inScope: 2, onMarker: 2, every: 2, left: 0 } },
    }),
    // count: never A's rows
    vector({
      method: 'count',
      kind: 'list',
      name: 'count(): 0',
      run: (b) => b.vectors.count(),
      expect: { resolves: 0 },
    }),
    vector({
      method: 'count',
      kind: 'list',
      name: "count A's scope / other scope / filter on A's marker / both / filter {} / $exists: 0 each",
      run: (b, h) =>
        Promise.all([
          b.vectors.count({ scope: h.scope }),
          b.vectors.count({ scope: h.otherScope }),
          b.vectors.count({ scope: h.bulkScope }),
          b.vectors.count({ filter: { secret: h.marker } }),
          b.vectors.count({ scope: h.scope, filter: { secret: h.marker } }),
          b.vectors.count({ filter: {} }),
          b.vectors.count({ filter: { secret: { $exists: true } } }),
          b.vectors.count({ filter: { 'nested.secret': h.marker } }),
        ]),
      expect: { resolves: [0, 0, 0, 0, 0, 0, 0, 0] },
    }),
    vector({
      method: 'count',
      kind: 'list',
      name: "count with B's own rows in A's scope: B's own only",
      run: async (b, h) => {
        await b.vectors.upsert([
          { id: rowOf(h, 384).id, scope: h.scope, vector: rowOf(h, 384).vector, metadata: { mine: 'b' } },
          { scope: h.scope, vector: rowOf(h, 3072).vector, metadata: { mine: 'b' } },
          { scope: 'b-own', vector: wave(5, 768), metadata: { mine: 'b' } },
        ]);
        return Promise.all([
          b.vectors.count(),
          b.vectors.count({ scope: h.scope }),
          b.vectors.count({ filter: markerOrMine(h) }),
          b.vectors.count({ filter: { secret: h.marker } }),
          b.vectors.count({ scope: h.otherScope }),
        ]);
      },
      expect: { resolves: [3, 2, 3, 0, 0] },
    }),
    // stats: B's own zeros
    vector({
      method: 'stats',
      kind: 'list',
      name: "stats: B's own zeros in every table, no index of its own",
      run: (b) => b.vectors.stats(),
      expect: {
        check(result) {
          expect(Object.keys(result).sort()).toEqual(['1536', '3072', '384', '768']);
          for (const table of Object.values(result)) expect(table).toMatchObject({ rows: 0, tenantIndex: false });
        },
      },
    }),
    vector({
      method: 'stats',
      kind: 'list',
      name: "stats with B's own row under A's 384 id: 1 there, 0 elsewhere",
      run: async (b, h) => {
        const main = rowOf(h, 384);
        await b.vectors.upsert([{ id: main.id, scope: h.scope, vector: main.vector, metadata: { mine: 'b' } }]);
        return b.vectors.stats();
      },
      expect: {
        check(result) {
          expect([384, 768, 1536, 3072].map((dims) => result[dims as VectorDimension].rows)).toEqual([1, 0, 0, 0]);
        },
      },
    }),
  ],
  async control(a, h) {
    const main = rowOf(h, 384);
    const found = await a.vectors.search({ vector: main.vector, k: 1, filter: { secret: h.marker }, scope: h.scope });
    expect(found.hits.map((hit) => hit.id)).toEqual([main.id]);
    expect(found.hits[0]!.score).toBeCloseTo(1, 5);
    expect((await a.vectors.get(h.ids)).map((row) => row.id)).toEqual(h.ids);
    expect((await a.vectors.updateMetadata(main.id, { checked: true })).metadata).toMatchObject({
      secret: h.marker,
      checked: true,
    });
    expect(await a.vectors.count({ filter: { secret: h.marker } })).toBe(h.ids.length + EXACT_MAX + 1);
    expect((await a.vectors.search({ vector: wave(1, 384), k: 1000, scope: h.bulkScope })).route).not.toBe('exact');
    expect(await a.vectors.deleteWhere({ scope: h.bulkScope, filter: { secret: h.marker } })).toBe(EXACT_MAX + 1);
    const inOther = h.rows.filter((row) => row.scope === h.otherScope).length;
    expect(await a.vectors.deleteWhere({ scope: h.otherScope })).toBe(inOther);
    expect(await a.vectors.delete(h.ids)).toBe(h.ids.length - inOther);
    expect(await a.vectors.count()).toBe(0);
  },
});

/** Every module's registration, by module id: the type asks for one per id of `MODULES`. */
export const CONFORMANCE: { readonly [M in ModuleId]: Registration<M, unknown, unknown> } = {
  agentState,
  workflows,
  sessions,
  procedural,
  vectors,
};

/** The registrations, in `CONFORMANCE` order. */
export const REGISTRATIONS: readonly AnyRegistration[] = Object.values(CONFORMANCE);
