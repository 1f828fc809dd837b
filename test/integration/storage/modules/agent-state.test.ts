/**
 * The agentState module through `openStorage`, on real databases: PostgreSQL 18 as the application
 * role, PGlite in memory and PGlite on disk. Every public method of its store, what it returns,
 * what it writes, and how it refuses bad input: by error code and `details.field`, never by
 * message wording. The targets, cases and helpers it shares with the other modules:
 * `test/helpers/storage-cases.ts`.
 */
import { describe, expect, it } from 'vitest';
import { failure, invalid } from '../../../helpers/outcome.js';
import {
  TARGETS,
  coded,
  plain,
  ns,
  forgedCursor,
  byBytes,
  nested,
  NOT_OBJECTS,
  expectTimestamps,
  useStorageTarget,
} from '../../../helpers/storage-cases.js';

describe.each(TARGETS)('storage modules on %s', (target) => {
  const { fresh } = useStorageTarget(target);

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
});
