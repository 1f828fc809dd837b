/**
 * openStorage as a whole: components routed to their backends (each opened and migrated once),
 * what transaction() guarantees (one backend, all or nothing, revoked stores), single-tenant mode,
 * close(), and a connection the server kills in the middle of a transaction.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../../../src/storage/open-storage.js';
import { findPgBouncer, pgBouncerFor, type PgBouncer } from '../../helpers/pgbouncer.js';
import { pgliteSnapshot } from '../../helpers/pglite.js';
import { migratedPostgres, type MigratedDatabase } from '../../helpers/schema.js';
import { openStorageTarget, type OpenedStorage } from '../../helpers/storage.js';
import { testSettings } from '../../helpers/settings.js';

const tenant = () => `t-${randomUUID().slice(0, 8)}`;

async function adminCount(url: string, sql: string, values: unknown[]): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return Number((await client.query<{ n: string }>(sql, values)).rows[0]!.n);
  } finally {
    await client.end();
  }
}

describe('per-component backends: state on memory, the rest on postgres', () => {
  let m: MigratedDatabase;
  let storage: Storage;
  beforeAll(async () => {
    m = await migratedPostgres();
    const settings = testSettings({
      backend: 'postgres',
      url: m.url!,
      postgres: { vector_embeddings: { enabled: false } },
    });
    settings.storage.state.backend = 'memory';
    // The empty snapshot and auto_migrate off: a memory backend is migrated whatever auto_migrate says.
    const empty = await pgliteSnapshot('empty');
    storage = await openStorage(settings, empty ? { memorySnapshot: empty } : {});
  });
  afterAll(async () => {
    await storage?.close();
    await m?.dispose();
  });

  it('routes the state components to memory and the memory components to storage.backend', async () => {
    expect(storage.backends).toEqual({ core: 'postgres', state: 'memory', memory: 'postgres' });
    const id = tenant();
    const stores = storage.tenant(id);
    await stores.agentState.put('planner', { step: 1 });
    await stores.workflows.create({ workflowId: 'wf-1', name: 'w' });
    await stores.procedural.record('scope', 'k', 'v');
    const onPostgres = (table: string) =>
      adminCount(m.url!, `SELECT count(*) AS n FROM llmspell.${table} WHERE tenant_id = $1`, [id]);
    expect(await onPostgres('agent_state')).toBe(0);
    expect(await onPostgres('workflow_states')).toBe(0);
    expect(await onPostgres('procedural_memory')).toBe(1);
    expect((await stores.agentState.get('planner')).state).toEqual({ step: 1 });
  });

  it('runs a transaction on the backend of the first store it touches', async () => {
    const id = tenant();
    await storage.transaction(id, async (t) => {
      await t.agentState.put('a', { n: 1 });
      await t.workflows.create({ workflowId: 'wf', name: 'w' });
    });
    expect((await storage.tenant(id).workflows.get('wf')).status).toBe('pending');
  });

  it('refuses a transaction spanning two backends before running anything on the second, and rolls back the first', async () => {
    const id = tenant();
    await expect(
      storage.transaction(id, async (t) => {
        await t.agentState.put('a', { n: 1 });
        await t.procedural.record('scope', 'k', 'v');
      }),
    ).rejects.toMatchObject({ code: 'TRANSACTION_SPANS_BACKENDS' });
    await expect(storage.tenant(id).agentState.get('a')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(storage.tenant(id).procedural.get('scope', 'k', 'v')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe.each(['postgres', 'memory'] as const)('transaction() on %s', (target) => {
  let opened: OpenedStorage;
  let storage: Storage;
  beforeAll(async () => {
    opened = await openStorageTarget(target);
    storage = opened.storage;
  });
  afterAll(() => opened?.dispose());

  it('commits every call together when the callback returns, and returns its value', async () => {
    const id = tenant();
    const result = await storage.transaction(id, async (t) => {
      const wf = await t.workflows.create({ name: 'w' });
      await t.workflows.transition(wf.workflowId, 'running');
      await t.agentState.put('planner', { workflow: wf.workflowId });
      return wf.workflowId;
    });
    const stores = storage.tenant(id);
    expect((await stores.workflows.get(result)).status).toBe('running');
    expect((await stores.agentState.get('planner')).state).toEqual({ workflow: result });
  });

  it('writes nothing when the callback throws, and rethrows its error untouched', async () => {
    const id = tenant();
    const mine = new Error('mine');
    await expect(
      storage.transaction(id, async (t) => {
        await t.agentState.put('planner', { step: 1 });
        throw mine;
      }),
    ).rejects.toBe(mine);
    await expect(storage.tenant(id).agentState.get('planner')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('writes nothing when a later call fails, even if the callback catches that error', async () => {
    const id = tenant();
    const wf = await storage.tenant(id).workflows.create({ name: 'w' });
    await expect(
      storage.transaction(id, async (t) => {
        await t.agentState.put('planner', { step: 1 });
        await t.workflows.transition(wf.workflowId, 'completed'); // pending → completed is not allowed
      }),
    ).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
    await expect(storage.tenant(id).agentState.get('planner')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('revokes its stores when the callback settles, and refuses the storage itself inside it', async () => {
    const id = tenant();
    let kept: Awaited<ReturnType<Storage['tenant']>> | undefined;
    await storage.transaction(id, async (t) => {
      kept = t;
      await expect(storage.tenant(id).agentState.list()).rejects.toMatchObject({ code: 'SCOPE_NESTED' });
      await expect(storage.transaction(id, async () => 1)).rejects.toMatchObject({ code: 'SCOPE_NESTED' });
    });
    await expect(kept!.agentState.put('x', {})).rejects.toMatchObject({ code: 'SCOPE_CLOSED' });
    await expect(kept!.sessions.create()).rejects.toMatchObject({ code: 'SCOPE_CLOSED' });
  });

  it('opens no transaction for a callback that calls nothing, and checks the tenant first', async () => {
    expect(await storage.transaction(tenant(), async () => 'nothing')).toBe('nothing');
    await expect(storage.transaction('NOT VALID', async () => 1)).rejects.toMatchObject({ code: 'TENANT_INVALID' });
  });

  it('sees its own writes inside, and other tenants see none of them', async () => {
    const a = tenant();
    const b = tenant();
    await storage.transaction(a, async (t) => {
      await t.agentState.put('x', { v: 1 });
      expect((await t.agentState.get('x')).state).toEqual({ v: 1 });
    });
    expect((await storage.tenant(b).agentState.list()).items).toEqual([]);
  });
});

describe('single-tenant mode and close()', () => {
  it('uses default_tenant_id when enforce_tenant_isolation = false, and refuses a missing tenant otherwise', async () => {
    const loose = await openStorageTarget('memory', { enforce_tenant_isolation: false, default_tenant_id: 'solo' });
    try {
      await loose.storage.tenant().agentState.put('a', { n: 1 });
      expect((await loose.storage.tenant('solo').agentState.get('a')).state).toEqual({ n: 1 });
    } finally {
      await loose.dispose();
    }
    const strict = await openStorageTarget('memory');
    try {
      expect(() => strict.storage.tenant()).toThrow(expect.objectContaining({ code: 'TENANT_INVALID' }));
    } finally {
      await strict.dispose();
    }
  });

  it('refuses every call after close()', async () => {
    const opened = await openStorageTarget('memory');
    const stores = opened.storage.tenant('acme');
    await opened.dispose();
    await expect(stores.agentState.get('x')).rejects.toMatchObject({ code: 'SCOPE_CLOSED' });
    expect(() => opened.storage.tenant('acme')).toThrow(expect.objectContaining({ code: 'SCOPE_CLOSED' }));
  });
});

describe('a connection killed in the middle of a transaction (postgres)', () => {
  let opened: OpenedStorage;
  beforeAll(async () => {
    opened = await openStorageTarget('postgres', { pool_size: 2 });
  });
  afterAll(() => opened?.dispose());

  it('fails that transaction with DB_CONNECTION_LOST, writes nothing, and the next call works', async () => {
    const id = tenant();
    await expect(
      opened.storage.transaction(id, async (t) => {
        await t.agentState.put('a', { n: 1 });
        const client = new pg.Client({ connectionString: opened.adminUrl });
        await client.connect();
        await client.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle in transaction'",
        );
        await client.end();
        await t.agentState.put('b', { n: 2 });
      }),
    ).rejects.toMatchObject({ code: 'DB_CONNECTION_LOST' });
    const stores = opened.storage.tenant(id);
    await expect(stores.agentState.get('a')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await stores.agentState.put('c', { n: 3 });
    expect((await stores.agentState.get('c')).version).toBe(1);
  });
});

describe('a deadlock between two transactions (postgres)', () => {
  let opened: OpenedStorage;
  beforeAll(async () => {
    opened = await openStorageTarget('postgres', { pool_size: 4 });
  });
  afterAll(() => opened?.dispose());

  it('fails one of them with a retryable CONFLICT (40P01), keeps nothing of it, and commits the other', async () => {
    const id = tenant();
    const stores = opened.storage.tenant(id);
    await stores.agentState.put('a', { n: 0 });
    await stores.agentState.put('b', { n: 0 });
    let arrived = 0;
    const bothHoldOne = new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (arrived === 2) {
          clearInterval(check);
          resolve();
        }
      }, 5);
    });
    const crossing = (first: string, second: string) =>
      opened.storage.transaction(id, async (t) => {
        await t.agentState.put(first, { by: first });
        arrived++;
        await bothHoldOne;
        await t.agentState.put(second, { by: first });
        return first;
      });
    const outcomes = await Promise.allSettled([crossing('a', 'b'), crossing('b', 'a')]);
    const failed = outcomes.filter((o) => o.status === 'rejected');
    expect(failed).toHaveLength(1);
    expect((failed[0] as PromiseRejectedResult).reason).toMatchObject({
      code: 'CONFLICT',
      details: { sqlstate: '40P01', retryable: true },
    });
    const winner = (outcomes.find((o) => o.status === 'fulfilled') as PromiseFulfilledResult<string>).value;
    expect((await stores.agentState.get('a')).state).toEqual({ by: winner });
    expect((await stores.agentState.get('b')).state).toEqual({ by: winner });
  });
});

const bouncerBinary = await findPgBouncer();
if (!('path' in bouncerBinary)) console.warn(`skipped: storage behind PgBouncer: ${bouncerBinary.reason}`);

describe.skipIf(!('path' in bouncerBinary))('storage behind PgBouncer in transaction mode', () => {
  let m: MigratedDatabase;
  let bouncer: PgBouncer;
  let storage: Storage;
  beforeAll(async () => {
    m = await migratedPostgres();
    let url: string;
    ({ bouncer, url } = await pgBouncerFor(m.url!, { defaultPoolSize: 2 }));
    storage = await openStorage(
      testSettings({ backend: 'postgres', url, postgres: { pool_size: 8, vector_embeddings: { enabled: false } } }),
    );
  });
  afterAll(async () => {
    await storage?.close();
    await bouncer?.stop();
    await m?.dispose();
  });

  it('keeps 80 interleaved one-round-trip calls of 8 tenants to their own rows over 2 server connections', async () => {
    const tenants = Array.from({ length: 8 }, () => tenant());
    await Promise.all(
      tenants.flatMap((id) =>
        Array.from({ length: 10 }, (_, k) => storage.tenant(id).procedural.record('scope', 'k', `v${k % 2}`)),
      ),
    );
    for (const id of tenants) {
      const top = await storage.tenant(id).procedural.top('scope');
      expect(top.map((p) => [p.value, p.frequency]).sort()).toEqual([
        ['v0', 5],
        ['v1', 5],
      ]);
    }
    const failing = await Promise.allSettled(
      tenants.map((id) => storage.tenant(id).workflows.transition('missing', 'running')),
    );
    expect(failing.map((o) => (o as PromiseRejectedResult).reason?.code)).toEqual(tenants.map(() => 'NOT_FOUND'));
  });
});
