/**
 * `{ signal }`: an aborted call rejects at once with `ABORTED`; on a server the statement it runs
 * is cancelled (a CancelRequest: nothing of it stays active in `pg_stat_activity`), its transaction
 * rolls back and its connection is discarded; waiting for a connection is aborted too. Run on
 * PostgreSQL 18 as the application role, PostgreSQL 15, and PostgreSQL 18 behind PgBouncer in
 * transaction mode (which forwards the cancel); then on PGlite, which cannot cancel a statement
 * but drops a call that waits for its one session. The conformance suite checks every method of
 * every store with a live, an aborted and an aborting signal; this file checks what only a
 * statement that really runs (a row-lock wait, `pg_sleep`) can show.
 */
import { getEventListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/db/open.js';
import type { Database } from '../../../src/db/types.js';
import type { LlmspellError } from '../../../src/errors.js';
import { openStorage, type Storage } from '../../../src/storage/open-storage.js';
import { codeOf } from '../../helpers/outcome.js';
import { findPgBouncer, pgBouncerFor, type PgBouncer } from '../../helpers/pgbouncer.js';
import { pgliteSnapshot } from '../../helpers/pglite.js';
import { testMajors } from '../../helpers/postgres.js';
import { newTenant } from '../../helpers/storage-cases.js';
import { migratedPostgres, type MigratedDatabase } from '../../helpers/schema.js';
import { testSettings } from '../../helpers/settings.js';
import { openStorageTarget, type OpenedStorage } from '../../helpers/storage.js';

const bouncerBinary = await findPgBouncer();
const SERVERS: ('postgres-18' | 'postgres-15' | 'pgbouncer')[] = ['postgres-18'];
if (testMajors().includes(15)) SERVERS.push('postgres-15');
else console.warn('skipped: abort on PostgreSQL 15 (not in LLMSPELL_TEST_PG_MAJORS)');
if ('path' in bouncerBinary) SERVERS.push('pgbouncer');
else console.warn(`skipped: abort behind PgBouncer: ${bouncerBinary.reason}`);

/** How long "at once" may take on a shared, noisy 2-core machine: far less than any wait here. */
const AT_ONCE_MS = 1500;

/** Milliseconds `promise` took to settle, and the code it rejected with. */
async function timed(promise: Promise<unknown>): Promise<{ code: string | undefined; ms: number }> {
  const started = performance.now();
  const code = await codeOf(promise);
  return { code, ms: performance.now() - started };
}

/** Polls `check` until it returns true, for at most `ms`; false when it never did. */
async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
}

/**
 * Holds a connection (PGlite's one session) with a transaction of `tenant` that wrote agent
 * 'holder' and waits, until `open()`; `holder` settles once it committed.
 */
async function holdConnection(storage: Storage, tenant: string): Promise<{ holder: Promise<void>; open: () => void }> {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const holder = storage.transaction(tenant, async (stores) => {
    await stores.agentState.put('holder', { n: 1 });
    await gate;
  });
  await sleep(50);
  return { holder, open };
}

