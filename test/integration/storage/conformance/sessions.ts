/** The tenant-conformance registration of sessions (see `harness.ts`). */
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import { attemptsOf, drain, plain, register } from './harness.js';

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

export const sessions = register({
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
  signalled: {
    create: (b, _h, signal) => b.sessions.create({ metadata: { mine: 'b' } }, { signal }),
    get: (b, h, signal) => b.sessions.get(h.sessionId, { signal }),
    touch: (b, h, signal) => b.sessions.touch(h.sessionId, { signal }),
    update: (b, h, signal) => b.sessions.update(h.sessionId, { status: 'suspended' }, { signal }),
    archive: (b, h, signal) => b.sessions.archive(h.sessionId, { signal }),
    list: (b, _h, signal) => b.sessions.list({ limit: 10, signal }),
    scan: (b, _h, signal) => drain(b.sessions.scan({ limit: 2, signal })),
    expire: (b, _h, signal) => b.sessions.expire({ signal }),
  },
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
      method: 'scan',
      kind: 'list',
      name: "scan: only B's own sessions, page after page",
      run: async (b) => {
        const own = [(await b.sessions.create()).sessionId, (await b.sessions.create()).sessionId];
        const seen = (await drain(b.sessions.scan({ limit: 1 }))).map((item) => item.sessionId);
        return { own, seen };
      },
      expect: {
        check(result) {
          expect(result.seen).toEqual(result.own);
        },
      },
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
