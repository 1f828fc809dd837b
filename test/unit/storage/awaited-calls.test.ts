/**
 * `watchAwaits` (src/storage/awaited-calls.ts): a store's promise tells where it is awaited, in the
 * awaiting async context; the wrapped store keeps every method, inherited ones included.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import { outsideCalls, watchAwaits, type OutsideCall } from '../../../src/storage/awaited-calls.js';

class Base {
  async inherited(n: number): Promise<number> {
    return n + 1;
  }
}
class Store extends Base {
  async own(): Promise<OutsideCall | undefined> {
    return outsideCalls.getStore();
  }
  list(): number[] {
    return [1];
  }
}

describe('watchAwaits', () => {
  it('keeps every method, inherited ones included, and passes non-promise results on', async () => {
    const store = watchAwaits(new Store(), () => undefined);
    expect(Object.keys(store).sort()).toEqual(['inherited', 'list', 'own']);
    expect(await store.inherited(1)).toBe(2);
    expect(store.list()).toEqual([1]);
    expect(Object.isFrozen(store)).toBe(true);
  });

  it('runs each call as an OutsideCall, settled once its promise settles', async () => {
    const store = watchAwaits(new Store(), () => undefined);
    const call = await store.own();
    expect(call).toMatchObject({ settled: true });
  });

  it('tells the awaiting context each time the promise is awaited or chained', async () => {
    const where = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    const store = watchAwaits(new Store(), () => seen.push(where.getStore()));
    const pending = store.inherited(1);
    await where.run('transaction', async () => {
      expect(await pending).toBe(2);
    });
    await where.run('other', () => Promise.all([pending]));
    expect(seen).toEqual(['transaction', 'other']);
  });
});
