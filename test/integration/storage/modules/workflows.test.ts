/**
 * The workflows module through `openStorage`, on real databases: PostgreSQL 18 as the application
 * role, PGlite in memory and PGlite on disk. Every public method of its store, what it returns,
 * what it writes, and how it refuses bad input: by error code and `details.field`, never by
 * message wording. The targets, cases and helpers it shares with the other modules:
 * `test/helpers/storage-cases.ts`.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { PreciseDate } from '../../../../src/storage/values/codecs.js';
import type { TenantStores } from '../../../../src/storage/registry.js';
import {
  WORKFLOW_STATUSES,
  WORKFLOW_TRANSITIONS,
  type WorkflowStatus,
} from '../../../../src/storage/modules/workflows/types.js';
import { failure, invalid } from '../../../helpers/outcome.js';
import {
  TARGETS,
  UUID,
  coded,
  plain,
  ns,
  forgedCursor,
  workflowIn,
  expectTimestamps,
  useStorageTarget,
} from '../../../helpers/storage-cases.js';

describe.each(TARGETS)('storage modules on %s', (target) => {
  const { fresh } = useStorageTarget(target);

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
});