describe.each(SERVERS)('aborting on %s', (server) => {
  let opened: OpenedStorage | undefined;
  let m: MigratedDatabase | undefined;
  let bouncer: PgBouncer | undefined;
  let storage: Storage;
  /** A superuser connection straight to the server, to hold locks. */
  let admin: pg.Client;
  /**
   * Another, to look at pg_stat_activity outside the admin's transaction (within a transaction a
   * backend sees the same snapshot of it at every look).
   */
  let monitor: pg.Client;
  let database: string;

  beforeAll(async () => {
    if (server === 'pgbouncer') {
      m = await migratedPostgres();
      let url: string;
      ({ bouncer, url } = await pgBouncerFor(m.url!, { defaultPoolSize: 2 }));
      storage = await openStorage(
        testSettings({ backend: 'postgres', url, postgres: { pool_size: 4, vector_embeddings: { enabled: false } } }),
      );
      admin = new pg.Client({ connectionString: m.url! });
      monitor = new pg.Client({ connectionString: m.url! });
    } else {
      opened = await openStorageTarget(server === 'postgres-15' ? 'postgres-15' : 'postgres');
      storage = opened.storage;
      admin = new pg.Client({ connectionString: opened.adminUrl! });
      monitor = new pg.Client({ connectionString: opened.adminUrl! });
    }
    await admin.connect();
    await monitor.connect();
    database = (await admin.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db;
  });
  afterAll(async () => {
    await admin?.end();
    await monitor?.end();
    await opened?.dispose();
    await storage?.close();
    await bouncer?.stop();
    await m?.dispose();
  });

  /** Backends of the test database running a statement like `like` now: the storage's. */
  const active = async (like: string) =>
    (
      await monitor.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = $1 AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE $2`,
        [database, like],
      )
    ).rows[0]!.n;

  /** Whether a backend of the storage waits for a lock now. */
  const waitingForLock = async () =>
    (
      await monitor.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = $1 AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`,
        [database],
      )
    ).rows[0]!.n > 0;

  /** Holds a row lock on the agent's row of `tenant` (as the admin, who bypasses RLS) until released. */
  async function lockAgent(tenant: string, agentId: string): Promise<() => Promise<void>> {
    await admin.query('BEGIN');
    const { rowCount } = await admin.query(
      'SELECT 1 FROM llmspell.agent_state WHERE tenant_id = $1 AND agent_id = $2 FOR UPDATE',
      [tenant, agentId],
    );
    expect(rowCount).toBe(1);
    return async () => {
      await admin.query('ROLLBACK');
    };
  }

  it('a write waiting for a row lock is cancelled on the server, rolled back, and the storage goes on', async () => {
    const tenant = newTenant();
    const acme = storage.tenant(tenant);
    await acme.agentState.put('locked', { n: 1 });
    const release = await lockAgent(tenant, 'locked');
    try {
      const controller = new AbortController();
      const put = acme.agentState.put('locked', { n: 2 }, { signal: controller.signal });
      put.catch(() => undefined);
      expect(await eventually(waitingForLock)).toBe(true);
      controller.abort();
      const { code, ms } = await timed(put);
      expect(code).toBe('ABORTED');
      expect(ms).toBeLessThan(AT_ONCE_MS);
      // The lock is still held: only the cancel can have ended the wait.
      expect(await eventually(async () => (await active('%agent_state%')) === 0)).toBe(true);
      expect(await waitingForLock()).toBe(false);
    } finally {
      await release();
    }
    const stored = await acme.agentState.get('locked');
    expect([stored.version, stored.state]).toEqual([1, { n: 1 }]);
    expect((await acme.agentState.put('locked', { n: 3 })).version).toBe(2);
  });

  it('transaction({ signal }): aborted while a statement waits, it rolls back all of it at once', async () => {
    const tenant = newTenant();
    const acme = storage.tenant(tenant);
    await acme.agentState.put('locked', { n: 1 });
    const release = await lockAgent(tenant, 'locked');
    const controller = new AbortController();
    try {
      const done = storage.transaction(
        tenant,
        async (stores) => {
          await stores.agentState.put('written-first', { n: 1 });
          await stores.agentState.put('locked', { n: 2 });
        },
        { signal: controller.signal },
      );
      done.catch(() => undefined);
      expect(await eventually(waitingForLock)).toBe(true);
      controller.abort(new Error('deadline passed'));
      const { code, ms } = await timed(done);
      expect(code).toBe('ABORTED');
      expect(ms).toBeLessThan(AT_ONCE_MS);
      expect(await eventually(async () => (await active('%agent_state%')) === 0)).toBe(true);
    } finally {
      await release();
    }
    expect(await codeOf(acme.agentState.get('written-first'))).toBe('NOT_FOUND');
    expect((await acme.agentState.get('locked')).version).toBe(1);
  });

  it("a call's own signal inside transaction() cancels its statement and rolls the whole transaction back", async () => {
    const tenant = newTenant();
    const acme = storage.tenant(tenant);
    await acme.agentState.put('locked', { n: 1 });
    const release = await lockAgent(tenant, 'locked');
    const controller = new AbortController();
    const seen: (string | undefined)[] = [];
    let done: Promise<unknown>;
    try {
      done = storage.transaction(tenant, async (stores) => {
        await stores.agentState.put('written-first', { n: 1 });
        seen.push(await codeOf(stores.agentState.put('locked', { n: 2 }, { signal: controller.signal })));
        // The transaction is aborted: a later call in it is too, and so is its end.
        seen.push(await codeOf(stores.agentState.put('written-after', { n: 1 })));
      });
      done.catch(() => undefined);
      expect(await eventually(waitingForLock)).toBe(true);
      controller.abort();
      expect(await codeOf(done)).toBe('ABORTED');
    } finally {
      await release();
    }
    expect(seen).toEqual(['ABORTED', 'ABORTED']);
    expect(await codeOf(acme.agentState.get('written-first'))).toBe('NOT_FOUND');
    expect(await codeOf(acme.agentState.get('written-after'))).toBe('NOT_FOUND');
  });

  it('600 concurrent writes of 8 tenants, aborted at random moments: ABORTED means not written, success means written, no leftovers', async () => {
    const tenants = Array.from({ length: 8 }, () => newTenant());
    const outcomes = await Promise.all(
      Array.from({ length: 600 }, async (_, i) => {
        const tenant = tenants[i % tenants.length]!;
        const controller = new AbortController();
        const call = storage.tenant(tenant).agentState.put(`agent-${i}`, { i, tenant }, { signal: controller.signal });
        // Aborted at once, after a few microtasks, at 0–250 ms (waiting, mid-flight or done), or never.
        const when = i % 4;
        if (when === 0) controller.abort();
        else if (when === 1) void Promise.resolve().then(() => controller.abort());
        else if (when === 2) setTimeout(() => controller.abort(), (i * 37) % 250);
        const code = await codeOf(call);
        return { tenant, agentId: `agent-${i}`, i, code };
      }),
    );
    const codes = new Set(outcomes.map((outcome) => outcome.code ?? 'ok'));
    expect([...codes].every((code) => code === 'ok' || code === 'ABORTED')).toBe(true);
    expect(outcomes.filter((outcome) => outcome.code === 'ABORTED').length).toBeGreaterThan(100);
    for (const tenant of tenants) {
      const stored = new Map<string, unknown>();
      for await (const item of storage.tenant(tenant).agentState.scan({ limit: 1000 }))
        stored.set(item.agentId, item.state);
      for (const outcome of outcomes.filter((o) => o.tenant === tenant)) {
        // Every outcome told the truth, and each tenant holds only its own rows.
        if (outcome.code === undefined) expect(stored.get(outcome.agentId)).toEqual({ i: outcome.i, tenant });
        else expect(stored.has(outcome.agentId)).toBe(false);
      }
      expect([...stored.values()].every((state) => (state as { tenant: string }).tenant === tenant)).toBe(true);
    }
    // No transaction left open by an aborted call, and the storage goes on.
    expect(
      await eventually(
        async () =>
          (
            await monitor.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%'`,
              [database],
            )
          ).rows[0]!.n === 0,
      ),
    ).toBe(true);
    expect((await storage.tenant(tenants[0]!).agentState.put('after', { n: 1 })).version).toBe(1);
  });

  it('the database layer: withTenant, withTransaction and withClient cancel pg_sleep and discard the connection', async () => {
    const db = storage.db;
    for (const scope of ['withTenant', 'withTransaction', 'withClient'] as const) {
      const controller = new AbortController();
      const sleeping = (client: Parameters<Parameters<Database['withClient']>[0]>[0]) =>
        client.query('SELECT pg_sleep(30) /* abort-test */');
      const call =
        scope === 'withTenant'
          ? db.withTenant(newTenant(), sleeping, { signal: controller.signal })
          : db[scope](sleeping, { signal: controller.signal });
      call.catch(() => undefined);
      expect(await eventually(async () => (await active('%abort-test%')) === 1)).toBe(true);
      controller.abort();
      const { code, ms } = await timed(call);
      expect({ scope, code }).toEqual({ scope, code: 'ABORTED' });
      expect(ms).toBeLessThan(AT_ONCE_MS);
      expect(await eventually(async () => (await active('%abort-test%')) === 0)).toBe(true);
    }
    // The cancelled connections were discarded, not handed to the next caller: it still works.
    expect((await db.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });
});

describe('aborting while waiting for a pooled connection (PostgreSQL 18, pool_size 1)', () => {
  let m: MigratedDatabase;
  let storage: Storage;
  beforeAll(async () => {
    m = await migratedPostgres();
    await m.db.close();
    storage = await openStorage(
      testSettings({
        backend: 'postgres',
        url: m.url!,
        postgres: { pool_size: 1, pool_timeout_secs: 30, vector_embeddings: { enabled: false } },
      }),
    );
  });
  afterAll(async () => {
    await storage?.close();
    await m?.dispose();
  });

  it('rejects at once, long before pool_timeout_secs, and the pool serves the next call', async () => {
    const tenant = newTenant();
    const { holder, open } = await holdConnection(storage, tenant);
    const controller = new AbortController();
    const waiting = storage.tenant(tenant).agentState.get('holder', { signal: controller.signal });
    waiting.catch(() => undefined);
    await sleep(50);
    expect(storage.db.stats().waiting).toBe(1);
    controller.abort();
    const { code, ms } = await timed(waiting);
    expect(code).toBe('ABORTED');
    expect(ms).toBeLessThan(AT_ONCE_MS);
    open();
    await holder;
    expect((await storage.tenant(tenant).agentState.get('holder')).version).toBe(1);
    expect(storage.db.stats()).toMatchObject({ waiting: 0, total: 1 });
  });

  it('a signal kept for many calls carries no listener once they settle', async () => {
    const controller = new AbortController();
    const acme = storage.tenant(newTenant());
    await acme.agentState.put('a', { n: 1 }, { signal: controller.signal });
    for (let i = 0; i < 50; i++) await acme.agentState.get('a', { signal: controller.signal });
    await acme.agentState.scan({ signal: controller.signal, limit: 1 }).next();
    await storage.transaction(
      newTenant(),
      async (stores) => {
        await stores.agentState.list({ signal: controller.signal });
      },
      { signal: controller.signal },
    );
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    // Aborted after they settled: nothing changes, and the next call with it is refused.
    controller.abort();
    expect((await acme.agentState.get('a')).version).toBe(1);
    expect(await codeOf(acme.agentState.get('a', { signal: controller.signal }))).toBe('ABORTED');
  });
});

describe('aborting on PGlite (memory), one session', () => {
  let storage: Storage;
  let statements = 0;
  beforeAll(async () => {
    const snapshot = await pgliteSnapshot('migrated');
    storage = await openStorage(testSettings({ backend: 'memory', postgres: { pool_timeout_secs: 30 } }), {
      observer: () => void statements++,
      ...(snapshot ? { memorySnapshot: snapshot } : {}),
    });
  });
  afterAll(() => storage?.close());

  it('a call waiting for the session rejects at once, sends nothing, and the session goes on', async () => {
    const tenant = newTenant();
    const { holder, open } = await holdConnection(storage, tenant);
    const sent = statements;
    const controller = new AbortController();
    const waiting = storage.tenant(tenant).agentState.put('waiter', { n: 1 }, { signal: controller.signal });
    waiting.catch(() => undefined);
    await sleep(50);
    controller.abort(new Error('user left'));
    const { code, ms } = await timed(waiting);
    expect(code).toBe('ABORTED');
    expect(ms).toBeLessThan(AT_ONCE_MS);
    expect(((await waiting.catch((error: unknown) => error)) as LlmspellError).cause).toEqual(new Error('user left'));
    open();
    await holder;
    expect(statements).toBe(sent); // the waiter sent nothing
    expect(await codeOf(storage.tenant(tenant).agentState.get('waiter'))).toBe('NOT_FOUND');
    expect((await storage.tenant(tenant).agentState.get('holder')).version).toBe(1);
  });

  it('transaction({ signal }) aborted while its callback waits: ABORTED at once, rolled back, session free', async () => {
    const tenant = newTenant();
    const controller = new AbortController();
    let answer!: () => void;
    const llmCall = new Promise<void>((resolve) => (answer = resolve));
    const done = storage.transaction(
      tenant,
      async (stores) => {
        await stores.agentState.put('inside', { n: 1 });
        await llmCall; // an LLM call, say, that takes its time
      },
      { signal: controller.signal },
    );
    done.catch(() => undefined);
    await sleep(100);
    controller.abort();
    const { code, ms } = await timed(done);
    expect(code).toBe('ABORTED');
    expect(ms).toBeLessThan(AT_ONCE_MS);
    // The session is free at once (not after the sleep), and the put was rolled back.
    const { ms: next } = await timed(storage.tenant(tenant).agentState.get('inside'));
    expect(next).toBeLessThan(AT_ONCE_MS);
    expect(await codeOf(storage.tenant(tenant).agentState.get('inside'))).toBe('NOT_FOUND');
    answer();
  });

  it('refuses a signal that is not an AbortSignal, before anything is sent', async () => {
    const acme = storage.tenant(newTenant());
    const sent = statements;
    for (const signal of [{ aborted: true }, 'abort', 1]) {
      const error = (await acme.agentState.get('a', { signal } as never).catch((e: unknown) => e)) as LlmspellError;
      expect([error.code, error.message]).toEqual(['INVALID_INPUT', expect.stringContaining('signal')]);
    }
    expect(statements).toBe(sent);
  });
});

describe('the database layer on PGlite', () => {
  let db: Database;
  beforeAll(async () => {
    db = await openDatabase(testSettings({ backend: 'memory' }));
  });
  afterAll(() => db?.close());

  it('withTransaction({ signal }) aborted mid-callback rolls back and frees the session', async () => {
    await db.query('CREATE TABLE abort_marks (n int)');
    const controller = new AbortController();
    let answer!: () => void;
    const slow = new Promise<void>((resolve) => (answer = resolve));
    const call = db.withTransaction(
      async (tx) => {
        await tx.query('INSERT INTO abort_marks VALUES (1)');
        await slow;
      },
      { signal: controller.signal },
    );
    call.catch(() => undefined);
    await sleep(50);
    controller.abort();
    expect(await codeOf(call)).toBe('ABORTED');
    expect((await db.query('SELECT count(*)::int AS n FROM abort_marks')).rows).toEqual([{ n: 0 }]);
    answer();
  });
});
