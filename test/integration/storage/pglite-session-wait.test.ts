/**
 * Found by red-teaming and fixed: PGlite (one session) — a transaction waiting on a call made outside it, and a kept
 * handle after the callback returned.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const tx = opened.storage.transaction(id, async (t) => {
      await t.agentState.put('a', { n: 1 });
      entered();
      await held; // e.g. waiting for an LLM call, or for the outside call below
    });
    await inside;
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
});
