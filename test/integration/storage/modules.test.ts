/**
 * The four storage modules (agentState, workflows, sessions, procedural) through `openStorage`,
 * on real databases: PostgreSQL 18 as the application role, PGlite in memory and PGlite on disk.
 * Every public method of every store, what it returns, what it writes, and how it refuses bad
 * input: by error code and `details.field`, never by message wording.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PreciseDate } from '../../../src/storage/values/codecs.js';
import type { TenantStores } from '../../../src/storage/registry.js';
import {
  MAX_TTL_SECONDS,
  SESSION_TRANSITIONS,
  UPDATABLE_STATUSES,
  type Session,
  type SessionStatus,
} from '../../../src/storage/modules/sessions/types.js';
import {
  WORKFLOW_STATUSES,
  WORKFLOW_TRANSITIONS,
  type Workflow,
  type WorkflowStatus,
} from '../../../src/storage/modules/workflows/types.js';
import { failure, invalid, type Failure } from '../../helpers/outcome.js';
import { openStorageTarget, type OpenedStorage } from '../../helpers/storage.js';

const TARGETS = ['postgres', 'memory', 'embedded'] as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A tenant id no other test uses. */
const newTenant = () => `t-${randomUUID().slice(0, 8)}`;

const coded = (code: string): Failure => ({ code });

/** A row with every Date as `Class ISO` (a PreciseDate's ISO text has its microseconds), for exact comparisons. */
function plain(row: object): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(row).map(([key, value]) => [
      key,
      value instanceof Date ? `${value.constructor.name} ${value.toISOString()}` : value,
    ]),
  );
}

/** Nanoseconds since the epoch, for ordering timestamps exactly. */
const ns = (date: PreciseDate): bigint => date.getFullTime();

/** Base64url JSON, as the library encodes a cursor, to forge one. */
const forgedCursor = (...parts: unknown[]) => Buffer.from(JSON.stringify(parts)).toString('base64url');

/** Sorted as PostgreSQL's C collation sorts text (the test databases use it): by UTF-8 bytes. */
const byBytes = (ids: string[]) => [...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

class Point {
  constructor(public x = 1) {}
}

function nested(levels: number, leaf: unknown): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf };
  for (let i = 0; i < levels; i++) value = { d: value };
  return value;
}

const circular: Record<string, unknown> = { a: 1 };
circular.self = circular;
const sparse: unknown[] = [1];
sparse[2] = 3;

/** JSON documents that are plain objects but are not JSON a jsonb column can hold as given. */
const BAD_DOCUMENTS: [string, Record<string, unknown>][] = [
  ['NaN', { n: NaN }],
  ['Infinity', { n: Infinity }],
  ['-Infinity in an array', { list: [1, -Infinity] }],
  ['undefined in an array', { list: [1, undefined, 3] }],
  ['a sparse array', { list: sparse }],
  ['a Date', { at: new Date() }],
  ['a class instance', { point: new Point() }],
  ['a Map', { map: new Map([['a', 1]]) }],
  ['a BigInt', { big: 10n }],
  ['a function', { fn: () => 1 }],
  ['a symbol', { sym: Symbol('s') }],
  ['a NUL character in a value', { s: 'a\0b' }],
  ['a NUL character in a key', { 'a\0b': 1 }],
  ['a lone surrogate in a value', { s: 'x\ud800' }],
  ['a lone surrogate in a key', { '\udc00': 1 }],
  ['NaN deep inside', { a: { b: [{ c: [1, NaN] }] } }],
  ['a cycle', circular],
  ['150 levels of nesting', nested(150, 1)],
];

/** Values that are not a JSON object at all. */
const NOT_OBJECTS: [string, unknown][] = [
  ['an array', [1, 2]],
  ['a string', '{"a":1}'],
  ['null', null],
  ['a number', 1],
  ['a Date', new Date()],
  ['a class instance', new Point()],
  ['a Map', new Map()],
];

/** Ids (agent, workflow) that are not 1 to 255 bytes of well-formed text without control characters. */
const BAD_IDS: [string, unknown][] = [
  ['a number', 42],
  ['null', null],
  ['undefined', undefined],
  ['an object', { id: 'a' }],
  ['an empty string', ''],
  ['256 bytes', 'x'.repeat(256)],
  ['256 bytes of two-byte characters', 'é'.repeat(128)],
  ['a NUL character', 'a\0b'],
  ['a newline', 'a\nb'],
  ['a tab', 'a\tb'],
  ['a DEL character', 'a\u007fb'],
  ['a lone surrogate', 'a\ud800'],
];

/** Ids that are fine, however odd. */
const GOOD_IDS: [string, string][] = [
  ['255 bytes', 'x'.repeat(255)],
  ['255 bytes of three-byte characters', '€'.repeat(85)],
  ['emoji', '😀'.repeat(63)],
  ['unicode', 'ünïcødé 中文 שלום'],
  ['SQL punctuation', `it's "quoted" \\ back/slash; -- DROP TABLE x; $1 %s`],
  ['one character', 'a'],
];

/** Session ids that are not UUIDs. */
const BAD_SESSION_IDS: [string, unknown][] = [
  ['a number', 42],
  ['null', null],
  ['undefined', undefined],
  ['an empty string', ''],
  ['not a UUID', 'not-a-uuid'],
  ['a UUID in braces', `{${randomUUID()}}`],
  ['a UUID with a NUL', `${randomUUID()}\0`],
  ['a UUID without dashes', randomUUID().replaceAll('-', '')],
  ['256 bytes', 'a'.repeat(256)],
];

/** Texts a scope, key or value may not be (a value may be empty). */
const BAD_TEXTS: [string, unknown][] = [
  ['a number', 7],
  ['null', null],
  ['undefined', undefined],
  ['a NUL character', 'a\0b'],
  ['a lone surrogate', '\udfff'],
];

/** How a new workflow reaches each status. */
const PATH_TO: Record<WorkflowStatus, WorkflowStatus[]> = {
  pending: [],
  running: ['running'],
  paused: ['running', 'paused'],
  completed: ['running', 'completed'],
  failed: ['running', 'failed'],
  cancelled: ['cancelled'],
};

async function workflowIn(stores: TenantStores, status: WorkflowStatus, workflowId?: string): Promise<Workflow> {
  let workflow = await stores.workflows.create({
    name: `a ${status} workflow`,
    state: { payload: [1, { two: 2 }] },
    ...(workflowId === undefined ? {} : { workflowId }),
  });
  workflow = await stores.workflows.update(workflow.workflowId, { currentStep: 3 });
  for (const to of PATH_TO[status]) workflow = await stores.workflows.transition(workflow.workflowId, to);
  expect(workflow.status).toBe(status);
  return workflow;
}

/** How a new session reaches each status `update` or `archive` can set. */
async function sessionIn(stores: TenantStores, status: Exclude<SessionStatus, 'expired'>): Promise<Session> {
  const session = await stores.sessions.create({ metadata: { for: status } });
  if (status === 'active') return session;
  if (status === 'archived') return stores.sessions.archive(session.sessionId);
  return stores.sessions.update(session.sessionId, { status });
}

function expectTimestamps(row: object, fields: string[], nullable: string[] = []): void {
  const record = row as Record<string, unknown>;
  for (const field of fields) expect(record[field], field).toBeInstanceOf(PreciseDate);
  for (const field of nullable) {
    if (record[field] !== null) expect(record[field], field).toBeInstanceOf(PreciseDate);
  }
}

