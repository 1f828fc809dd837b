/**
 * The sessions module through `openStorage`, on real databases: PostgreSQL 18 as the application
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
  MAX_TTL_SECONDS,
  SESSION_TRANSITIONS,
  UPDATABLE_STATUSES,
  type Session,
} from '../../../../src/storage/modules/sessions/types.js';
import { failure, invalid } from '../../../helpers/outcome.js';
import {
  TARGETS,
  UUID,
  newTenant,
  coded,
  plain,
  ns,
  forgedCursor,
  Point,
  BAD_SESSION_IDS,
  sessionIn,
  expectTimestamps,
  useStorageTarget,
} from '../../../helpers/storage-cases.js';

describe.each(TARGETS)('storage modules on %s', (target) => {
  const { fresh, opened: openedTarget } = useStorageTarget(target);

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
        const made = await openedTarget().storage.transaction(tenantId, async (tx) => [
          await tx.sessions.create(),
          await tx.sessions.create(),
          await tx.sessions.create(),
          await tx.sessions.create(),
        ]);
        // One transaction: now() is the same for all four.
        expect(new Set(made.map((s) => s.createdAt.toISOString())).size).toBe(1);
        const same = openedTarget().storage.tenant(tenantId);
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
      const stores = openedTarget().storage.tenant(tenantId);
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
});
