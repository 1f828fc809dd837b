/** The tenant-conformance registration of procedural (see `harness.ts`). */
import { expect } from 'vitest';
import { attemptsOf, BIG, plain, register, token } from './harness.js';

interface PatternHandle {
  scope: string;
  key: string;
  /** Recorded 3 times. */
  value: string;
  /** Recorded once, in the same scope. */
  otherValue: string;
  id: string;
}

const pattern = attemptsOf<'procedural', PatternHandle>();

export const procedural = register({
  module: 'procedural',
  async seed(a, marker) {
    const scope = `scope-${token()}`;
    const [key, value, otherValue] = ['tool', 'grep -r', 'sed -n'];
    await a.procedural.record(scope, key, value, { metadata: { secret: marker } });
    await a.procedural.record(scope, key, value);
    const recorded = await a.procedural.record(scope, key, value, { metadata: { n: 3 } });
    expect(recorded.frequency).toBe(3);
    await a.procedural.record(scope, key, otherValue, { metadata: { secret: marker } });
    return { scope, key, value, otherValue, id: recorded.id };
  },
  async snapshot(a, h) {
    return plain([
      await a.procedural.get(h.scope, h.key, h.value),
      await a.procedural.get(h.scope, h.key, h.otherValue),
      await a.procedural.top(h.scope),
    ]);
  },
  locate: (h) => ({ table: 'procedural_memory', column: 'id', value: h.id }),
  probe: (stores) => stores.procedural.top('probe-scope', { limit: 1 }),
  signalled: {
    record: (b, h, signal) => b.procedural.record(h.scope, h.key, h.value, { signal }),
    get: (b, h, signal) => b.procedural.get(h.scope, h.key, h.value, { signal }),
    top: (b, h, signal) => b.procedural.top(h.scope, { signal }),
    prune: (b, h, signal) => b.procedural.prune({ scope: h.scope, maxFrequency: BIG, signal }),
  },
  attempts: [
    pattern({
      method: 'get',
      kind: 'read',
      name: "get A's pattern",
      run: (b, h) => b.procedural.get(h.scope, h.key, h.value),
      expect: { rejects: 'NOT_FOUND' },
    }),
    pattern({
      method: 'get',
      kind: 'read',
      name: "get A's second pattern",
      run: (b, h) => b.procedural.get(h.scope, h.key, h.otherValue),
      expect: { rejects: 'NOT_FOUND' },
    }),
    pattern({
      method: 'record',
      kind: 'same-key',
      name: "record A's pattern: B's own count 1, B's metadata alone",
      run: (b, h) => b.procedural.record(h.scope, h.key, h.value, { metadata: { mine: 'b' } }),
      expect: {
        async check(result, b, h) {
          expect(result).toMatchObject({ scope: h.scope, key: h.key, value: h.value, frequency: 1 });
          expect(result.metadata).toEqual({ mine: 'b' });
          expect(result.id).not.toBe(h.id);
          expect((await b.procedural.record(h.scope, h.key, h.value)).frequency).toBe(2);
        },
      },
    }),
    pattern({
      method: 'top',
      kind: 'list',
      name: "top of A's scope: only B's own pattern",
      run: async (b, h) => {
        await b.procedural.record(h.scope, h.key, 'b-own');
        return b.procedural.top(h.scope);
      },
      expect: {
        check(result) {
          expect(result.map((item) => item.value)).toEqual(['b-own']);
        },
      },
    }),
    pattern({
      method: 'top',
      kind: 'list',
      name: "top of A's scope, minFrequency 1, limit 1000: nothing",
      run: (b, h) => b.procedural.top(h.scope, { minFrequency: 1, limit: 1000 }),
      expect: { resolves: [] },
    }),
    pattern({
      method: 'prune',
      kind: 'bulk',
      name: "prune({ maxFrequency: big }): deletes B's own pattern only",
      run: async (b, h) => {
        await b.procedural.record(h.scope, h.key, 'b-own');
        return b.procedural.prune({ maxFrequency: BIG });
      },
      expect: { resolves: 1 },
    }),
    pattern({
      method: 'prune',
      kind: 'bulk',
      name: "prune({ olderThan: a minute ahead }): deletes B's own pattern only",
      run: async (b, h) => {
        await b.procedural.record(h.scope, h.key, 'b-own');
        return b.procedural.prune({ olderThan: new Date(Date.now() + 60_000) });
      },
      expect: { resolves: 1 },
    }),
    pattern({
      method: 'prune',
      kind: 'bulk',
      name: "prune A's scope with both conditions: 0",
      run: (b, h) =>
        b.procedural.prune({ scope: h.scope, maxFrequency: BIG, olderThan: new Date(Date.now() + 60_000) }),
      expect: { resolves: 0 },
    }),
  ],
  async control(a, h) {
    expect(await a.procedural.prune({ scope: h.scope, maxFrequency: BIG })).toBe(2);
  },
});