describe.each(TARGETS)('storage modules on %s', (target) => {
  let opened: OpenedStorage;
  beforeAll(async () => {
    opened = await openStorageTarget(target);
  });
  afterAll(async () => {
    await opened?.dispose();
  });

  /** The stores of a tenant of its own. */
  const fresh = (): TenantStores => opened.storage.tenant(newTenant());

  describe('tenants', () => {
    it.each([
      ['too short', 'ab'],
      ['upper case', 'ACME'],
      ['a space', 'ac me'],
      ['a trailing newline', 'acme\n'],
      ['a NUL character', 'acme\0'],
      ['256 characters', 'a'.repeat(256)],
      ['an empty string', ''],
      ['a number', 42],
      ['no id', undefined],
    ])('refuses a tenant id that is %s with TENANT_INVALID, before any SQL', async (_label, id) => {
      expect(await failure(() => opened.storage.tenant(id as string))).toEqual(coded('TENANT_INVALID'));
      expect(await failure(opened.storage.transaction(id as string, async () => 1))).toEqual(coded('TENANT_INVALID'));
    });

    it('accepts a tenant id of 255 characters', async () => {
      const stores = opened.storage.tenant(`t${'a'.repeat(246)}${randomUUID().slice(0, 8)}`);
      expect((await stores.agentState.put('a', { ok: true })).version).toBe(1);
      expect((await stores.agentState.get('a')).state).toEqual({ ok: true });
    });

    it('keeps every module of one tenant out of sight of another', async () => {
      const a = fresh();
      const b = fresh();
      await a.agentState.put('shared-id', { owner: 'a' });
      const workflow = await a.workflows.create({ workflowId: 'shared-id', name: 'w' });
      const session = await a.sessions.create();
      await a.procedural.record('scope', 'key', 'value');

      expect(await failure(b.agentState.get('shared-id'))).toEqual(coded('NOT_FOUND'));
      expect(await failure(b.workflows.get(workflow.workflowId))).toEqual(coded('NOT_FOUND'));
      expect(await failure(b.sessions.get(session.sessionId))).toEqual(coded('NOT_FOUND'));
      expect(await failure(b.procedural.get('scope', 'key', 'value'))).toEqual(coded('NOT_FOUND'));
      expect((await b.agentState.list()).items).toEqual([]);
      expect((await b.workflows.list()).items).toEqual([]);
      expect((await b.sessions.list()).items).toEqual([]);
      expect(await b.procedural.top('scope')).toEqual([]);
      expect(await failure(b.sessions.touch(session.sessionId))).toEqual(coded('NOT_FOUND'));
      expect(await b.agentState.delete('shared-id')).toBe(false);
      // The same ids are free in the other tenant.
      expect((await b.agentState.put('shared-id', { owner: 'b' })).version).toBe(1);
      expect((await b.workflows.create({ workflowId: 'shared-id', name: 'w' })).version).toBe(1);
      expect((await a.agentState.get('shared-id')).state).toEqual({ owner: 'a' });
    });
  });

  describe('agentState', () => {
    it('get of an agent without state is NOT_FOUND', async () => {
      expect(await failure(fresh().agentState.get('nobody'))).toEqual(coded('NOT_FOUND'));
    });

    it('put creates the state at version 1 and get returns exactly that row', async () => {
      const stores = fresh();
      const put = await stores.agentState.put('planner', { step: 1 });
      expect(put).toMatchObject({ agentId: 'planner', state: { step: 1 }, version: 1 });
      expectTimestamps(put, ['createdAt', 'updatedAt']);
      expect(ns(put.updatedAt)).toBe(ns(put.createdAt));
      expect(plain(await stores.agentState.get('planner'))).toEqual(plain(put));
    });

    it('a state round-trips exactly: nested arrays, unicode, escapes, numbers, nulls', async () => {
      const stores = fresh();
      const nullPrototype = Object.assign(Object.create(null) as Record<string, unknown>, { inside: 'null prototype' });
      const state = {
        nested: [[1, [2, [3, []]]], { a: [{ b: [null, true, false] }] }],
        empty: { object: {}, array: [], string: '' },
        '': 'the empty key',
        'dotted.key': 'a.b',
        '😀 key': 'emoji key',
        unicode: 'ünïcødé 中文 שלום e\u0301 😀👩‍👩‍👧',
        escapes: '"quotes" \\backslash\\ \n\r\t \u0001\u001f \u2028\u2029 \ufeff </script>',
        backslashes: 'C:\\path\\to \\x41 \\u0041',
        escapeLookalikes: 'literal \\u0000 and \\ud800 as text',
        noncharacters: '\ufffe\uffff\u{10ffff}',
        numbers: [
          0,
          -1,
          1.5,
          -0.000001,
          0.1 + 0.2,
          1e300,
          -1e-300,
          5e-324,
          Number.MAX_VALUE,
          Number.MAX_SAFE_INTEGER,
          Number.MIN_SAFE_INTEGER,
          123456789.12345679,
        ],
        nulls: null,
        deep: nested(50, 'bottom'),
        nullPrototype,
        long: 'x'.repeat(100_000),
      };
      const put = await stores.agentState.put('round-trip', state);
      expect(put.state).toEqual(state);
      const got = await stores.agentState.get('round-trip');
      expect(got.state).toEqual(state);
      expect(Object.keys(got.state).sort()).toEqual(Object.keys(state).sort());
      expect(got.state.nulls).toBeNull();
    });

    it('put over an existing state replaces it whole and adds one to the version', async () => {
      const stores = fresh();
      const first = await stores.agentState.put('agent', { a: 1, b: { c: 2 } });
      const second = await stores.agentState.put('agent', { d: 3 });
      expect(second).toMatchObject({ agentId: 'agent', state: { d: 3 }, version: 2 });
      expect(second.state).toEqual({ d: 3 });
      expect(ns(second.createdAt)).toBe(ns(first.createdAt));
      expect(ns(second.updatedAt)).toBeGreaterThanOrEqual(ns(first.updatedAt));
      const third = await stores.agentState.put('agent', {});
      expect(third.version).toBe(3);
      expect((await stores.agentState.get('agent')).state).toEqual({});
    });

    it('put with the current expectedVersion writes; a stale one is CONFLICT and changes nothing', async () => {
      const stores = fresh();
      await stores.agentState.put('agent', { n: 1 });
      const second = await stores.agentState.put('agent', { n: 2 }, { expectedVersion: 1 });
      expect(second).toMatchObject({ state: { n: 2 }, version: 2 });
      expect(await failure(stores.agentState.put('agent', { n: 3 }, { expectedVersion: 1 }))).toEqual(
        coded('CONFLICT'),
      );
      expect(await failure(stores.agentState.put('agent', { n: 3 }, { expectedVersion: 3 }))).toEqual(
        coded('CONFLICT'),
      );
      expect(plain(await stores.agentState.get('agent'))).toEqual(plain(second));
    });

    it('put with expectedVersion 0 creates only when there is no state yet', async () => {
      const stores = fresh();
      const created = await stores.agentState.put('agent', { first: true }, { expectedVersion: 0 });
      expect(created).toMatchObject({ state: { first: true }, version: 1 });
      expect(await failure(stores.agentState.put('agent', { first: false }, { expectedVersion: 0 }))).toEqual(
        coded('CONFLICT'),
      );
      expect(plain(await stores.agentState.get('agent'))).toEqual(plain(created));
    });

    it('put with expectedVersion ≥ 1 for an agent without state is NOT_FOUND and creates nothing', async () => {
      const stores = fresh();
      expect(await failure(stores.agentState.put('ghost', { a: 1 }, { expectedVersion: 1 }))).toEqual(
        coded('NOT_FOUND'),
      );
      expect(await failure(stores.agentState.put('ghost', { a: 1 }, { expectedVersion: 7 }))).toEqual(
        coded('NOT_FOUND'),
      );
      expect(await failure(stores.agentState.get('ghost'))).toEqual(coded('NOT_FOUND'));
    });

    it('put keeps null values, which only patch treats as removal', async () => {
      const stores = fresh();
      await stores.agentState.put('agent', { kept: null, other: 1 });
      const got = await stores.agentState.get('agent');
      expect(got.state).toEqual({ kept: null, other: 1 });
      expect(Object.hasOwn(got.state, 'kept')).toBe(true);
    });

    it('patch merges at the top level: keys replaced, null removes a key, nested objects replaced whole', async () => {
      const stores = fresh();
      const before = await stores.agentState.put('agent', {
        keep: 1,
        drop: 'x',
        nested: { a: 1, b: 2 },
        list: [1, 2],
      });
      const patched = await stores.agentState.patch('agent', {
        nested: { c: 3, n: null },
        drop: null,
        absent: null,
        added: true,
        list: [3],
      });
      expect(patched.state).toEqual({ keep: 1, nested: { c: 3, n: null }, added: true, list: [3] });
      expect(Object.hasOwn(patched.state, 'drop')).toBe(false);
      expect(Object.hasOwn(patched.state, 'absent')).toBe(false);
      expect(patched.version).toBe(2);
      expect(ns(patched.createdAt)).toBe(ns(before.createdAt));
      expect(plain(await stores.agentState.get('agent'))).toEqual(plain(patched));
    });

    it('patch of an agent without state is NOT_FOUND and creates nothing', async () => {
      const stores = fresh();
      expect(await failure(stores.agentState.patch('ghost', { a: 1 }))).toEqual(coded('NOT_FOUND'));
      expect(await failure(stores.agentState.patch('ghost', { a: 1 }, { expectedVersion: 0 }))).toEqual(
        coded('NOT_FOUND'),
      );
      expect(await failure(stores.agentState.get('ghost'))).toEqual(coded('NOT_FOUND'));
    });

    it('patch with the current expectedVersion writes; a stale one is CONFLICT and writes nothing', async () => {
      const stores = fresh();
      await stores.agentState.put('agent', { a: 1 });
      const patched = await stores.agentState.patch('agent', { b: 2 }, { expectedVersion: 1 });
      expect(patched).toMatchObject({ state: { a: 1, b: 2 }, version: 2 });
      for (const expectedVersion of [0, 1, 3]) {
        expect(
          await failure(stores.agentState.patch('agent', { c: 3 }, { expectedVersion })),
          `${expectedVersion}`,
        ).toEqual(coded('CONFLICT'));
      }
      expect(plain(await stores.agentState.get('agent'))).toEqual(plain(patched));
    });

    it('concurrent patches of different keys all survive', async () => {
      const stores = fresh();
      await stores.agentState.put('agent', { base: true });
      const keys = Array.from({ length: 8 }, (_, i) => `k${i}`);
      await Promise.all(keys.map((key, i) => stores.agentState.patch('agent', { [key]: i })));
      const got = await stores.agentState.get('agent');
      expect(got.state).toEqual({ base: true, ...Object.fromEntries(keys.map((key, i) => [key, i])) });
      expect(got.version).toBe(1 + keys.length);
    });

    it('delete returns true, then false; the state is gone and put creates it again at version 1', async () => {
      const stores = fresh();
      await stores.agentState.put('agent', { a: 1 });
      await stores.agentState.put('agent', { a: 2 });
      expect(await stores.agentState.delete('agent')).toBe(true);
      expect(await stores.agentState.delete('agent')).toBe(false);
      expect(await failure(stores.agentState.get('agent'))).toEqual(coded('NOT_FOUND'));
      expect((await stores.agentState.put('agent', { a: 3 })).version).toBe(1);
    });

    it('delete with the current expectedVersion deletes; a stale one is CONFLICT and keeps the row', async () => {
      const stores = fresh();
      await stores.agentState.put('agent', { a: 1 });
      const current = await stores.agentState.put('agent', { a: 2 });
      for (const expectedVersion of [0, 1, 3]) {
        expect(await failure(stores.agentState.delete('agent', { expectedVersion })), `${expectedVersion}`).toEqual(
          coded('CONFLICT'),
        );
      }
      expect(plain(await stores.agentState.get('agent'))).toEqual(plain(current));
      expect(await stores.agentState.delete('agent', { expectedVersion: 2 })).toBe(true);
      expect(await failure(stores.agentState.get('agent'))).toEqual(coded('NOT_FOUND'));
    });

    it('delete with expectedVersion of an agent without state is NOT_FOUND', async () => {
      const stores = fresh();
      expect(await failure(stores.agentState.delete('ghost', { expectedVersion: 1 }))).toEqual(coded('NOT_FOUND'));
    });

    it('list returns every agent in agent-id order (bytes, as the C collation sorts)', async () => {
      const stores = fresh();
      const ids = ['b', 'a', 'a-1', 'a0', 'ab', 'Z', 'a.b', 'A', 'é', 'z'];
      for (const id of ids) await stores.agentState.put(id, { id });
      const page = await stores.agentState.list();
      expect(page.items.map((item) => item.agentId)).toEqual(byBytes(ids));
      expect(page.nextCursor).toBeUndefined();
      for (const item of page.items) {
        expect(item.state).toEqual({ id: item.agentId });
        expect(item.version).toBe(1);
        expectTimestamps(item, ['createdAt', 'updatedAt']);
      }
    });

    it('list pages with limit and cursor cover every agent exactly once; the last page has no cursor', async () => {
      const stores = fresh();
      const ids = Array.from({ length: 7 }, (_, i) => `agent-${i}`);
      for (const id of [...ids].reverse()) await stores.agentState.put(id, { id });
      const seen: string[] = [];
      const sizes: number[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const page = await stores.agentState.list({ limit: 3, ...(cursor ? { cursor } : {}) });
        seen.push(...page.items.map((item) => item.agentId));
        sizes.push(page.items.length);
        cursor = page.nextCursor;
        if (cursor === undefined) break;
        expect(typeof cursor).toBe('string');
      }
      expect(sizes).toEqual([3, 3, 1]);
      expect(seen).toEqual(ids);
      expect(new Set(seen).size).toBe(seen.length);
      // A limit equal to the count: one page, no cursor.
      const whole = await stores.agentState.list({ limit: 7 });
      expect(whole.items).toHaveLength(7);
      expect(whole.nextCursor).toBeUndefined();
    });

    it('list pages by key: rows written between pages are neither repeated nor skipped', async () => {
      const stores = fresh();
      for (let i = 0; i < 7; i++) await stores.agentState.put(`k0${i}`, {});
      const first = await stores.agentState.list({ limit: 3 });
      expect(first.items.map((item) => item.agentId)).toEqual(['k00', 'k01', 'k02']);
      await stores.agentState.delete('k01');
      await stores.agentState.put('k00a', {}); // before the cursor: not on a later page
      await stores.agentState.put('k02a', {}); // after the cursor: on the next page
      const second = await stores.agentState.list({ limit: 3, cursor: first.nextCursor! });
      expect(second.items.map((item) => item.agentId)).toEqual(['k02a', 'k03', 'k04']);
      const third = await stores.agentState.list({ limit: 3, cursor: second.nextCursor! });
      expect(third.items.map((item) => item.agentId)).toEqual(['k05', 'k06']);
      expect(third.nextCursor).toBeUndefined();
    });

    it('list returns 50 a page by default and takes a limit of 1000', async () => {
      const stores = fresh();
      const ids = Array.from({ length: 51 }, (_, i) => `agent-${String(i).padStart(2, '0')}`);
      await Promise.all(ids.map((id) => stores.agentState.put(id, {})));
      const first = await stores.agentState.list();
      expect(first.items.map((item) => item.agentId)).toEqual(ids.slice(0, 50));
      expect(first.nextCursor).toBeDefined();
      const second = await stores.agentState.list({ cursor: first.nextCursor! });
      expect(second.items.map((item) => item.agentId)).toEqual(ids.slice(50));
      expect(second.nextCursor).toBeUndefined();
      expect((await stores.agentState.list({ limit: 1000 })).items).toHaveLength(51);
      expect((await fresh().agentState.list()).items).toEqual([]);
    });

    it('list refuses a cursor of another list, and a string that is no cursor', async () => {
      const stores = fresh();
      await stores.agentState.put('a', {});
      await stores.agentState.put('b', {});
      await stores.workflows.create({ workflowId: 'a', name: 'w' });
      await stores.workflows.create({ workflowId: 'b', name: 'w' });
      const workflowCursor = (await stores.workflows.list({ limit: 1 })).nextCursor;
      expect(workflowCursor).toBeDefined();
      expect(await failure(stores.agentState.list({ cursor: workflowCursor! }))).toEqual(invalid('cursor'));
      await stores.sessions.create();
      await stores.sessions.create();
      const sessionCursor = (await stores.sessions.list({ limit: 1 })).nextCursor;
      expect(await failure(stores.agentState.list({ cursor: sessionCursor! }))).toEqual(invalid('cursor'));
      for (const garbage of ['garbage', '', '!!!', 'eyJhIjoxfQ', forgedCursor('agentState'), forgedCursor('x', 'a')]) {
        expect.soft(await failure(stores.agentState.list({ cursor: garbage })), garbage).toEqual(invalid('cursor'));
      }
      // Its own cursor still works.
      const own = (await stores.agentState.list({ limit: 1 })).nextCursor!;
      expect((await stores.agentState.list({ cursor: own })).items.map((item) => item.agentId)).toEqual(['b']);
    });

    it('list refuses a forged cursor whose key is not an agent id, naming the cursor', async () => {
      const stores = fresh();
      for (const forged of [forgedCursor('agentState', 'a\0b'), forgedCursor('agentState', 5)]) {
        expect.soft(await failure(stores.agentState.list({ cursor: forged })), forged).toEqual(invalid('cursor'));
      }
    });

    it('list refuses bad options', async () => {
      const stores = fresh();
      const cases: [unknown, string][] = [
        [{ limit: 0 }, 'limit'],
        [{ limit: 1001 }, 'limit'],
        [{ limit: 1.5 }, 'limit'],
        [{ limit: '10' }, 'limit'],
        [{ limit: null }, 'limit'],
        [{ cursor: 42 }, 'cursor'],
        [{ cursor: 'c'.repeat(5000) }, 'cursor'],
        [{ status: 'active' }, 'status'],
        [null, 'options'],
        ['options', 'options'],
      ];
      for (const [options, field] of cases) {
        expect
          .soft(await failure(stores.agentState.list(options as never)), JSON.stringify(options))
          .toEqual(invalid(field));
      }
    });

    it.each([
      ['a negative', -1],
      ['a fraction', 1.5],
      ['a string', '1'],
      ['NaN', NaN],
      ['null', null],
      ['past 2^53', 2 ** 53],
    ])(
      'put, patch and delete refuse an expectedVersion that is %s, writing nothing',
      async (_label, expectedVersion) => {
        const stores = fresh();
        const before = await stores.agentState.put('agent', { a: 1 });
        const options = { expectedVersion } as never;
        expect
          .soft(await failure(stores.agentState.put('agent', { a: 2 }, options)), 'put')
          .toEqual(invalid('expectedVersion'));
        expect
          .soft(await failure(stores.agentState.patch('agent', { a: 2 }, options)), 'patch')
          .toEqual(invalid('expectedVersion'));
        expect
          .soft(await failure(stores.agentState.delete('agent', options)), 'delete')
          .toEqual(invalid('expectedVersion'));
        expect(plain(await stores.agentState.get('agent'))).toEqual(plain(before));
      },
    );

    it('put, patch and delete refuse options that are not an object, or hold an unknown key', async () => {
      const stores = fresh();
      const before = await stores.agentState.put('agent', { a: 1 });
      for (const [options, field] of [
        [null, 'options'],
        ['v1', 'options'],
        [[1], 'options'],
        [{ version: 1 }, 'version'],
      ] as [unknown, string][]) {
        const label = JSON.stringify(options);
        expect
          .soft(await failure(stores.agentState.put('agent', {}, options as never)), `put ${label}`)
          .toEqual(invalid(field));
        expect
          .soft(await failure(stores.agentState.patch('agent', {}, options as never)), `patch ${label}`)
          .toEqual(invalid(field));
        expect
          .soft(await failure(stores.agentState.delete('agent', options as never)), `delete ${label}`)
          .toEqual(invalid(field));
      }
      expect(plain(await stores.agentState.get('agent'))).toEqual(plain(before));
      // An expectedVersion left undefined is no expectedVersion.
      expect((await stores.agentState.put('agent', { b: 1 }, { expectedVersion: undefined })).version).toBe(2);
    });

    it.each(NOT_OBJECTS)('put and patch refuse a state that is %s (state, partial)', async (_label, value) => {
      const stores = fresh();
      expect(await failure(stores.agentState.put('new', value as never))).toEqual(invalid('state'));
      expect(await failure(stores.agentState.get('new'))).toEqual(coded('NOT_FOUND'));
      const before = await stores.agentState.put('old', { a: 1 });
      expect(await failure(stores.agentState.patch('old', value as never))).toEqual(invalid('partial'));
      expect(plain(await stores.agentState.get('old'))).toEqual(plain(before));
    });

    it('put and patch refuse a missing state', async () => {
      const stores = fresh();
      expect(await failure(stores.agentState.put('new', undefined as never))).toEqual(invalid('state'));
      await stores.agentState.put('old', {});
      expect(await failure(stores.agentState.patch('old', undefined as never))).toEqual(invalid('partial'));
    });
  });

  describe('workflows', () => {
    it('create makes a pending workflow with a UUID id, step 0 and an empty state by default', async () => {
      const stores = fresh();
      const created = await stores.workflows.create({ name: 'ingest' });
      expect(created.workflowId).toMatch(UUID);
      expect(created).toMatchObject({
        name: 'ingest',
        status: 'pending',
        currentStep: 0,
        state: {},
        error: null,
        version: 1,
        startedAt: null,
        completedAt: null,
      });
      expectTimestamps(created, ['createdAt', 'updatedAt']);
      expect(plain(await stores.workflows.get(created.workflowId))).toEqual(plain(created));
      const other = await stores.workflows.create({ name: 'ingest' });
      expect(other.workflowId).toMatch(UUID);
      expect(other.workflowId).not.toBe(created.workflowId);
    });

    it('create takes an id and a state of the caller, and get returns them', async () => {
      const stores = fresh();
      const state = { inputs: ['a', 'b'], options: { deep: [1, { two: 'ü' }] } };
      const created = await stores.workflows.create({ workflowId: 'nightly-2026', name: 'Nightly ✓', state });
      expect(created).toMatchObject({ workflowId: 'nightly-2026', name: 'Nightly ✓', state, status: 'pending' });
      const got = await stores.workflows.get('nightly-2026');
      expect(plain(got)).toEqual(plain(created));
      expect(got.state).toEqual(state);
    });

    it('create of an id that exists is CONFLICT and leaves the first alone', async () => {
      const stores = fresh();
      const first = await stores.workflows.create({ workflowId: 'dup', name: 'first', state: { n: 1 } });
      expect(await failure(stores.workflows.create({ workflowId: 'dup', name: 'second' }))).toEqual(coded('CONFLICT'));
      expect(plain(await stores.workflows.get('dup'))).toEqual(plain(first));
    });

    it('get of an unknown workflow is NOT_FOUND', async () => {
      const stores = fresh();
      expect(await failure(stores.workflows.get('nope'))).toEqual(coded('NOT_FOUND'));
      expect(await failure(stores.workflows.get(randomUUID()))).toEqual(coded('NOT_FOUND'));
    });

    it('create refuses bad input and writes nothing', async () => {
      const stores = fresh();
      const cases: [unknown, string][] = [
        [undefined, 'input'],
        [null, 'input'],
        ['ingest', 'input'],
        [[{ name: 'x' }], 'input'],
        [{}, 'name'],
        [{ name: 42 }, 'name'],
        [{ name: '' }, 'name'],
        [{ name: 'a\0b' }, 'name'],
        [{ name: '\ud800' }, 'name'],
        [{ name: 'x'.repeat(1025) }, 'name'],
        [{ name: '€'.repeat(342) }, 'name'],
        [{ name: 'ok', workflowId: 42 }, 'workflowId'],
        [{ name: 'ok', workflowId: '' }, 'workflowId'],
        [{ name: 'ok', workflowId: null }, 'workflowId'],
        [{ name: 'ok', state: [] }, 'state'],
        [{ name: 'ok', state: null }, 'state'],
        [{ name: 'ok', state: 'x' }, 'state'],
        [{ name: 'ok', status: 'running' }, 'status'],
        [{ name: 'ok', currentStep: 1 }, 'currentStep'],
      ];
      for (const [input, field] of cases) {
        expect
          .soft(await failure(stores.workflows.create(input as never)), JSON.stringify(input))
          .toEqual(invalid(field));
      }
      expect((await stores.workflows.list()).items).toEqual([]);
      // The longest name is 1024 bytes.
      expect((await stores.workflows.create({ name: 'x'.repeat(1024) })).name).toHaveLength(1024);
    });

    it('update replaces the state whole and sets the step, each alone or both', async () => {
      const stores = fresh();
      const created = await stores.workflows.create({ workflowId: 'w', name: 'w', state: { a: 1, b: 2 } });
      const stateOnly = await stores.workflows.update('w', { state: { c: 3 } });
      expect(stateOnly).toMatchObject({ state: { c: 3 }, currentStep: 0, version: 2, status: 'pending' });
      expect(stateOnly.state).toEqual({ c: 3 });
      const stepOnly = await stores.workflows.update('w', { currentStep: 4 });
      expect(stepOnly).toMatchObject({ state: { c: 3 }, currentStep: 4, version: 3 });
      const both = await stores.workflows.update('w', { state: {}, currentStep: 2_147_483_647 });
      expect(both).toMatchObject({ state: {}, currentStep: 2_147_483_647, version: 4 });
      expect(ns(both.createdAt)).toBe(ns(created.createdAt));
      expect(ns(both.updatedAt)).toBeGreaterThanOrEqual(ns(created.updatedAt));
      expect(both.name).toBe('w');
      expect(plain(await stores.workflows.get('w'))).toEqual(plain(both));
    });

    it('update of an unknown workflow is NOT_FOUND', async () => {
      const stores = fresh();
      expect(await failure(stores.workflows.update('nope', { currentStep: 1 }))).toEqual(coded('NOT_FOUND'));
      expect(await failure(stores.workflows.update('nope', { currentStep: 1 }, { expectedVersion: 1 }))).toEqual(
        coded('NOT_FOUND'),
      );
    });

    it('update with the current expectedVersion writes; a stale one is CONFLICT and writes nothing', async () => {
      const stores = fresh();
      await stores.workflows.create({ workflowId: 'w', name: 'w' });
      const updated = await stores.workflows.update('w', { currentStep: 1 }, { expectedVersion: 1 });
      expect(updated.version).toBe(2);
      for (const expectedVersion of [0, 1, 3]) {
        expect(
          await failure(stores.workflows.update('w', { currentStep: 9, state: { x: 1 } }, { expectedVersion })),
          `${expectedVersion}`,
        ).toEqual(coded('CONFLICT'));
      }
      expect(plain(await stores.workflows.get('w'))).toEqual(plain(updated));
    });

    it('update refuses bad changes and options, writing nothing', async () => {
      const stores = fresh();
      const before = await stores.workflows.create({ workflowId: 'w', name: 'w', state: { a: 1 } });
      const cases: [unknown, unknown, string][] = [
        [{}, undefined, 'changes'],
        [{ state: undefined, currentStep: undefined }, undefined, 'changes'],
        [null, undefined, 'changes'],
        ['changes', undefined, 'changes'],
        [{ status: 'running' }, undefined, 'status'],
        [{ name: 'renamed' }, undefined, 'name'],
        [{ currentStep: 1, foo: 1 }, undefined, 'foo'],
        [{ currentStep: -1 }, undefined, 'currentStep'],
        [{ currentStep: 1.5 }, undefined, 'currentStep'],
        [{ currentStep: '2' }, undefined, 'currentStep'],
        [{ currentStep: 2 ** 31 }, undefined, 'currentStep'],
        [{ currentStep: null }, undefined, 'currentStep'],
        [{ state: [] }, undefined, 'state'],
        [{ state: null }, undefined, 'state'],
        [{ currentStep: 1 }, { expectedVersion: -1 }, 'expectedVersion'],
        [{ currentStep: 1 }, { expectedVersion: '1' }, 'expectedVersion'],
        [{ currentStep: 1 }, { force: true }, 'force'],
        [{ currentStep: 1 }, null, 'options'],
      ];
      for (const [changes, options, field] of cases) {
        expect
          .soft(
            await failure(stores.workflows.update('w', changes as never, options as never)),
            `${JSON.stringify(changes)} ${JSON.stringify(options)}`,
          )
          .toEqual(invalid(field));
      }
      expect(plain(await stores.workflows.get('w'))).toEqual(plain(before));
    });

    describe('transition', () => {
      const pairs = WORKFLOW_STATUSES.flatMap((from) => WORKFLOW_STATUSES.map((to) => [from, to] as const));
      const allowed = pairs.filter(([from, to]) => WORKFLOW_TRANSITIONS[from].includes(to));
      const refused = pairs.filter(([from, to]) => !WORKFLOW_TRANSITIONS[from].includes(to));

      it('the graph has the edges the tests expect', () => {
        expect(allowed.map(([from, to]) => `${from}→${to}`).sort()).toEqual(
          [
            'pending→running',
            'pending→cancelled',
            'pending→failed',
            'running→paused',
            'running→completed',
            'running→failed',
            'running→cancelled',
            'paused→running',
            'paused→cancelled',
            'paused→failed',
          ].sort(),
        );
      });

      it.each(allowed)('%s → %s is allowed', async (from, to) => {
        const stores = fresh();
        const before = await workflowIn(stores, from);
        const after = await stores.workflows.transition(before.workflowId, to);
        expect(after).toMatchObject({
          workflowId: before.workflowId,
          name: before.name,
          state: before.state,
          currentStep: before.currentStep,
          status: to,
          version: before.version + 1,
        });
        expect(ns(after.createdAt)).toBe(ns(before.createdAt));
        expect(ns(after.updatedAt)).toBeGreaterThanOrEqual(ns(before.updatedAt));
        expectTimestamps(after, ['createdAt', 'updatedAt'], ['startedAt', 'completedAt']);
        const final = to === 'completed' || to === 'failed' || to === 'cancelled';
        expect(after.completedAt === null).toBe(!final);
        if (to === 'running' || from !== 'pending') expect(after.startedAt).not.toBeNull();
        else expect(after.startedAt).toBeNull();
        expect(plain(await stores.workflows.get(before.workflowId))).toEqual(plain(after));
      });

      it.each(refused)('%s → %s is INVALID_TRANSITION and changes nothing', async (from, to) => {
        const stores = fresh();
        const before = await workflowIn(stores, from);
        const snapshot = plain(await stores.workflows.get(before.workflowId));
        expect(await failure(stores.workflows.transition(before.workflowId, to))).toEqual(coded('INVALID_TRANSITION'));
        if (to === 'failed' || to === 'cancelled') {
          expect(await failure(stores.workflows.transition(before.workflowId, to, { error: 'e' }))).toEqual(
            coded('INVALID_TRANSITION'),
          );
        }
        expect(plain(await stores.workflows.get(before.workflowId))).toEqual(snapshot);
      });

      it('startedAt is set when it first runs and kept when it resumes from paused', async () => {
        const stores = fresh();
        const created = await stores.workflows.create({ workflowId: 'w', name: 'w' });
        const running = await stores.workflows.transition('w', 'running');
        expect(running.startedAt).toBeInstanceOf(PreciseDate);
        expect(ns(running.startedAt!)).toBeGreaterThanOrEqual(ns(created.createdAt));
        expect(running.completedAt).toBeNull();
        await sleep(5);
        const paused = await stores.workflows.transition('w', 'paused');
        expect(ns(paused.startedAt!)).toBe(ns(running.startedAt!));
        expect(paused.completedAt).toBeNull();
        await sleep(5);
        const resumed = await stores.workflows.transition('w', 'running');
        expect(ns(resumed.startedAt!)).toBe(ns(running.startedAt!));
        expect(ns(resumed.updatedAt)).toBeGreaterThan(ns(running.updatedAt));
        expect(resumed.completedAt).toBeNull();
        expect(resumed.version).toBe(4);
      });

      it.each(['completed', 'failed', 'cancelled'] as const)(
        'completedAt is set on %s, not before startedAt',
        async (to) => {
          const stores = fresh();
          await stores.workflows.create({ workflowId: 'w', name: 'w' });
          const running = await stores.workflows.transition('w', 'running');
          await sleep(5);
          const done = await stores.workflows.transition('w', to);
          expect(done.completedAt).toBeInstanceOf(PreciseDate);
          expect(ns(done.completedAt!)).toBeGreaterThanOrEqual(ns(done.startedAt!));
          expect(ns(done.completedAt!)).toBeGreaterThan(ns(running.startedAt!));
          expect(ns(done.startedAt!)).toBe(ns(running.startedAt!));
        },
      );

      it('a pending workflow that fails or is cancelled gets completedAt without ever starting', async () => {
        const stores = fresh();
        for (const to of ['failed', 'cancelled'] as const) {
          const created = await stores.workflows.create({ name: 'w' });
          const done = await stores.workflows.transition(created.workflowId, to);
          expect(done.startedAt).toBeNull();
          expect(done.completedAt).toBeInstanceOf(PreciseDate);
          expect(ns(done.completedAt!)).toBeGreaterThanOrEqual(ns(created.createdAt));
        }
      });

      it('records the error of a failed or cancelled transition', async () => {
        const stores = fresh();
        const error = 'boom: ünïcødé\n  at step 3\t"quoted" \\ 😀';
        const failed = await workflowIn(stores, 'running', 'f');
        expect((await stores.workflows.transition(failed.workflowId, 'failed', { error })).error).toBe(error);
        expect((await stores.workflows.get('f')).error).toBe(error);
        await workflowIn(stores, 'paused', 'c');
        expect((await stores.workflows.transition('c', 'cancelled', { error: '' })).error).toBe('');
        await workflowIn(stores, 'pending', 'n');
        expect((await stores.workflows.transition('n', 'failed')).error).toBeNull();
        await workflowIn(stores, 'running', 'big');
        const long = 'e'.repeat(65_536);
        expect((await stores.workflows.transition('big', 'failed', { error: long })).error).toBe(long);
      });

      it.each(['running', 'paused', 'completed', 'pending'] as const)(
        'an error with %s is INVALID_INPUT (options.error) and changes nothing',
        async (to) => {
          const stores = fresh();
          const before = await workflowIn(stores, to === 'paused' || to === 'completed' ? 'running' : 'pending');
          expect(await failure(stores.workflows.transition(before.workflowId, to, { error: 'x' }))).toEqual(
            invalid('error'),
          );
          expect(plain(await stores.workflows.get(before.workflowId))).toEqual(plain(before));
        },
      );

      it('transition of an unknown workflow is NOT_FOUND, whatever the status', async () => {
        const stores = fresh();
        for (const to of WORKFLOW_STATUSES) {
          expect.soft(await failure(stores.workflows.transition('nope', to)), to).toEqual(coded('NOT_FOUND'));
        }
      });

      it('transition refuses an unknown status (to) and bad options, changing nothing', async () => {
        const stores = fresh();
        const before = await workflowIn(stores, 'running', 'w');
        const cases: [unknown, unknown, string][] = [
          ['done', undefined, 'to'],
          ['RUNNING', undefined, 'to'],
          ['', undefined, 'to'],
          [42, undefined, 'to'],
          [undefined, undefined, 'to'],
          [null, undefined, 'to'],
          ['failed', { error: 42 }, 'error'],
          ['failed', { error: null }, 'error'],
          ['failed', { error: 'a\0b' }, 'error'],
          ['failed', { error: '\ud800' }, 'error'],
          ['failed', { error: 'e'.repeat(65_537) }, 'error'],
          ['failed', { reason: 'x' }, 'reason'],
          ['failed', null, 'options'],
          ['failed', 'boom', 'options'],
        ];
        for (const [to, options, field] of cases) {
          expect
            .soft(
              await failure(stores.workflows.transition('w', to as never, options as never)),
              `${String(to)} ${JSON.stringify(options)}`,
            )
            .toEqual(invalid(field));
        }
        expect(plain(await stores.workflows.get('w'))).toEqual(plain(before));
      });

      it('of two concurrent starts, one wins and the other is INVALID_TRANSITION', async () => {
        const stores = fresh();
        await stores.workflows.create({ workflowId: 'w', name: 'w' });
        const results = await Promise.allSettled([
          stores.workflows.transition('w', 'running'),
          stores.workflows.transition('w', 'running'),
        ]);
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        const lost = results.find((r) => r.status === 'rejected');
        expect(await failure(Promise.reject(lost?.reason))).toEqual(coded('INVALID_TRANSITION'));
        expect((await stores.workflows.get('w')).version).toBe(2);
      });
    });

    describe('list', () => {
      const STATUSES: [string, WorkflowStatus][] = [
        ['wf-a', 'pending'],
        ['wf-b', 'running'],
        ['wf-c', 'running'],
        ['wf-d', 'paused'],
        ['wf-e', 'running'],
        ['wf-f', 'completed'],
        ['wf-g', 'pending'],
      ];
      let stores: TenantStores;
      beforeAll(async () => {
        stores = fresh();
        for (const [id, status] of [...STATUSES].reverse()) await workflowIn(stores, status, id);
      });

      const idsOf = (status?: WorkflowStatus) =>
        STATUSES.filter(([, s]) => status === undefined || s === status).map(([id]) => id);

      async function walk(options: { status?: WorkflowStatus; limit: number }) {
        const ids: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await stores.workflows.list({ ...options, ...(cursor ? { cursor } : {}) });
          expect(page.items.length).toBeLessThanOrEqual(options.limit);
          for (const item of page.items) if (options.status) expect(item.status).toBe(options.status);
          ids.push(...page.items.map((item) => item.workflowId));
          cursor = page.nextCursor;
          pages++;
        } while (cursor !== undefined && pages < 20);
        return { ids, pages };
      }

      it('lists every workflow in workflow-id order, with its whole row', async () => {
        const page = await stores.workflows.list();
        expect(page.items.map((item) => item.workflowId)).toEqual(idsOf());
        expect(page.nextCursor).toBeUndefined();
        for (const item of page.items) {
          expect(plain(item)).toEqual(plain(await stores.workflows.get(item.workflowId)));
        }
      });

      it('lists the workflows of one status', async () => {
        for (const status of WORKFLOW_STATUSES) {
          const page = await stores.workflows.list({ status });
          expect(
            page.items.map((item) => item.workflowId),
            status,
          ).toEqual(idsOf(status));
          expect(page.nextCursor).toBeUndefined();
        }
      });

      it('pages cover every workflow exactly once, with and without a status', async () => {
        expect(await walk({ limit: 2 })).toEqual({ ids: idsOf(), pages: 4 });
        expect(await walk({ limit: 1, status: 'running' })).toEqual({ ids: idsOf('running'), pages: 3 });
        expect(await walk({ limit: 3, status: 'running' })).toEqual({ ids: idsOf('running'), pages: 1 });
        expect(await walk({ limit: 1, status: 'pending' })).toEqual({ ids: idsOf('pending'), pages: 2 });
      });

      it('refuses a cursor made with another status filter, or another list', async () => {
        const running = (await stores.workflows.list({ status: 'running', limit: 1 })).nextCursor!;
        const all = (await stores.workflows.list({ limit: 1 })).nextCursor!;
        expect(running).toBeDefined();
        expect(await failure(stores.workflows.list({ status: 'pending', cursor: running }))).toEqual(invalid('cursor'));
        expect(await failure(stores.workflows.list({ cursor: running }))).toEqual(invalid('cursor'));
        expect(await failure(stores.workflows.list({ status: 'running', cursor: all }))).toEqual(invalid('cursor'));
        await stores.agentState.put('a', {});
        await stores.agentState.put('b', {});
        const agents = (await stores.agentState.list({ limit: 1 })).nextCursor!;
        expect(await failure(stores.workflows.list({ cursor: agents }))).toEqual(invalid('cursor'));
        expect(await failure(stores.workflows.list({ cursor: 'garbage' }))).toEqual(invalid('cursor'));
        // The cursor works with its own filter.
        expect(
          (await stores.workflows.list({ status: 'running', cursor: running })).items.map((i) => i.workflowId),
        ).toEqual(['wf-c', 'wf-e']);
      });

      it('refuses a forged cursor whose key is not a workflow id, naming the cursor', async () => {
        const forged = forgedCursor('workflows:*', 'a\0b');
        expect(await failure(stores.workflows.list({ cursor: forged }))).toEqual(invalid('cursor'));
      });

      it('refuses bad options', async () => {
        const cases: [unknown, string][] = [
          [{ status: 'done' }, 'status'],
          [{ status: 42 }, 'status'],
          [{ limit: 0 }, 'limit'],
          [{ limit: 1001 }, 'limit'],
          [{ cursor: 7 }, 'cursor'],
          [{ name: 'x' }, 'name'],
          [null, 'options'],
        ];
        for (const [options, field] of cases) {
          expect
            .soft(await failure(stores.workflows.list(options as never)), JSON.stringify(options))
            .toEqual(invalid(field));
        }
      });
    });
  });

  describe('sessions', () => {
    it('create starts an active session with no expiry, empty metadata and a UUID id', async () => {
      const stores = fresh();
      const created = await stores.sessions.create();
      expect(created.sessionId).toMatch(UUID);
      expect(created).toMatchObject({ status: 'active', metadata: {}, expiresAt: null });
      expectTimestamps(created, ['createdAt', 'updatedAt', 'lastAccessedAt']);
      expect(ns(created.updatedAt)).toBe(ns(created.createdAt));
      expect(ns(created.lastAccessedAt)).toBe(ns(created.createdAt));
      expect(plain(await stores.sessions.get(created.sessionId))).toEqual(plain(created));
      const empty = await stores.sessions.create({});
      expect(empty.sessionId).not.toBe(created.sessionId);
      expect(empty.expiresAt).toBeNull();
    });

    it('create with metadata keeps it exactly', async () => {
      const stores = fresh();
      const metadata = { user: 'ü-42', tags: ['a', ['b']], nested: { n: null, x: 1.25 } };
      const created = await stores.sessions.create({ metadata });
      expect(created.metadata).toEqual(metadata);
      expect((await stores.sessions.get(created.sessionId)).metadata).toEqual(metadata);
    });

    it('create with ttlSeconds expires exactly that long after creation', async () => {
      const stores = fresh();
      for (const ttlSeconds of [1, 3600, MAX_TTL_SECONDS]) {
        const created = await stores.sessions.create({ ttlSeconds });
        expect(created.expiresAt).toBeInstanceOf(PreciseDate);
        expect(ns(created.expiresAt!) - ns(created.createdAt), `${ttlSeconds}`).toBe(
          BigInt(ttlSeconds) * 1_000_000_000n,
        );
      }
    });

    it('create with a future expiresAt stores that instant, to the microsecond', async () => {
      const stores = fresh();
      const date = new Date(Date.now() + 3_600_000);
      expect((await stores.sessions.create({ expiresAt: date })).expiresAt!.getTime()).toBe(date.getTime());
      const precise = new PreciseDate(Date.now() + 7_200_000);
      precise.setMicroseconds(789);
      const created = await stores.sessions.create({ expiresAt: precise });
      expect(created.expiresAt!.toISOString()).toBe(precise.toISOString());
      expect((await stores.sessions.get(created.sessionId)).expiresAt!.getMicroseconds()).toBe(789);
    });

    it('create takes an expiresAt far in the future that PostgreSQL can hold (year 10000)', async () => {
      const stores = fresh();
      // toISOString() writes a year past 9999 as +010000-01-01T…; PostgreSQL holds years to 294276.
      const far = new Date('+010000-01-01T00:00:00.000Z');
      const created = await stores.sessions.create({ expiresAt: far });
      expect(created.expiresAt!.getTime()).toBe(far.getTime());
      expect((await stores.sessions.get(created.sessionId)).expiresAt!.getTime()).toBe(far.getTime());
    });

    it('create refuses bad input and writes nothing', async () => {
      const stores = fresh();
      const future = new Date(Date.now() + 3_600_000);
      const cases: [unknown, string][] = [
        [{ ttlSeconds: 60, expiresAt: future }, 'input'],
        [{ expiresAt: new Date(Date.now() - 1000) }, 'expiresAt'],
        [{ expiresAt: new Date(0) }, 'expiresAt'],
        [{ expiresAt: new Date(NaN) }, 'expiresAt'],
        [{ expiresAt: future.toISOString() }, 'expiresAt'],
        [{ expiresAt: future.getTime() }, 'expiresAt'],
        [{ expiresAt: null }, 'expiresAt'],
        [{ ttlSeconds: 0 }, 'ttlSeconds'],
        [{ ttlSeconds: -5 }, 'ttlSeconds'],
        [{ ttlSeconds: 1.5 }, 'ttlSeconds'],
        [{ ttlSeconds: '60' }, 'ttlSeconds'],
        [{ ttlSeconds: NaN }, 'ttlSeconds'],
        [{ ttlSeconds: Infinity }, 'ttlSeconds'],
        [{ ttlSeconds: MAX_TTL_SECONDS + 1 }, 'ttlSeconds'],
        [{ ttlSeconds: null }, 'ttlSeconds'],
        [{ metadata: [1] }, 'metadata'],
        [{ metadata: 'x' }, 'metadata'],
        [{ metadata: null }, 'metadata'],
        [{ metadata: 5 }, 'metadata'],
        [{ metadata: new Point() }, 'metadata'],
        [{ sessionId: randomUUID() }, 'sessionId'],
        [{ status: 'suspended' }, 'status'],
        [null, 'input'],
        ['session', 'input'],
        [[], 'input'],
      ];
      for (const [input, field] of cases) {
        expect
          .soft(await failure(stores.sessions.create(input as never)), JSON.stringify(input))
          .toEqual(invalid(field));
      }
      expect((await stores.sessions.list()).items).toEqual([]);
    });

    it('get of an unknown session is NOT_FOUND; a session id must be a UUID', async () => {
      const stores = fresh();
      expect(await failure(stores.sessions.get(randomUUID()))).toEqual(coded('NOT_FOUND'));
      const created = await stores.sessions.create();
      expect((await stores.sessions.get(created.sessionId.toUpperCase())).sessionId).toBe(created.sessionId);
    });

    it.each(BAD_SESSION_IDS)(
      'a session id that is %s is INVALID_INPUT (sessionId) for every method',
      async (_l, id) => {
        const stores = fresh();
        const sessionId = id as string;
        expect.soft(await failure(stores.sessions.get(sessionId)), 'get').toEqual(invalid('sessionId'));
        expect.soft(await failure(stores.sessions.touch(sessionId)), 'touch').toEqual(invalid('sessionId'));
        expect
          .soft(await failure(stores.sessions.update(sessionId, { metadata: {} })), 'update metadata')
          .toEqual(invalid('sessionId'));
        expect
          .soft(await failure(stores.sessions.update(sessionId, { status: 'completed' })), 'update status')
          .toEqual(invalid('sessionId'));
        expect.soft(await failure(stores.sessions.archive(sessionId)), 'archive').toEqual(invalid('sessionId'));
      },
    );

    it('touch records an access: lastAccessedAt moves forward and nothing else changes', async () => {
      const stores = fresh();
      const created = await stores.sessions.create({ metadata: { a: 1 }, ttlSeconds: 60 });
      await sleep(5);
      const touched = await stores.sessions.touch(created.sessionId);
      expect(ns(touched.lastAccessedAt)).toBeGreaterThan(ns(created.lastAccessedAt));
      expect(plain({ ...touched, lastAccessedAt: null, updatedAt: null })).toEqual(
        plain({ ...created, lastAccessedAt: null, updatedAt: null }),
      );
      expect(ns((await stores.sessions.get(created.sessionId)).lastAccessedAt)).toBe(ns(touched.lastAccessedAt));
    });

    it('touch never moves lastAccessedAt back, however many touch at once', async () => {
      const stores = fresh();
      const created = await stores.sessions.create();
      const touched = await Promise.all(Array.from({ length: 6 }, () => stores.sessions.touch(created.sessionId)));
      const latest = touched.map((t) => ns(t.lastAccessedAt)).reduce((a, b) => (a > b ? a : b));
      const now = await stores.sessions.get(created.sessionId);
      expect(ns(now.lastAccessedAt)).toBe(latest);
      expect(latest).toBeGreaterThanOrEqual(ns(created.lastAccessedAt));
      const again = await stores.sessions.touch(created.sessionId);
      expect(ns(again.lastAccessedAt)).toBeGreaterThanOrEqual(latest);
    });

    it('touch works whatever the status; an unknown session is NOT_FOUND', async () => {
      const stores = fresh();
      const archived = await sessionIn(stores, 'archived');
      expect((await stores.sessions.touch(archived.sessionId)).status).toBe('archived');
      const completed = await sessionIn(stores, 'completed');
      expect((await stores.sessions.touch(completed.sessionId)).status).toBe('completed');
      expect(await failure(stores.sessions.touch(randomUUID()))).toEqual(coded('NOT_FOUND'));
    });

    it('update replaces the metadata whole', async () => {
      const stores = fresh();
      const created = await stores.sessions.create({ metadata: { a: 1, b: 2 } });
      const updated = await stores.sessions.update(created.sessionId, { metadata: { c: [3] } });
      expect(updated.metadata).toEqual({ c: [3] });
      expect(updated.status).toBe('active');
      expect(ns(updated.updatedAt)).toBeGreaterThanOrEqual(ns(created.updatedAt));
      expect(ns(updated.createdAt)).toBe(ns(created.createdAt));
      expect((await stores.sessions.get(created.sessionId)).metadata).toEqual({ c: [3] });
      expect((await stores.sessions.update(created.sessionId, { metadata: {} })).metadata).toEqual({});
    });

    it('update moves active → suspended → active → completed, with metadata at the same time', async () => {
      const stores = fresh();
      const { sessionId } = await stores.sessions.create();
      expect((await stores.sessions.update(sessionId, { status: 'suspended' })).status).toBe('suspended');
      expect((await stores.sessions.update(sessionId, { status: 'active' })).status).toBe('active');
      const done = await stores.sessions.update(sessionId, { status: 'completed', metadata: { result: 'ok' } });
      expect(done).toMatchObject({ status: 'completed', metadata: { result: 'ok' } });
      expect(plain(await stores.sessions.get(sessionId))).toEqual(plain(done));
    });

    const sessionPairs = (['active', 'suspended', 'completed', 'archived'] as const).flatMap((from) =>
      UPDATABLE_STATUSES.map((to) => [from, to] as const),
    );

    it.each(sessionPairs)('update from %s to %s follows the status graph', async (from, to) => {
      const stores = fresh();
      const before = await sessionIn(stores, from);
      if (SESSION_TRANSITIONS[from].includes(to)) {
        const after = await stores.sessions.update(before.sessionId, { status: to });
        expect(after.status).toBe(to);
        expect(after.metadata).toEqual(before.metadata);
      } else {
        expect(
          await failure(stores.sessions.update(before.sessionId, { status: to, metadata: { changed: true } })),
        ).toEqual(coded('INVALID_TRANSITION'));
        expect(plain(await stores.sessions.get(before.sessionId))).toEqual(plain(before));
      }
    });

    it('update of an unknown session is NOT_FOUND', async () => {
      const stores = fresh();
      expect(await failure(stores.sessions.update(randomUUID(), { metadata: {} }))).toEqual(coded('NOT_FOUND'));
      expect(await failure(stores.sessions.update(randomUUID(), { status: 'completed' }))).toEqual(coded('NOT_FOUND'));
    });

    it('update refuses bad changes, writing nothing', async () => {
      const stores = fresh();
      const before = await stores.sessions.create({ metadata: { a: 1 } });
      const cases: [unknown, string][] = [
        [{ status: 'archived' }, 'status'],
        [{ status: 'expired' }, 'status'],
        [{ status: 'bogus' }, 'status'],
        [{ status: 42 }, 'status'],
        [{ status: null }, 'status'],
        [{ metadata: [] }, 'metadata'],
        [{ metadata: null }, 'metadata'],
        [{ metadata: 'x' }, 'metadata'],
        [{}, 'changes'],
        [{ metadata: undefined }, 'changes'],
        [null, 'changes'],
        ['active', 'changes'],
        [{ expiresAt: new Date(Date.now() + 60_000) }, 'expiresAt'],
        [{ metadata: {}, ttlSeconds: 5 }, 'ttlSeconds'],
      ];
      for (const [changes, field] of cases) {
        expect
          .soft(await failure(stores.sessions.update(before.sessionId, changes as never)), JSON.stringify(changes))
          .toEqual(invalid(field));
      }
      expect(plain(await stores.sessions.get(before.sessionId))).toEqual(plain(before));
    });

    it.each(['active', 'suspended', 'completed'] as const)(
      'archive takes a %s session to archived, and archiving again changes nothing',
      async (from) => {
        const stores = fresh();
        const before = await sessionIn(stores, from);
        const archived = await stores.sessions.archive(before.sessionId);
        expect(archived).toMatchObject({ sessionId: before.sessionId, status: 'archived', metadata: before.metadata });
        expect(ns(archived.createdAt)).toBe(ns(before.createdAt));
        await sleep(3);
        const again = await stores.sessions.archive(before.sessionId);
        expect(plain(again)).toEqual(plain(archived));
        expect(plain(await stores.sessions.get(before.sessionId))).toEqual(plain(archived));
      },
    );

    it('archive of an unknown session is NOT_FOUND', async () => {
      expect(await failure(fresh().sessions.archive(randomUUID()))).toEqual(coded('NOT_FOUND'));
    });

    describe('list', () => {
      let stores: TenantStores;
      let created: Session[];
      beforeAll(async () => {
        stores = fresh();
        created = [];
        for (let i = 0; i < 6; i++) {
          created.push(await stores.sessions.create({ metadata: { i } }));
          await sleep(3); // distinct creation times, also on a clock of millisecond resolution
        }
        await stores.sessions.update(created[1]!.sessionId, { status: 'suspended' });
        await stores.sessions.update(created[4]!.sessionId, { status: 'suspended' });
        await stores.sessions.archive(created[5]!.sessionId);
      });

      const ids = (sessions: Session[]) => sessions.map((s) => s.sessionId);

      it('lists every session in creation order', async () => {
        const page = await stores.sessions.list();
        expect(ids(page.items)).toEqual(ids(created));
        expect(page.items.map((s) => s.metadata)).toEqual(created.map((s) => s.metadata));
        expect(page.nextCursor).toBeUndefined();
      });

      it('lists the sessions of one status', async () => {
        expect(ids((await stores.sessions.list({ status: 'suspended' })).items)).toEqual(
          ids([created[1]!, created[4]!]),
        );
        expect(ids((await stores.sessions.list({ status: 'active' })).items)).toEqual(
          ids([created[0]!, created[2]!, created[3]!]),
        );
        expect(ids((await stores.sessions.list({ status: 'archived' })).items)).toEqual(ids([created[5]!]));
        expect((await stores.sessions.list({ status: 'expired' })).items).toEqual([]);
      });

      it('pages cover every session exactly once, with and without a status', async () => {
        for (const [options, expected] of [
          [{ limit: 4 }, ids(created)],
          [{ limit: 1 }, ids(created)],
          [{ limit: 2, status: 'active' }, ids([created[0]!, created[2]!, created[3]!])],
        ] as const) {
          const seen: string[] = [];
          let cursor: string | undefined;
          let pages = 0;
          do {
            const page = await stores.sessions.list({ ...options, ...(cursor ? { cursor } : {}) });
            seen.push(...ids(page.items));
            cursor = page.nextCursor;
            pages++;
          } while (cursor !== undefined && pages < 20);
          expect(seen, JSON.stringify(options)).toEqual(expected);
          expect(pages).toBe(Math.ceil(expected.length / options.limit));
        }
      });

      it('pages cover sessions created at the same instant exactly once, in session-id order', async () => {
        const tenantId = newTenant();
        const made = await opened.storage.transaction(tenantId, async (tx) => [
          await tx.sessions.create(),
          await tx.sessions.create(),
          await tx.sessions.create(),
          await tx.sessions.create(),
        ]);
        // One transaction: now() is the same for all four.
        expect(new Set(made.map((s) => s.createdAt.toISOString())).size).toBe(1);
        const same = opened.storage.tenant(tenantId);
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await same.sessions.list({ limit: 1, ...(cursor ? { cursor } : {}) });
          seen.push(...ids(page.items));
          cursor = page.nextCursor;
        } while (cursor !== undefined && seen.length < 10);
        expect(seen).toEqual(ids(made).sort());
      });

      it('refuses a cursor made with another status filter, or another list', async () => {
        const active = (await stores.sessions.list({ status: 'active', limit: 1 })).nextCursor!;
        const all = (await stores.sessions.list({ limit: 1 })).nextCursor!;
        expect(await failure(stores.sessions.list({ status: 'suspended', cursor: active }))).toEqual(invalid('cursor'));
        expect(await failure(stores.sessions.list({ cursor: active }))).toEqual(invalid('cursor'));
        expect(await failure(stores.sessions.list({ status: 'active', cursor: all }))).toEqual(invalid('cursor'));
        expect(await failure(stores.sessions.list({ cursor: 'garbage' }))).toEqual(invalid('cursor'));
        expect(ids((await stores.sessions.list({ status: 'active', cursor: active })).items)).toEqual(
          ids([created[2]!, created[3]!]),
        );
      });

      it('refuses a forged cursor whose key is not a creation time and session id, naming the cursor', async () => {
        for (const forged of [
          forgedCursor('sessions:*', 'not a time', randomUUID()),
          forgedCursor('sessions:*', new Date().toISOString(), 'not-a-uuid'),
        ]) {
          expect.soft(await failure(stores.sessions.list({ cursor: forged })), forged).toEqual(invalid('cursor'));
        }
      });

      it('refuses bad options', async () => {
        const cases: [unknown, string][] = [
          [{ status: 'bogus' }, 'status'],
          [{ limit: 0 }, 'limit'],
          [{ limit: 1001 }, 'limit'],
          [{ cursor: {} }, 'cursor'],
          [{ metadata: {} }, 'metadata'],
          [null, 'options'],
        ];
        for (const [options, field] of cases) {
          expect
            .soft(await failure(stores.sessions.list(options as never)), JSON.stringify(options))
            .toEqual(invalid(field));
        }
      });
    });

    it('expire marks only the active sessions past their expiry as expired, once', async () => {
      const tenantId = newTenant();
      const stores = opened.storage.tenant(tenantId);
      const neighbour = fresh();
      const expiresAt = new Date(Date.now() + 1500);
      const due = [await stores.sessions.create({ expiresAt }), await stores.sessions.create({ expiresAt })];
      const suspended = await stores.sessions.update((await stores.sessions.create({ expiresAt })).sessionId, {
        status: 'suspended',
      });
      const archived = await stores.sessions.archive((await stores.sessions.create({ expiresAt })).sessionId);
      const never = await stores.sessions.create();
      const later = await stores.sessions.create({ ttlSeconds: 3600 });
      const other = await neighbour.sessions.create({ expiresAt });
      expect(await stores.sessions.expire()).toBe(0);
      await sleep(Math.max(0, expiresAt.getTime() - Date.now()) + 200);

      expect(await stores.sessions.expire()).toBe(2);
      for (const session of due) expect((await stores.sessions.get(session.sessionId)).status).toBe('expired');
      expect((await stores.sessions.get(suspended.sessionId)).status).toBe('suspended');
      expect((await stores.sessions.get(archived.sessionId)).status).toBe('archived');
      expect((await stores.sessions.get(never.sessionId)).status).toBe('active');
      expect((await stores.sessions.get(later.sessionId)).status).toBe('active');
      expect((await neighbour.sessions.get(other.sessionId)).status).toBe('active');
      expect(await stores.sessions.expire()).toBe(0);
      expect((await stores.sessions.list({ status: 'expired' })).items.map((s) => s.sessionId).sort()).toEqual(
        due.map((s) => s.sessionId).sort(),
      );
      expect(await neighbour.sessions.expire()).toBe(1);

      // An expired session: update cannot bring it back; metadata may change; archive takes it.
      const expired = due[0]!.sessionId;
      for (const status of UPDATABLE_STATUSES) {
        expect
          .soft(await failure(stores.sessions.update(expired, { status })), status)
          .toEqual(coded('INVALID_TRANSITION'));
      }
      expect((await stores.sessions.update(expired, { metadata: { note: 1 } })).status).toBe('expired');
      expect((await stores.sessions.touch(expired)).status).toBe('expired');
      expect((await stores.sessions.archive(expired)).status).toBe('archived');
      expect(await stores.sessions.expire()).toBe(0);
    });

    it('expire of a tenant without sessions is 0', async () => {
      expect(await fresh().sessions.expire()).toBe(0);
    });
  });

  describe('procedural', () => {
    it('record counts a new pattern at 1 and get returns it', async () => {
      const stores = fresh();
      const first = await stores.procedural.record('tools', 'prefers', 'grep');
      expect(first).toMatchObject({ scope: 'tools', key: 'prefers', value: 'grep', frequency: 1, metadata: {} });
      expect(first.id).toMatch(UUID);
      expectTimestamps(first, ['firstSeen', 'lastSeen']);
      expect(ns(first.firstSeen)).toBeLessThanOrEqual(ns(first.lastSeen));
      expect(plain(await stores.procedural.get('tools', 'prefers', 'grep'))).toEqual(plain(first));
    });

    it('record again adds one, keeps firstSeen and moves lastSeen forward', async () => {
      const stores = fresh();
      const first = await stores.procedural.record('tools', 'prefers', 'grep');
      await sleep(5);
      const second = await stores.procedural.record('tools', 'prefers', 'grep');
      expect(second).toMatchObject({ id: first.id, frequency: 2 });
      expect(ns(second.firstSeen)).toBe(ns(first.firstSeen));
      expect(ns(second.lastSeen)).toBeGreaterThan(ns(first.lastSeen));
      expect(ns(second.firstSeen)).toBeLessThanOrEqual(ns(second.lastSeen));
      const third = await stores.procedural.record('tools', 'prefers', 'grep');
      expect(third.frequency).toBe(3);
      expect(plain(await stores.procedural.get('tools', 'prefers', 'grep'))).toEqual(plain(third));
    });

    it('concurrent records never lose a count', async () => {
      const stores = fresh();
      await Promise.all(Array.from({ length: 10 }, () => stores.procedural.record('s', 'k', 'v')));
      expect((await stores.procedural.get('s', 'k', 'v')).frequency).toBe(10);
    });

    it('record merges metadata at the top level', async () => {
      const stores = fresh();
      await stores.procedural.record('s', 'k', 'v', { metadata: { a: 1, nested: { x: 1 }, keep: 'k' } });
      const merged = await stores.procedural.record('s', 'k', 'v', { metadata: { b: 2, nested: { y: 2 } } });
      expect(merged.metadata).toEqual({ a: 1, b: 2, nested: { y: 2 }, keep: 'k' });
      const without = await stores.procedural.record('s', 'k', 'v');
      expect(without.metadata).toEqual({ a: 1, b: 2, nested: { y: 2 }, keep: 'k' });
      expect(without.frequency).toBe(3);
      expect((await stores.procedural.get('s', 'k', 'v')).metadata).toEqual(merged.metadata);
    });

    it('values with backslashes are patterns of their own, stored as given', async () => {
      const stores = fresh();
      const values = ['C:\\path\\to', '\\x41', 'A', '\\101', '\\\\', '\\', 'trailing\\', '\\\\x41', '', 'a'];
      const recorded = [];
      for (const value of values) recorded.push(await stores.procedural.record('paths', 'cwd', value));
      expect(new Set(recorded.map((p) => p.id)).size).toBe(values.length);
      expect(recorded.map((p) => p.frequency)).toEqual(values.map(() => 1));
      for (const value of values) {
        const got = await stores.procedural.get('paths', 'cwd', value);
        expect.soft(got.value, value).toBe(value);
        expect.soft(got.frequency, value).toBe(1);
      }
      expect((await stores.procedural.record('paths', 'cwd', '\\x41')).frequency).toBe(2);
      expect((await stores.procedural.get('paths', 'cwd', 'A')).frequency).toBe(1);
      expect((await stores.procedural.record('paths', 'C:\\key\\', 'x')).key).toBe('C:\\key\\');
      expect((await stores.procedural.get('paths', 'C:\\key\\', 'x')).frequency).toBe(1);
    });

    it('key, value and scope each tell patterns apart', async () => {
      const stores = fresh();
      const ab = await stores.procedural.record('s', 'ab', 'c');
      const a = await stores.procedural.record('s', 'a', 'bc');
      const other = await stores.procedural.record('t', 'ab', 'c');
      expect(new Set([ab.id, a.id, other.id]).size).toBe(3);
      expect((await stores.procedural.get('s', 'ab', 'c')).frequency).toBe(1);
      expect((await stores.procedural.get('s', 'a', 'bc')).frequency).toBe(1);
      expect((await stores.procedural.get('t', 'ab', 'c')).scope).toBe('t');
    });

    it('long and unicode values are patterns like any other', async () => {
      const stores = fresh();
      const long = 'v'.repeat(200_000);
      const longer = `${long.slice(0, -1)}w`;
      expect((await stores.procedural.record('s', 'k', long)).value).toBe(long);
      expect((await stores.procedural.record('s', 'k', longer)).frequency).toBe(1);
      expect((await stores.procedural.record('s', 'k', long)).frequency).toBe(2);
      const unicode = 'ünïcødé 中文 😀 e\u0301';
      await stores.procedural.record('sköpe 😀', 'kéy', unicode);
      expect((await stores.procedural.get('sköpe 😀', 'kéy', unicode)).value).toBe(unicode);
      expect((await stores.procedural.record('s'.repeat(512), 'k', 'v')).scope).toHaveLength(512);
      expect((await stores.procedural.record('é'.repeat(256), 'k', 'v')).frequency).toBe(1);
    });

    it('get of a pattern never recorded is NOT_FOUND', async () => {
      const stores = fresh();
      expect(await failure(stores.procedural.get('s', 'k', 'v'))).toEqual(coded('NOT_FOUND'));
      await stores.procedural.record('s', 'k', 'v');
      expect(await failure(stores.procedural.get('s', 'k', 'w'))).toEqual(coded('NOT_FOUND'));
      expect(await failure(stores.procedural.get('s', 'K', 'v'))).toEqual(coded('NOT_FOUND'));
      expect(await failure(stores.procedural.get('t', 'k', 'v'))).toEqual(coded('NOT_FOUND'));
      expect(await failure(stores.procedural.get('s', 'k', ''))).toEqual(coded('NOT_FOUND'));
    });

    it('top lists a scope most frequent first, then most recent; minFrequency and limit filter', async () => {
      const stores = fresh();
      const record = async (key: string, times: number, scope = 'ranked') => {
        for (let i = 0; i < times; i++) await stores.procedural.record(scope, key, 'v');
      };
      await record('three', 3);
      await record('one-old', 1);
      await record('two', 2);
      await record('other-scope', 5, 'elsewhere');
      await sleep(5);
      await record('one-new', 1);
      const keys = (patterns: { key: string }[]) => patterns.map((p) => p.key);
      const top = await stores.procedural.top('ranked');
      expect(keys(top)).toEqual(['three', 'two', 'one-new', 'one-old']);
      expect(top.map((p) => p.frequency)).toEqual([3, 2, 1, 1]);
      for (const pattern of top) expectTimestamps(pattern, ['firstSeen', 'lastSeen']);
      expect(keys(await stores.procedural.top('ranked', { minFrequency: 2 }))).toEqual(['three', 'two']);
      expect(keys(await stores.procedural.top('ranked', { minFrequency: 3 }))).toEqual(['three']);
      expect(await stores.procedural.top('ranked', { minFrequency: 4 })).toEqual([]);
      expect(keys(await stores.procedural.top('ranked', { limit: 1 }))).toEqual(['three']);
      expect(keys(await stores.procedural.top('ranked', { limit: 3, minFrequency: 1 }))).toEqual([
        'three',
        'two',
        'one-new',
      ]);
      expect(keys(await stores.procedural.top('elsewhere'))).toEqual(['other-scope']);
      expect(await stores.procedural.top('nowhere')).toEqual([]);
    });

    it('top returns 50 by default and at most 1000', async () => {
      const stores = fresh();
      await Promise.all(Array.from({ length: 51 }, (_, i) => stores.procedural.record('many', `k${i}`, 'v')));
      expect(await stores.procedural.top('many')).toHaveLength(50);
      expect(await stores.procedural.top('many', { limit: 1000 })).toHaveLength(51);
    });

    it('top refuses bad options', async () => {
      const stores = fresh();
      const cases: [string, unknown, string][] = [
        ['s', { minFrequency: 0 }, 'minFrequency'],
        ['s', { minFrequency: 1.5 }, 'minFrequency'],
        ['s', { minFrequency: '2' }, 'minFrequency'],
        ['s', { limit: 0 }, 'limit'],
        ['s', { limit: 1001 }, 'limit'],
        ['s', { limit: -1 }, 'limit'],
        ['s', { cursor: 'x' }, 'cursor'],
        ['s', null, 'options'],
        ['', {}, 'scope'],
        ['s'.repeat(513), {}, 'scope'],
      ];
      for (const [scope, options, field] of cases) {
        expect
          .soft(await failure(stores.procedural.top(scope, options as never)), JSON.stringify(options))
          .toEqual(invalid(field));
      }
      for (const [label, scope] of BAD_TEXTS) {
        expect.soft(await failure(stores.procedural.top(scope as never)), label).toEqual(invalid('scope'));
      }
    });

    it('prune by maxFrequency deletes the rarely seen, in every scope or one', async () => {
      const stores = fresh();
      await stores.procedural.record('a', 'x', 'v');
      for (let i = 0; i < 2; i++) await stores.procedural.record('a', 'y', 'v');
      for (let i = 0; i < 3; i++) await stores.procedural.record('a', 'z', 'v');
      await stores.procedural.record('b', 'w', 'v');
      for (let i = 0; i < 2; i++) await stores.procedural.record('b', 'y', 'v');
      expect(await stores.procedural.prune({ maxFrequency: 1 })).toBe(2);
      expect(await failure(stores.procedural.get('a', 'x', 'v'))).toEqual(coded('NOT_FOUND'));
      expect(await failure(stores.procedural.get('b', 'w', 'v'))).toEqual(coded('NOT_FOUND'));
      expect(await stores.procedural.prune({ maxFrequency: 2, scope: 'a' })).toBe(1);
      expect((await stores.procedural.top('a')).map((p) => p.key)).toEqual(['z']);
      expect((await stores.procedural.top('b')).map((p) => p.key)).toEqual(['y']);
      expect(await stores.procedural.prune({ maxFrequency: 1 })).toBe(0);
    });

    it('prune by olderThan deletes what was last seen before that instant', async () => {
      const stores = fresh();
      const old = await stores.procedural.record('s', 'old', 'v');
      await sleep(5);
      const recent = await stores.procedural.record('s', 'recent', 'v');
      expect(await stores.procedural.prune({ olderThan: new Date(Date.now() - 3_600_000) })).toBe(0);
      expect(await stores.procedural.prune({ olderThan: old.lastSeen })).toBe(0); // not before itself
      expect(await stores.procedural.prune({ olderThan: recent.lastSeen })).toBe(1);
      expect(await failure(stores.procedural.get('s', 'old', 'v'))).toEqual(coded('NOT_FOUND'));
      expect((await stores.procedural.get('s', 'recent', 'v')).frequency).toBe(1);
    });

    it('prune takes an olderThan far in the past or the future (years 1 BC and 10000)', async () => {
      const stores = fresh();
      await stores.procedural.record('s', 'k', 'v');
      // toISOString() writes these as -000001-01-01T… and +010000-01-01T….
      const bc = new Date('-000001-01-01T00:00:00.000Z');
      const far = new Date('+010000-01-01T00:00:00.000Z');
      // What the call returned, or how it failed.
      const outcome = (call: Promise<number>) => call.catch((error: unknown) => failure(Promise.reject(error)));
      expect.soft(await outcome(stores.procedural.prune({ olderThan: bc })), 'year 1 BC').toBe(0);
      expect.soft(await outcome(stores.procedural.prune({ olderThan: far })), 'year 10000').toBe(1);
    });

    it('prune with both conditions deletes only what matches both, and a scope narrows it', async () => {
      const stores = fresh();
      await stores.procedural.record('a', 'rare', 'v');
      for (let i = 0; i < 3; i++) await stores.procedural.record('a', 'common', 'v');
      await stores.procedural.record('b', 'rare', 'v');
      const future = new Date(Date.now() + 3_600_000);
      expect(await stores.procedural.prune({ olderThan: future, maxFrequency: 1, scope: 'a' })).toBe(1);
      expect((await stores.procedural.get('b', 'rare', 'v')).frequency).toBe(1);
      expect(await stores.procedural.prune({ olderThan: future, maxFrequency: 1 })).toBe(1);
      expect((await stores.procedural.get('a', 'common', 'v')).frequency).toBe(3);
      expect(await stores.procedural.prune({ olderThan: future, scope: 'nowhere' })).toBe(0);
      expect(await stores.procedural.prune({ olderThan: future })).toBe(1);
      expect(await stores.procedural.top('a')).toEqual([]);
    });

    it('prune refuses to run without olderThan or maxFrequency, and bad options, deleting nothing', async () => {
      const stores = fresh();
      await stores.procedural.record('s', 'k', 'v');
      const cases: [unknown, string][] = [
        [undefined, 'options'],
        [null, 'options'],
        ['all', 'options'],
        [{}, 'options'],
        [{ scope: 's' }, 'options'],
        [{ olderThan: undefined, maxFrequency: undefined }, 'options'],
        [{ olderThan: 'yesterday' }, 'olderThan'],
        [{ olderThan: Date.now() }, 'olderThan'],
        [{ olderThan: new Date(NaN) }, 'olderThan'],
        [{ olderThan: null }, 'olderThan'],
        [{ maxFrequency: 0 }, 'maxFrequency'],
        [{ maxFrequency: -1 }, 'maxFrequency'],
        [{ maxFrequency: 1.5 }, 'maxFrequency'],
        [{ maxFrequency: '1' }, 'maxFrequency'],
        [{ maxFrequency: 5, scope: '' }, 'scope'],
        [{ maxFrequency: 5, scope: 5 }, 'scope'],
        [{ maxFrequency: 5, scope: 'a\0' }, 'scope'],
        [{ maxFrequency: 5, key: 'k' }, 'key'],
      ];
      for (const [options, field] of cases) {
        expect
          .soft(await failure(stores.procedural.prune(options as never)), JSON.stringify(options))
          .toEqual(invalid(field));
      }
      expect((await stores.procedural.get('s', 'k', 'v')).frequency).toBe(1);
    });

    it('record and get refuse a bad scope, key or value; record writes nothing', async () => {
      const stores = fresh();
      const cases: [string, unknown, unknown, unknown][] = [
        ...BAD_TEXTS.map(([label, bad]): [string, unknown, unknown, unknown] => [`scope ${label}`, bad, 'k', 'v']),
        ...BAD_TEXTS.map(([label, bad]): [string, unknown, unknown, unknown] => [`key ${label}`, 's', bad, 'v']),
        ...BAD_TEXTS.map(([label, bad]): [string, unknown, unknown, unknown] => [`value ${label}`, 's', 'k', bad]),
        ['scope empty', '', 'k', 'v'],
        ['scope 513 bytes', 's'.repeat(513), 'k', 'v'],
        ['scope 514 bytes of two-byte characters', 'é'.repeat(257), 'k', 'v'],
        ['key empty', 's', '', 'v'],
      ];
      for (const [label, scope, key, value] of cases) {
        const field = label.split(' ')[0]!;
        expect
          .soft(
            await failure(stores.procedural.record(scope as never, key as never, value as never)),
            `record ${label}`,
          )
          .toEqual(invalid(field));
        expect
          .soft(await failure(stores.procedural.get(scope as never, key as never, value as never)), `get ${label}`)
          .toEqual(invalid(field));
      }
      expect(await stores.procedural.top('s')).toEqual([]);
      expect(await stores.procedural.prune({ maxFrequency: Number.MAX_SAFE_INTEGER })).toBe(0);
    });

    it('record refuses bad options, writing nothing', async () => {
      const stores = fresh();
      const cases: [unknown, string][] = [
        [null, 'options'],
        ['meta', 'options'],
        [{ frequency: 3 }, 'frequency'],
        [{ metadata: [] }, 'metadata'],
        [{ metadata: null }, 'metadata'],
        [{ metadata: 'x' }, 'metadata'],
      ];
      for (const [options, field] of cases) {
        expect
          .soft(await failure(stores.procedural.record('s', 'k', 'v', options as never)), JSON.stringify(options))
          .toEqual(invalid(field));
      }
      expect(await failure(stores.procedural.get('s', 'k', 'v'))).toEqual(coded('NOT_FOUND'));
    });
  });

  describe('bad input shared by every method', () => {
    it.each(BAD_IDS)('an id that is %s is INVALID_INPUT for every agent and workflow method', async (_l, id) => {
      const stores = fresh();
      const bad = id as string;
      const soft = async (label: string, call: Promise<unknown>, field: string) =>
        expect.soft(await failure(call), label).toEqual(invalid(field));
      await soft('agentState.get', stores.agentState.get(bad), 'agentId');
      await soft('agentState.put', stores.agentState.put(bad, { a: 1 }), 'agentId');
      await soft('agentState.put v0', stores.agentState.put(bad, { a: 1 }, { expectedVersion: 0 }), 'agentId');
      await soft('agentState.put v1', stores.agentState.put(bad, { a: 1 }, { expectedVersion: 1 }), 'agentId');
      await soft('agentState.patch', stores.agentState.patch(bad, { a: 1 }), 'agentId');
      await soft('agentState.delete', stores.agentState.delete(bad), 'agentId');
      await soft('agentState.delete v1', stores.agentState.delete(bad, { expectedVersion: 1 }), 'agentId');
      if (id !== undefined) {
        // An undefined workflowId is no id: create picks one.
        await soft('workflows.create', stores.workflows.create({ workflowId: bad, name: 'w' }), 'workflowId');
      }
      await soft('workflows.get', stores.workflows.get(bad), 'workflowId');
      await soft('workflows.update', stores.workflows.update(bad, { currentStep: 1 }), 'workflowId');
      await soft('workflows.transition running', stores.workflows.transition(bad, 'running'), 'workflowId');
      await soft('workflows.transition pending', stores.workflows.transition(bad, 'pending'), 'workflowId');
      expect((await stores.agentState.list()).items).toEqual([]);
      expect((await stores.workflows.list()).items).toEqual([]);
    });

    it.each(GOOD_IDS)('an id of %s works with every agent and workflow method', async (_l, id) => {
      const stores = fresh();
      expect((await stores.agentState.put(id, { id })).agentId).toBe(id);
      expect((await stores.agentState.get(id)).state).toEqual({ id });
      expect((await stores.agentState.patch(id, { more: 1 })).version).toBe(2);
      expect((await stores.agentState.list()).items.map((item) => item.agentId)).toEqual([id]);
      expect(await stores.agentState.delete(id, { expectedVersion: 2 })).toBe(true);
      expect((await stores.workflows.create({ workflowId: id, name: id })).workflowId).toBe(id);
      expect((await stores.workflows.get(id)).name).toBe(id);
      expect((await stores.workflows.update(id, { currentStep: 1 })).currentStep).toBe(1);
      expect((await stores.workflows.transition(id, 'running')).status).toBe('running');
      expect((await stores.workflows.list({ status: 'running' })).items.map((w) => w.workflowId)).toEqual([id]);
    });

    it.each(BAD_DOCUMENTS)(
      'a document holding %s is INVALID_INPUT, naming the field, for every method that takes one',
      async (_label, document) => {
        const stores = fresh();
        const agent = await stores.agentState.put('agent', { a: 1 });
        const workflow = await stores.workflows.create({ workflowId: 'w', name: 'w', state: { a: 1 } });
        const session = await stores.sessions.create({ metadata: { a: 1 } });
        const pattern = await stores.procedural.record('s', 'k', 'v', { metadata: { a: 1 } });
        const soft = async (label: string, call: Promise<unknown>, field: string) =>
          expect.soft(await failure(call), label).toEqual(invalid(field));

        await soft('agentState.put new', stores.agentState.put('new', document), 'state');
        await soft('agentState.put', stores.agentState.put('agent', document), 'state');
        await soft('agentState.put v1', stores.agentState.put('agent', document, { expectedVersion: 1 }), 'state');
        await soft('agentState.patch', stores.agentState.patch('agent', document), 'partial');
        await soft(
          'workflows.create',
          stores.workflows.create({ workflowId: 'new', name: 'n', state: document }),
          'state',
        );
        await soft('workflows.update', stores.workflows.update('w', { state: document }), 'state');
        await soft('sessions.create', stores.sessions.create({ metadata: document }), 'metadata');
        await soft('sessions.update', stores.sessions.update(session.sessionId, { metadata: document }), 'metadata');
        await soft('procedural.record', stores.procedural.record('s', 'k', 'v', { metadata: document }), 'metadata');
        await soft(
          'procedural.record new',
          stores.procedural.record('s', 'new', 'v', { metadata: document }),
          'metadata',
        );

        // Nothing was written.
        expect(await failure(stores.agentState.get('new'))).toEqual(coded('NOT_FOUND'));
        expect(plain(await stores.agentState.get('agent'))).toEqual(plain(agent));
        expect(await failure(stores.workflows.get('new'))).toEqual(coded('NOT_FOUND'));
        expect(plain(await stores.workflows.get('w'))).toEqual(plain(workflow));
        expect((await stores.sessions.list()).items.map((s) => plain(s))).toEqual([plain(session)]);
        expect(plain(await stores.procedural.get('s', 'k', 'v'))).toEqual(plain(pattern));
        expect(await failure(stores.procedural.get('s', 'new', 'v'))).toEqual(coded('NOT_FOUND'));
      },
    );
  });

  describe('timestamps', () => {
    it('every timestamp is a PreciseDate, and reads back exactly as the write returned it', async () => {
      const stores = fresh();
      const agent = await stores.agentState.put('a', {});
      expectTimestamps(agent, ['createdAt', 'updatedAt']);
      expect(plain(await stores.agentState.get('a'))).toEqual(plain(agent));
      expectTimestamps((await stores.agentState.list()).items[0]!, ['createdAt', 'updatedAt']);

      await stores.workflows.create({ workflowId: 'w', name: 'w' });
      await stores.workflows.transition('w', 'running');
      const workflow = await stores.workflows.transition('w', 'completed');
      expectTimestamps(workflow, ['createdAt', 'updatedAt', 'startedAt', 'completedAt']);
      expect(plain(await stores.workflows.get('w'))).toEqual(plain(workflow));
      expectTimestamps((await stores.workflows.list()).items[0]!, [
        'createdAt',
        'updatedAt',
        'startedAt',
        'completedAt',
      ]);

      const session = await stores.sessions.create({ ttlSeconds: 60 });
      expectTimestamps(session, ['createdAt', 'updatedAt', 'lastAccessedAt', 'expiresAt']);
      expect(plain(await stores.sessions.get(session.sessionId))).toEqual(plain(session));
      expectTimestamps(await stores.sessions.touch(session.sessionId), ['createdAt', 'updatedAt', 'lastAccessedAt']);
      expectTimestamps((await stores.sessions.list()).items[0]!, [
        'createdAt',
        'updatedAt',
        'lastAccessedAt',
        'expiresAt',
      ]);

      const pattern = await stores.procedural.record('s', 'k', 'v');
      expectTimestamps(pattern, ['firstSeen', 'lastSeen']);
      expect(plain(await stores.procedural.get('s', 'k', 'v'))).toEqual(plain(pattern));
      expectTimestamps((await stores.procedural.top('s'))[0]!, ['firstSeen', 'lastSeen']);
    });

    // PGlite's clock may have millisecond resolution (its now() would then end in 000 µs), so the
    // microseconds of server-made timestamps are checked on PostgreSQL alone.
    if (target !== 'postgres') {
      console.warn(
        `skipped on ${target}: microseconds of server timestamps (PGlite's clock has millisecond resolution)`,
      );
    }
    it.runIf(target === 'postgres')('keeps the microseconds of timestamps the server makes (postgres)', async () => {
      const stores = fresh();
      const rows: PreciseDate[] = [];
      for (let i = 0; i < 8; i++) {
        rows.push((await stores.agentState.put(`a${i}`, {})).createdAt);
        rows.push((await stores.workflows.create({ name: 'w' })).createdAt);
        rows.push((await stores.sessions.create()).createdAt);
        rows.push((await stores.procedural.record('s', `k${i}`, 'v')).firstSeen);
      }
      expect(rows.some((date) => date.getMicroseconds() !== 0)).toBe(true);
      for (const date of rows) expect(date.getNanoseconds()).toBe(0);
      const listed = (await stores.agentState.list()).items.map((item) => item.createdAt.toISOString());
      const got = await Promise.all(listed.map((_, i) => stores.agentState.get(`a${i}`)));
      expect(got.map((item) => item.createdAt.toISOString())).toEqual(listed);
    });
  });

  describe('transactions', () => {
    it('the calls of a transaction() commit together', async () => {
      const tenantId = newTenant();
      const sessionId = await opened.storage.transaction(tenantId, async (tx) => {
        await tx.agentState.put('a', { in: 'tx' });
        await tx.workflows.create({ workflowId: 'w', name: 'w' });
        await tx.procedural.record('s', 'k', 'v');
        expect((await tx.agentState.get('a')).state).toEqual({ in: 'tx' });
        return (await tx.sessions.create()).sessionId;
      });
      const stores = opened.storage.tenant(tenantId);
      expect((await stores.agentState.get('a')).state).toEqual({ in: 'tx' });
      expect((await stores.workflows.get('w')).status).toBe('pending');
      expect((await stores.sessions.get(sessionId)).status).toBe('active');
      expect((await stores.procedural.get('s', 'k', 'v')).frequency).toBe(1);
    });

    it('the calls of a transaction() that throws are all rolled back', async () => {
      const tenantId = newTenant();
      const boom = new Error('boom');
      let sessionId = '';
      const outcome = opened.storage.transaction(tenantId, async (tx) => {
        await tx.agentState.put('a', {});
        await tx.workflows.create({ workflowId: 'w', name: 'w' });
        sessionId = (await tx.sessions.create()).sessionId;
        await tx.procedural.record('s', 'k', 'v');
        throw boom;
      });
      await expect(outcome).rejects.toBe(boom);
      const stores = opened.storage.tenant(tenantId);
      expect(await failure(stores.agentState.get('a'))).toEqual(coded('NOT_FOUND'));
      expect(await failure(stores.workflows.get('w'))).toEqual(coded('NOT_FOUND'));
      expect(await failure(stores.sessions.get(sessionId))).toEqual(coded('NOT_FOUND'));
      expect(await failure(stores.procedural.get('s', 'k', 'v'))).toEqual(coded('NOT_FOUND'));
    });

    it('stores kept past their transaction() are SCOPE_CLOSED; storage inside one is SCOPE_NESTED', async () => {
      const tenantId = newTenant();
      let kept: TenantStores | undefined;
      await opened.storage.transaction(tenantId, async (tx) => {
        kept = tx;
        await tx.agentState.put('a', {});
        expect(await failure(opened.storage.tenant(tenantId).agentState.get('a'))).toEqual(coded('SCOPE_NESTED'));
      });
      expect(await failure(kept!.agentState.get('a'))).toEqual(coded('SCOPE_CLOSED'));
      expect(await failure(kept!.workflows.create({ name: 'late' }))).toEqual(coded('SCOPE_CLOSED'));
      expect((await opened.storage.tenant(tenantId).workflows.list()).items).toEqual([]);
    });
  });
});

