/**
 * Found by red-teaming and fixed: JSON documents and Dates whose checked view differs from what is sent.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorageTarget, type OpenedStorage } from '../../helpers/storage.js';

const tenant = () => `rt-${randomUUID().slice(0, 8)}`;

async function failure(
  call: Promise<unknown>,
): Promise<{ name: string; code?: string; field?: string; message: string } | 'ok'> {
  try {
    await call;
    return 'ok';
  } catch (error) {
    const e = error as { name: string; code?: string; details?: { field?: string }; message: string };
    return { name: e.name, code: e.code, field: e.details?.field, message: e.message };
  }
}

async function adminRows(url: string, sql: string, values: unknown[]): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, values)).rows;
  } finally {
    await client.end();
  }
}

describe.each(['memory', 'postgres'] as const)('JSON documents (%s)', (target) => {
  let opened: OpenedStorage;
  beforeAll(async () => {
    opened = await openStorageTarget(target);
  }, 120_000);
  afterAll(() => opened?.dispose());

  it('a state with a non-enumerable toJSON is refused (INVALID_INPUT), and nothing is stored', async () => {
    const stores = opened.storage.tenant(tenant());
    const state: Record<string, unknown> = { a: 1 };
    Object.defineProperty(state, 'toJSON', { value: () => [1, 2, 3], enumerable: false });
    const result = await failure(stores.agentState.put('agent', state));
    expect(result).toMatchObject({ code: 'INVALID_INPUT', field: 'state' });
    // The tenant's own data must stay readable whatever was attempted.
    await expect(stores.agentState.list()).resolves.toMatchObject({ items: [] });
  });

  it('whatever a put with a non-enumerable toJSON returns, the tenant can still get() and list() its agents', async () => {
    const stores = opened.storage.tenant(tenant());
    const state: Record<string, unknown> = {};
    Object.defineProperty(state, 'toJSON', { value: () => [1, 2, 3], enumerable: false });
    await failure(stores.agentState.put('poison', state));
    expect(await failure(stores.agentState.list()), 'list').toBe('ok');
    const got = await failure(stores.agentState.get('poison'));
    expect(got === 'ok' || got.code === 'NOT_FOUND', `get: ${JSON.stringify(got)}`).toBe(true);
  });

  it('a nested object with a non-enumerable toJSON is refused, not silently rewritten', async () => {
    const stores = opened.storage.tenant(tenant());
    const inner: Record<string, unknown> = { secret: 'kept?' };
    Object.defineProperty(inner, 'toJSON', { value: () => NaN, enumerable: false });
    const result = await failure(stores.agentState.put('agent', { inner }));
    // Either refused, or stored exactly as checked ({ inner: { secret: 'kept?' } }); never { inner: null }.
    if (result === 'ok') {
      expect((await stores.agentState.get('agent')).state).toEqual({ inner: { secret: 'kept?' } });
    } else {
      expect(result).toMatchObject({ code: 'INVALID_INPUT' });
    }
  });

  it('a getter that yields a number when checked and NaN when sent is not stored as null', async () => {
    const stores = opened.storage.tenant(tenant());
    let reads = 0;
    const state = {
      get n() {
        reads++;
        return reads === 1 ? 1 : NaN;
      },
    };
    const result = await failure(stores.agentState.put('agent', state));
    if (result === 'ok') {
      // What was stored must be what passed the check.
      expect((await stores.agentState.get('agent')).state).toEqual({ n: 1 });
    } else {
      expect(result).toMatchObject({ code: 'INVALID_INPUT' });
    }
  });

  it('a getter that yields a BigInt when sent fails as INVALID_INPUT, not a raw TypeError', async () => {
    const stores = opened.storage.tenant(tenant());
    let reads = 0;
    const state = {
      get n() {
        reads++;
        return reads === 1 ? 1 : 10n;
      },
    };
    const result = await failure(stores.agentState.put('agent', state));
    expect(result === 'ok' || result.code === 'INVALID_INPUT', JSON.stringify(result)).toBe(true);
  });

  it('workflows.create with a state whose toJSON makes it a string is refused; list() still works', async () => {
    const stores = opened.storage.tenant(tenant());
    const state: Record<string, unknown> = {};
    Object.defineProperty(state, 'toJSON', { value: () => 'not an object', enumerable: false });
    const result = await failure(stores.workflows.create({ workflowId: 'w', name: 'w', state }));
    expect(result).toMatchObject({ code: 'INVALID_INPUT', field: 'state' });
    await expect(stores.workflows.list()).resolves.toMatchObject({ items: [] });
  });

  it('sessions.create with a Date subclass whose toISOString says "infinity" is refused; list() still works', async () => {
    const stores = opened.storage.tenant(tenant());
    class Forever extends Date {
      override toISOString(): string {
        return 'infinity';
      }
    }
    const expiresAt = new Forever(Date.now() + 3_600_000);
    const result = await failure(stores.sessions.create({ expiresAt }));
    // Either stored as the instant that was checked, or refused; never a row nobody can read.
    if (result !== 'ok') expect(result).toMatchObject({ code: 'INVALID_INPUT' });
    const listed = await failure(stores.sessions.list());
    expect(listed).toBe('ok');
  });

  if (target === 'postgres') {
    it('a put reported as failed did not commit anything (postgres, pipelined COMMIT)', async () => {
      const id = tenant();
      const stores = opened.storage.tenant(id);
      const state: Record<string, unknown> = {};
      Object.defineProperty(state, 'toJSON', { value: () => [1], enumerable: false });
      const result = await failure(stores.agentState.put('agent', state));
      expect(result).not.toBe('ok');
      const rows = await adminRows(
        opened.adminUrl!,
        'SELECT jsonb_typeof(state) AS t FROM llmspell.agent_state WHERE tenant_id = $1',
        [id],
      );
      // A call that rejected must have written nothing.
      expect(rows).toEqual([]);
    });
  }
});
