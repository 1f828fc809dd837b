/**
 * Found by red-teaming and fixed: a server connection killed, or a statement timing out, while a call waits on a row
 * lock held from an admin connection (postgres).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlmspellError } from '../../../src/errors.js';
import { openStorageTarget, type OpenedStorage } from '../../helpers/storage.js';

const tenant = () => `rt-${randomUUID().slice(0, 8)}`;

/** An admin connection holding a row lock on (tenant, agent) of agent_state until release(). */
async function lockRow(adminUrl: string, tenantId: string, agentId: string) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  await client.query('BEGIN');
  await client.query('SELECT 1 FROM llmspell.agent_state WHERE tenant_id = $1 AND agent_id = $2 FOR UPDATE', [
    tenantId,
    agentId,
  ]);
  return {
    client,
    async release() {
      await client.query('ROLLBACK').catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}

/** Waits until a backend waits on a lock, then terminates it. */
async function terminateWaiter(adminUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    for (let i = 0; i < 200; i++) {
      const { rows } = await client.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
      );
      if (rows.length > 0) {
        await client.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        return;
      }
      await sleep(25);
    }
    throw new Error('no backend came to wait on the lock');
  } finally {
    await client.end();
  }
}

async function outcome(call: Promise<unknown>): Promise<unknown> {
  try {
    await call;
    return 'ok';
  } catch (error) {
    return error;
  }
}

function summary(error: unknown) {
  const e = error as { name?: string; code?: string; constructor?: { name?: string } };
  return { isLlmspellError: error instanceof LlmspellError, name: e?.name, code: e?.code };
}

describe('a connection killed while a call waits on a lock (postgres)', () => {
  let opened: OpenedStorage;
  beforeAll(async () => {
    opened = await openStorageTarget('postgres', { pool_size: 2 });
  }, 120_000);
  afterAll(() => opened?.dispose());

  it('a one-statement call fails with DB_CONNECTION_LOST, and the next call works', async () => {
    const id = tenant();
    const stores = opened.storage.tenant(id);
    await stores.agentState.put('a', { n: 0 });
    const lock = await lockRow(opened.adminUrl!, id, 'a');
    try {
      const call = outcome(stores.agentState.put('a', { n: 1 }));
      await terminateWaiter(opened.adminUrl!);
      const error = await call;
      expect(summary(error)).toMatchObject({ isLlmspellError: true, code: 'DB_CONNECTION_LOST' });
    } finally {
      await lock.release();
    }
    expect((await stores.agentState.get('a')).state).toEqual({ n: 0 });
    await stores.agentState.put('a', { n: 2 });
  });

  it('transaction() fails with DB_CONNECTION_LOST when its statement is the one running', async () => {
    const id = tenant();
    const stores = opened.storage.tenant(id);
    await stores.agentState.put('a', { n: 0 });
    const lock = await lockRow(opened.adminUrl!, id, 'a');
    let inner: unknown;
    try {
      const call = outcome(
        opened.storage.transaction(id, async (t) => {
          await t.agentState.put('b', { n: 1 });
          try {
            await t.agentState.put('a', { n: 1 });
          } catch (error) {
            inner = error;
            throw error;
          }
        }),
      );
      await terminateWaiter(opened.adminUrl!);
      const error = await call;
      expect.soft(summary(inner), 'the error the callback saw').toMatchObject({
        isLlmspellError: true,
        code: 'DB_CONNECTION_LOST',
      });
      expect(summary(error), 'the error transaction() rejected with').toMatchObject({
        isLlmspellError: true,
        code: 'DB_CONNECTION_LOST',
      });
    } finally {
      await lock.release();
    }
    await expect(stores.agentState.get('b')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await stores.agentState.put('c', { n: 3 });
  });
});

describe('statement_timeout_secs = 1 while a call waits on a lock (postgres)', () => {
  let opened: OpenedStorage;
  beforeAll(async () => {
    opened = await openStorageTarget('postgres', { pool_size: 1, statement_timeout_secs: 1 });
  }, 120_000);
  afterAll(() => opened?.dispose());

  it('a one-statement call fails with a typed error, writes nothing, and the connection comes back clean', async () => {
    const id = tenant();
    const stores = opened.storage.tenant(id);
    await stores.agentState.put('a', { n: 0 });
    const lock = await lockRow(opened.adminUrl!, id, 'a');
    let error: unknown;
    try {
      error = await outcome(stores.agentState.put('a', { n: 1 }));
    } finally {
      await lock.release();
    }
    expect(summary(error)).toMatchObject({ isLlmspellError: true });
    expect((await stores.agentState.get('a')).state).toEqual({ n: 0 });
    // The one pooled connection is clean: other tenant, no leftover transaction.
    const other = opened.storage.tenant(tenant());
    await expect(other.agentState.get('a')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await stores.agentState.put('a', { n: 2 });
  });

  it('in transaction() the timeout reaches the callback and the caller as an LlmspellError, not a raw driver error', async () => {
    const id = tenant();
    const stores = opened.storage.tenant(id);
    await stores.agentState.put('a', { n: 0 });
    const lock = await lockRow(opened.adminUrl!, id, 'a');
    let inner: unknown;
    let error: unknown;
    try {
      error = await outcome(
        opened.storage.transaction(id, async (t) => {
          await t.agentState.put('b', { n: 1 });
          try {
            await t.agentState.put('a', { n: 1 });
          } catch (e) {
            inner = e;
            throw e;
          }
        }),
      );
    } finally {
      await lock.release();
    }
    expect.soft(summary(inner), 'the error the callback saw').toMatchObject({ isLlmspellError: true });
    expect(summary(error), 'the error transaction() rejected with').toMatchObject({ isLlmspellError: true });
    // And it does not carry the server's raw fields as a plain pg error would.
    await expect(stores.agentState.get('b')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
