/**
 * The procedural module through `openStorage`, on real databases: PostgreSQL 18 as the application
 * role, PGlite in memory and PGlite on disk. Every public method of its store, what it returns,
 * what it writes, and how it refuses bad input: by error code and `details.field`, never by
 * message wording. The targets, cases and helpers it shares with the other modules:
 * `test/helpers/storage-cases.ts`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { failure, invalid } from '../../../helpers/outcome.js';
import {
  TARGETS,
  UUID,
  coded,
  plain,
  ns,
  BAD_TEXTS,
  expectTimestamps,
  useStorageTarget,
} from '../../../helpers/storage-cases.js';

describe.each(TARGETS)('storage modules on %s', (target) => {
  const { fresh } = useStorageTarget(target);

  describe('procedural', () => {
    it('record counts a new pattern at 1 and get returns it', async () => {
      const stores = fresh();
      const first = await stores.procedural.record('tools', 'prefers', 'grep');
      expect(first).toMatchObject({ scope: 'tools', key: 'prefers', value: 'grep', frequency: 1, metadata: {} });
      expect(first.id).toMatch(UUID);
      expectTimestamps(first, ['firstSeen', 'lastSeen']);
      expect(ns(first.firstSeen)).toBeLessThanOrEqual(ns(first.lastSeen));
      expect(plain(await stores.procedural.get('tools', 'prefers', 'grep'))).toEqual(plain(first));
    });

    it('record again adds one, keeps firstSeen and moves lastSeen forward', async () => {
      const stores = fresh();
      const first = await stores.procedural.record('tools', 'prefers', 'grep');
      await sleep(5);
      const second = await stores.procedural.record('tools', 'prefers', 'grep');
      expect(second).toMatchObject({ id: first.id, frequency: 2 });
      expect(ns(second.firstSeen)).toBe(ns(first.firstSeen));
      expect(ns(second.lastSeen)).toBeGreaterThan(ns(first.lastSeen));
      expect(ns(second.firstSeen)).toBeLessThanOrEqual(ns(second.lastSeen));
      const third = await stores.procedural.record('tools', 'prefers', 'grep');
      expect(third.frequency).toBe(3);
      expect(plain(await stores.procedural.get('tools', 'prefers', 'grep'))).toEqual(plain(third));
    });

    it('concurrent records never lose a count', async () => {
      const stores = fresh();
      await Promise.all(Array.from({ length: 10 }, () => stores.procedural.record('s', 'k', 'v')));
      expect((await stores.procedural.get('s', 'k', 'v')).frequency).toBe(10);
    });

    it('record merges metadata at the top level', async () => {
      const stores = fresh();
      await stores.procedural.record('s', 'k', 'v', { metadata: { a: 1, nested: { x: 1 }, keep: 'k' } });
      const merged = await stores.procedural.record('s', 'k', 'v', { metadata: { b: 2, nested: { y: 2 } } });
      expect(merged.metadata).toEqual({ a: 1, b: 2, nested: { y: 2 }, keep: 'k' });
      const without = await stores.procedural.record('s', 'k', 'v');
      expect(without.metadata).toEqual({ a: 1, b: 2, nested: { y: 2 }, keep: 'k' });
      expect(without.frequency).toBe(3);
      expect((await stores.procedural.get('s', 'k', 'v')).metadata).toEqual(merged.metadata);
    });

    it('values with backslashes are patterns of their own, stored as given', async () => {
      const stores = fresh();
      const values = ['C:\\path\\to', '\\x41', 'A', '\\101', '\\\\', '\\', 'trailing\\', '\\\\x41', '', 'a'];
      const recorded = [];
      for (const value of values) recorded.push(await stores.procedural.record('paths', 'cwd', value));
      expect(new Set(recorded.map((p) => p.id)).size).toBe(values.length);
      expect(recorded.map((p) => p.frequency)).toEqual(values.map(() => 1));
      for (const value of values) {
        const got = await stores.procedural.get('paths', 'cwd', value);
        expect.soft(got.value, value).toBe(value);
        expect.soft(got.frequency, value).toBe(1);
      }
      expect((await stores.procedural.record('paths', 'cwd', '\\x41')).frequency).toBe(2);
      expect((await stores.procedural.get('paths', 'cwd', 'A')).frequency).toBe(1);
      expect((await stores.procedural.record('paths', 'C:\\key\\', 'x')).key).toBe('C:\\key\\');
      expect((await stores.procedural.get('paths', 'C:\\key\\', 'x')).frequency).toBe(1);
    });

    it('key, value and scope each tell patterns apart', async () => {
      const stores = fresh();
      const ab = await stores.procedural.record('s', 'ab', 'c');
      const a = await stores.procedural.record('s', 'a', 'bc');
      const other = await stores.procedural.record('t', 'ab', 'c');
      expect(new Set([ab.id, a.id, other.id]).size).toBe(3);
      expect((await stores.procedural.get('s', 'ab', 'c')).frequency).toBe(1);
      expect((await stores.procedural.get('s', 'a', 'bc')).frequency).toBe(1);
      expect((await stores.procedural.get('t', 'ab', 'c')).scope).toBe('t');
    });

    it('long and unicode values are patterns like any other', async () => {
      const stores = fresh();
      const long = 'v'.repeat(200_000);
      const longer = `${long.slice(0, -1)}w`;
      expect((await stores.procedural.record('s', 'k', long)).value).toBe(long);
      expect((await stores.procedural.record('s', 'k', longer)).frequency).toBe(1);
      expect((await stores.procedural.record('s', 'k', long)).frequency).toBe(2);
      const unicode = 'ünïcødé 中文 😀 e\u0301';
      await stores.procedural.record('sköpe 😀', 'kéy', unicode);
      expect((await stores.procedural.get('sköpe 😀', 'kéy', unicode)).value).toBe(unicode);
      expect((await stores.procedural.record('s'.repeat(512), 'k', 'v')).scope).toHaveLength(512);
      expect((await stores.procedural.record('é'.repeat(256), 'k', 'v')).frequency).toBe(1);
    });

    it('get of a pattern never recorded is NOT_FOUND', async () => {
      const stores = fresh();
      expect(await failure(stores.procedural.get('s', 'k', 'v'))).toEqual(coded('NOT_FOUND'));
      await stores.procedural.record('s', 'k', 'v');
      expect(await failure(stores.procedural.get('s', 'k', 'w'))).toEqual(coded('NOT_FOUND'));
      expect(await failure(stores.procedural.get('s', 'K', 'v'))).toEqual(coded('NOT_FOUND'));
      expect(await failure(stores.procedural.get('t', 'k', 'v'))).toEqual(coded('NOT_FOUND'));
      expect(await failure(stores.procedural.get('s', 'k', ''))).toEqual(coded('NOT_FOUND'));
    });

    it('top lists a scope most frequent first, then most recent; minFrequency and limit filter', async () => {
      const stores = fresh();
      const record = async (key: string, times: number, scope = 'ranked') => {
        for (let i = 0; i < times; i++) await stores.procedural.record(scope, key, 'v');
      };
      await record('three', 3);
      await record('one-old', 1);
      await record('two', 2);
      await record('other-scope', 5, 'elsewhere');
      await sleep(5);
      await record('one-new', 1);
      const keys = (patterns: { key: string }[]) => patterns.map((p) => p.key);
      const top = await stores.procedural.top('ranked');
      expect(keys(top)).toEqual(['three', 'two', 'one-new', 'one-old']);
      expect(top.map((p) => p.frequency)).toEqual([3, 2, 1, 1]);
      for (const pattern of top) expectTimestamps(pattern, ['firstSeen', 'lastSeen']);
      expect(keys(await stores.procedural.top('ranked', { minFrequency: 2 }))).toEqual(['three', 'two']);
      expect(keys(await stores.procedural.top('ranked', { minFrequency: 3 }))).toEqual(['three']);
      expect(await stores.procedural.top('ranked', { minFrequency: 4 })).toEqual([]);
      expect(keys(await stores.procedural.top('ranked', { limit: 1 }))).toEqual(['three']);
      expect(keys(await stores.procedural.top('ranked', { limit: 3, minFrequency: 1 }))).toEqual([
        'three',
        'two',
        'one-new',
      ]);
      expect(keys(await stores.procedural.top('elsewhere'))).toEqual(['other-scope']);
      expect(await stores.procedural.top('nowhere')).toEqual([]);
    });

    it('top returns 50 by default and at most 1000', async () => {
      const stores = fresh();
      await Promise.all(Array.from({ length: 51 }, (_, i) => stores.procedural.record('many', `k${i}`, 'v')));
      expect(await stores.procedural.top('many')).toHaveLength(50);
      expect(await stores.procedural.top('many', { limit: 1000 })).toHaveLength(51);
    });

    it('top refuses bad options', async () => {
      const stores = fresh();
      const cases: [string, unknown, string][] = [
        ['s', { minFrequency: 0 }, 'minFrequency'],
        ['s', { minFrequency: 1.5 }, 'minFrequency'],
        ['s', { minFrequency: '2' }, 'minFrequency'],
        ['s', { limit: 0 }, 'limit'],
        ['s', { limit: 1001 }, 'limit'],
        ['s', { limit: -1 }, 'limit'],
        ['s', { cursor: 'x' }, 'cursor'],
        ['s', null, 'options'],
        ['', {}, 'scope'],
        ['s'.repeat(513), {}, 'scope'],
      ];
      for (const [scope, options, field] of cases) {
        expect
          .soft(await failure(stores.procedural.top(scope, options as never)), JSON.stringify(options))
          .toEqual(invalid(field));
      }
      for (const [label, scope] of BAD_TEXTS) {
        expect.soft(await failure(stores.procedural.top(scope as never)), label).toEqual(invalid('scope'));
      }
    });

    it('prune by maxFrequency deletes the rarely seen, in every scope or one', async () => {
      const stores = fresh();
      await stores.procedural.record('a', 'x', 'v');
      for (let i = 0; i < 2; i++) await stores.procedural.record('a', 'y', 'v');
      for (let i = 0; i < 3; i++) await stores.procedural.record('a', 'z', 'v');
      await stores.procedural.record('b', 'w', 'v');
      for (let i = 0; i < 2; i++) await stores.procedural.record('b', 'y', 'v');
      expect(await stores.procedural.prune({ maxFrequency: 1 })).toBe(2);
      expect(await failure(stores.procedural.get('a', 'x', 'v'))).toEqual(coded('NOT_FOUND'));
      expect(await failure(stores.procedural.get('b', 'w', 'v'))).toEqual(coded('NOT_FOUND'));
      expect(await stores.procedural.prune({ maxFrequency: 2, scope: 'a' })).toBe(1);
      expect((await stores.procedural.top('a')).map((p) => p.key)).toEqual(['z']);
      expect((await stores.procedural.top('b')).map((p) => p.key)).toEqual(['y']);
      expect(await stores.procedural.prune({ maxFrequency: 1 })).toBe(0);
    });

    it('prune by olderThan deletes what was last seen before that instant', async () => {
      const stores = fresh();
      const old = await stores.procedural.record('s', 'old', 'v');
      await sleep(5);
      const recent = await stores.procedural.record('s', 'recent', 'v');
      expect(await stores.procedural.prune({ olderThan: new Date(Date.now() - 3_600_000) })).toBe(0);
      expect(await stores.procedural.prune({ olderThan: old.lastSeen })).toBe(0); // not before itself
      expect(await stores.procedural.prune({ olderThan: recent.lastSeen })).toBe(1);
      expect(await failure(stores.procedural.get('s', 'old', 'v'))).toEqual(coded('NOT_FOUND'));
      expect((await stores.procedural.get('s', 'recent', 'v')).frequency).toBe(1);
    });

    it('prune takes an olderThan far in the past or the future (years 1 BC and 10000)', async () => {
      const stores = fresh();
      await stores.procedural.record('s', 'k', 'v');
      // toISOString() writes these as -000001-01-01T… and +010000-01-01T….
      const bc = new Date('-000001-01-01T00:00:00.000Z');
      const far = new Date('+010000-01-01T00:00:00.000Z');
      // What the call returned, or how it failed.
      const outcome = (call: Promise<number>) => call.catch((error: unknown) => failure(Promise.reject(error)));
      expect.soft(await outcome(stores.procedural.prune({ olderThan: bc })), 'year 1 BC').toBe(0);
      expect.soft(await outcome(stores.procedural.prune({ olderThan: far })), 'year 10000').toBe(1);
    });

    it('prune with both conditions deletes only what matches both, and a scope narrows it', async () => {
      const stores = fresh();
      await stores.procedural.record('a', 'rare', 'v');
      for (let i = 0; i < 3; i++) await stores.procedural.record('a', 'common', 'v');
      await stores.procedural.record('b', 'rare', 'v');
      const future = new Date(Date.now() + 3_600_000);
      expect(await stores.procedural.prune({ olderThan: future, maxFrequency: 1, scope: 'a' })).toBe(1);
      expect((await stores.procedural.get('b', 'rare', 'v')).frequency).toBe(1);
      expect(await stores.procedural.prune({ olderThan: future, maxFrequency: 1 })).toBe(1);
      expect((await stores.procedural.get('a', 'common', 'v')).frequency).toBe(3);
      expect(await stores.procedural.prune({ olderThan: future, scope: 'nowhere' })).toBe(0);
      expect(await stores.procedural.prune({ olderThan: future })).toBe(1);
      expect(await stores.procedural.top('a')).toEqual([]);
    });

    it('prune refuses to run without olderThan or maxFrequency, and bad options, deleting nothing', async () => {
      const stores = fresh();
      await stores.procedural.record('s', 'k', 'v');
      const cases: [unknown, string][] = [
        [undefined, 'options'],
        [null, 'options'],
        ['all', 'options'],
        [{}, 'options'],
        [{ scope: 's' }, 'options'],
        [{ olderThan: undefined, maxFrequency: undefined }, 'options'],
        [{ olderThan: 'yesterday' }, 'olderThan'],
        [{ olderThan: Date.now() }, 'olderThan'],
        [{ olderThan: new Date(NaN) }, 'olderThan'],
        [{ olderThan: null }, 'olderThan'],
        [{ maxFrequency: 0 }, 'maxFrequency'],
        [{ maxFrequency: -1 }, 'maxFrequency'],
        [{ maxFrequency: 1.5 }, 'maxFrequency'],
        [{ maxFrequency: '1' }, 'maxFrequency'],
        [{ maxFrequency: 5, scope: '' }, 'scope'],
        [{ maxFrequency: 5, scope: 5 }, 'scope'],
        [{ maxFrequency: 5, scope: 'a\0' }, 'scope'],
        [{ maxFrequency: 5, key: 'k' }, 'key'],
      ];
      for (const [options, field] of cases) {
        expect
          .soft(await failure(stores.procedural.prune(options as never)), JSON.stringify(options))
          .toEqual(invalid(field));
      }
      expect((await stores.procedural.get('s', 'k', 'v')).frequency).toBe(1);
    });

    it('record and get refuse a bad scope, key or value; record writes nothing', async () => {
      const stores = fresh();
      const cases: [string, unknown, unknown, unknown][] = [
        ...BAD_TEXTS.map(([label, bad]): [string, unknown, unknown, unknown] => [`scope ${label}`, bad, 'k', 'v']),
        ...BAD_TEXTS.map(([label, bad]): [string, unknown, unknown, unknown] => [`key ${label}`, 's', bad, 'v']),
        ...BAD_TEXTS.map(([label, bad]): [string, unknown, unknown, unknown] => [`value ${label}`, 's', 'k', bad]),
        ['scope empty', '', 'k', 'v'],
        ['scope 513 bytes', 's'.repeat(513), 'k', 'v'],
        ['scope 514 bytes of two-byte characters', 'é'.repeat(257), 'k', 'v'],
        ['key empty', 's', '', 'v'],
      ];
      for (const [label, scope, key, value] of cases) {
        const field = label.split(' ')[0]!;
        expect
          .soft(
            await failure(stores.procedural.record(scope as never, key as never, value as never)),
            `record ${label}`,
          )
          .toEqual(invalid(field));
        expect
          .soft(await failure(stores.procedural.get(scope as never, key as never, value as never)), `get ${label}`)
          .toEqual(invalid(field));
      }
      expect(await stores.procedural.top('s')).toEqual([]);
      expect(await stores.procedural.prune({ maxFrequency: Number.MAX_SAFE_INTEGER })).toBe(0);
    });

    it('record refuses bad options, writing nothing', async () => {
      const stores = fresh();
      const cases: [unknown, string][] = [
        [null, 'options'],
        ['meta', 'options'],
        [{ frequency: 3 }, 'frequency'],
        [{ metadata: [] }, 'metadata'],
        [{ metadata: null }, 'metadata'],
        [{ metadata: 'x' }, 'metadata'],
      ];
      for (const [options, field] of cases) {
        expect
          .soft(await failure(stores.procedural.record('s', 'k', 'v', options as never)), JSON.stringify(options))
          .toEqual(invalid(field));
      }
      expect(await failure(stores.procedural.get('s', 'k', 'v'))).toEqual(coded('NOT_FOUND'));
    });
  });
});
