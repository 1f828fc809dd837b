/**
 * Found by red-teaming and fixed: PGlite (one session) — a call waiting for the session gives up at
 * pool_timeout_secs, and a call made outside a transaction() but awaited inside it (which would
 * wait for the transaction that waits for it) is refused at once.
 */
import { AsyncResource } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf } from '../../helpers/outcome.js';
import { openStorageTarget, type OpenedStorage } from '../../helpers/storage.js';

const tenant = () => `rt-${randomUUID().slice(0, 8)}`;

describe('PGlite with pool_timeout_secs = 2 (memory)', () => {
  let opened: OpenedStorage;
  beforeAll(async () => {
    opened = await openStorageTarget('memory', { pool_timeout_secs: 2 });
  }, 120_000);
  afterAll(() => opened?.dispose());

  it('a call waiting for the one session gives up after pool_timeout_secs instead of waiting forever', async () => {
    const id = tenant();
    const { tx, release } = await holdSession(opened, id); // e.g. waiting for an LLM call
    const started = Date.now();
    const outside = opened.storage
      .tenant(tenant())
      .agentState.get('x')
      .then(
        () => 'ok',
        (e: { code?: string }) => e.code,
      );
    const raced = await Promise.race([outside, new Promise((r) => setTimeout(() => r('still waiting'), 6000))]);
    release();
    await tx;
    await outside;
    expect({ raced, within: Date.now() - started < 6000 }).toEqual({ raced: 'DB_POOL_TIMEOUT', within: true });
  }, 30_000);

  it('a call made outside a transaction() and awaited inside it is refused at once with SCOPE_NESTED, and never runs', async () => {
    const id = tenant();
    const stores = opened.storage.tenant(id);
    await stores.agentState.put('a', { n: 1 });
    // Bound to the context outside the transaction, as a timer set before it would be.
    let outside!: Promise<unknown>;
    const startOutside = AsyncResource.bind(() => {
      outside = stores.agentState.put('a', { n: 2 });
    });
    const began = Date.now();
    const code = await opened.storage
      .transaction(id, async (t) => {
        await t.agentState.put('b', { n: 1 }); // the transaction holds the session from here
        startOutside();
        await outside; // which waits for that session
      })
      .then(
        () => 'committed',
        (e: { code?: string }) => e.code,
      );
    expect({ code, within: Date.now() - began < 1500 }).toEqual({ code: 'SCOPE_NESTED', within: true });
    expect(await codeOf(outside)).toBe('SCOPE_NESTED');
    // Neither the transaction's write nor the outside call's was kept; the session is free.
    expect((await stores.agentState.get('a')).version).toBe(1);
    expect(await codeOf(stores.agentState.get('b'))).toBe('NOT_FOUND');
  });

  it('a call made and awaited outside a transaction() waits for the session and succeeds', async () => {
    const id = tenant();
    const { tx, release } = await holdSession(opened, id);
    const outside = opened.storage.tenant(id).agentState.put('c', { n: 1 });
    setTimeout(release, 100);
    await tx;
    expect((await outside).version).toBe(1);
  });
});

/** A transaction of `id` that wrote agent 'a' and holds PGlite's session until `release()`. */
async function holdSession(opened: OpenedStorage, id: string): Promise<{ tx: Promise<void>; release: () => void }> {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let entered!: () => void;
  const inside = new Promise<void>((resolve) => (entered = resolve));
  const tx = opened.storage.transaction(id, async (t) => {
    await t.agentState.put('a', { n: 1 });
    entered();
    await held;
  });
  await inside;
  return { tx, release };
}
