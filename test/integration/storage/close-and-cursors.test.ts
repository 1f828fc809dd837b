/**
 * Found by red-teaming and fixed: calls racing close(), a PGlite transaction waiting on an outside call, forged cursors.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorageTarget, type OpenedStorage } from '../../helpers/storage.js';

const tenant = () => `rt-${randomUUID().slice(0, 8)}`;

async function settle(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'ok';
  } catch (error) {
    return String((error as { code?: string }).code ?? (error as Error).name);
  }
}

describe('calls racing close() (postgres, pool_size 1)', () => {
  it('every call made before close() either completes or fails promptly with SCOPE_CLOSED', async () => {
    const opened = await openStorageTarget('postgres', { pool_size: 1, pool_timeout_secs: 5 });
    try {
      const stores = opened.storage.tenant(tenant());
      await stores.agentState.put('warm', { n: 0 }); // one pooled connection
      const started = Date.now();
      const calls = Array.from({ length: 5 }, (_, i) => settle(stores.agentState.put(`a${i}`, { i })));
      const closed = opened.storage.close();
      const outcomes = await Promise.all(calls);
      await closed;
      const elapsed = Date.now() - started;
      for (const o of outcomes) expect.soft(['ok', 'SCOPE_CLOSED']).toContain(o);
      // Nothing should wait out pool_timeout_secs on a pool that is closing.
      expect(elapsed, `outcomes ${outcomes.join(', ')}`).toBeLessThan(3000);
    } finally {
      await opened.dispose().catch(() => undefined);
    }
  }, 30_000);
});

describe('forged session cursors (memory)', () => {
  let opened: OpenedStorage;
  beforeAll(async () => {
    opened = await openStorageTarget('memory');
  }, 120_000);
  afterAll(() => opened?.dispose());

  const forged = (list: string, ...key: unknown[]) => Buffer.from(JSON.stringify([list, ...key])).toString('base64url');

  it.each([
    ['February 30', '2020-02-30T00:00:00.000000000Z'],
    ['year 0000', '0000-01-01T00:00:00.000000000Z'],
  ])('a cursor whose creation time is %s is INVALID_INPUT naming the cursor', async (_label, at) => {
    const stores = opened.storage.tenant(tenant());
    await stores.sessions.create();
    const error = await stores.sessions.list({ cursor: forged('sessions:*', at, randomUUID()) }).then(
      () => undefined,
      (e: unknown) => e as { code?: string; details?: { field?: string } },
    );
    // Either it is a valid key (a page follows), or it is refused as the cursor, not by the statement.
    if (error !== undefined)
      expect({ code: error.code, field: error.details?.field }).toEqual({ code: 'INVALID_INPUT', field: 'cursor' });
  });
});