describe('a storage with max_document_bytes = 2048 (memory)', () => {
  const MAX = 2048;
  let opened: OpenedStorage;
  beforeAll(async () => {
    opened = await openStorageTarget('memory', { max_document_bytes: MAX });
  });
  afterAll(async () => {
    await opened?.dispose();
  });
  const fresh = (): TenantStores => opened.storage.tenant(newTenant());

  /** A document whose JSON text is exactly `bytes` bytes: `{"s":"…"}` is 8 bytes around the string. */
  const documentOf = (bytes: number, char = 'x') => ({ s: char.repeat((bytes - 8) / Buffer.byteLength(char)) });

  it('documentOf makes documents of the size asked', () => {
    expect(Buffer.byteLength(JSON.stringify(documentOf(MAX)))).toBe(MAX);
    expect(Buffer.byteLength(JSON.stringify(documentOf(MAX + 1)))).toBe(MAX + 1);
    expect(Buffer.byteLength(JSON.stringify(documentOf(MAX, '€')))).toBe(MAX);
    expect(Buffer.byteLength(JSON.stringify(documentOf(MAX + 3, '€')))).toBe(MAX + 3);
  });

  it('agentState takes a document of max_document_bytes and refuses a larger one, writing nothing', async () => {
    const stores = fresh();
    expect((await stores.agentState.put('fits', documentOf(MAX))).state).toEqual(documentOf(MAX));
    expect((await stores.agentState.put('fits-euro', documentOf(MAX, '€'))).version).toBe(1);
    expect(await failure(stores.agentState.put('big', documentOf(MAX + 1)))).toEqual(invalid('state'));
    expect(await failure(stores.agentState.put('big', documentOf(MAX + 3, '€')))).toEqual(invalid('state'));
    expect(await failure(stores.agentState.put('big', documentOf(MAX + 1), { expectedVersion: 0 }))).toEqual(
      invalid('state'),
    );
    expect(await failure(stores.agentState.get('big'))).toEqual(coded('NOT_FOUND'));
    const small = await stores.agentState.put('small', { a: 1 });
    expect(await failure(stores.agentState.put('small', documentOf(MAX + 1)))).toEqual(invalid('state'));
    expect(await failure(stores.agentState.patch('small', documentOf(MAX + 1)))).toEqual(invalid('partial'));
    expect(plain(await stores.agentState.get('small'))).toEqual(plain(small));
  });

  it('workflows refuse a state or an error over max_document_bytes, writing nothing', async () => {
    const stores = fresh();
    expect(
      await failure(stores.workflows.create({ workflowId: 'big', name: 'w', state: documentOf(MAX + 1) })),
    ).toEqual(invalid('state'));
    expect(await failure(stores.workflows.create({ name: 'w', state: documentOf(MAX + 1) }))).toEqual(invalid('state'));
    expect((await stores.workflows.list()).items).toEqual([]);
    const before = await stores.workflows.create({ workflowId: 'w', name: 'w', state: documentOf(MAX) });
    expect(await failure(stores.workflows.update('w', { state: documentOf(MAX + 1) }))).toEqual(invalid('state'));
    const running = await stores.workflows.transition('w', 'running');
    expect(running.version).toBe(before.version + 1);
    // The same field the other checks of transition() name options.error.
    expect(await failure(stores.workflows.transition('w', 'failed', { error: 'e'.repeat(MAX + 1) }))).toEqual(
      invalid('error'),
    );
    expect(plain(await stores.workflows.get('w'))).toEqual(plain(running));
  });

  it('sessions refuse metadata over max_document_bytes, writing nothing', async () => {
    const stores = fresh();
    expect(await failure(stores.sessions.create({ metadata: documentOf(MAX + 1) }))).toEqual(invalid('metadata'));
    expect((await stores.sessions.list()).items).toEqual([]);
    const before = await stores.sessions.create({ metadata: documentOf(MAX) });
    expect(await failure(stores.sessions.update(before.sessionId, { metadata: documentOf(MAX + 1) }))).toEqual(
      invalid('metadata'),
    );
    expect(
      await failure(stores.sessions.update(before.sessionId, { metadata: documentOf(MAX + 1), status: 'completed' })),
    ).toEqual(invalid('metadata'));
    expect(plain(await stores.sessions.get(before.sessionId))).toEqual(plain(before));
  });

  it('procedural refuses a key, value or metadata over max_document_bytes, writing nothing', async () => {
    const stores = fresh();
    const big = 'v'.repeat(MAX + 1);
    expect(await failure(stores.procedural.record('s', 'k', big))).toEqual(invalid('value'));
    expect(await failure(stores.procedural.record('s', big, 'v'))).toEqual(invalid('key'));
    expect(await failure(stores.procedural.record('s', 'k', 'v', { metadata: documentOf(MAX + 1) }))).toEqual(
      invalid('metadata'),
    );
    expect(await stores.procedural.top('s')).toEqual([]);
    expect((await stores.procedural.record('s', 'k', 'v'.repeat(MAX))).value).toHaveLength(MAX);
    expect((await stores.procedural.record('s', 'k', '€'.repeat(MAX / 4))).frequency).toBe(1);
    expect(await failure(stores.procedural.record('s', 'k', '€'.repeat(683)))).toEqual(invalid('value'));
  });
});

describe('a storage after close() (memory)', () => {
  let opened: OpenedStorage;
  let closed = false;
  beforeAll(async () => {
    opened = await openStorageTarget('memory');
  });
  afterAll(async () => {
    if (!closed) await opened?.dispose();
  });

  it('refuses every call with SCOPE_CLOSED', async () => {
    const tenantId = newTenant();
    const stores = opened.storage.tenant(tenantId);
    await stores.agentState.put('a', {});
    closed = true;
    await opened.dispose();
    expect(await failure(() => opened.storage.tenant(tenantId))).toEqual(coded('SCOPE_CLOSED'));
    expect(await failure(opened.storage.transaction(tenantId, async () => 1))).toEqual(coded('SCOPE_CLOSED'));
    expect(await failure(stores.agentState.get('a'))).toEqual(coded('SCOPE_CLOSED'));
    expect(await failure(stores.workflows.list())).toEqual(coded('SCOPE_CLOSED'));
    expect(await failure(stores.sessions.expire())).toEqual(coded('SCOPE_CLOSED'));
    expect(await failure(stores.procedural.top('s'))).toEqual(coded('SCOPE_CLOSED'));
  });
});
