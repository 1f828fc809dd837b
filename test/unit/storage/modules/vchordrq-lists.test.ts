/**
 * The lists maintenance gives a VectorChord index for its table's size, and when it rebuilds one
 * (pure functions; the rebuild itself runs in the VectorChord CI job, test/integration/vectorchord.test.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  nextVchordrqLists,
  VCHORDRQ_LISTS_FROM,
  vchordrqLists,
  vchordrqOptions,
} from '../../../../src/storage/modules/vectors/vchordrq-indexes.js';

describe('vchordrqLists (VectorChord’s guide)', () => {
  it.each([
    [0, []],
    [99_999, []],
    [100_000, [200]],
    [1_000_000, [2000]],
    [1_999_999, [4000]],
    [2_000_000, [5657]], // 4√n from 2·10^6
    [49_000_000, [28_000]],
    [50_000_000, [56_569]], // 8√n from 5·10^7
    [1e12, [8_000_000]],
    [1e15, [2 ** 24]], // VectorChord's limit
    [Number.NaN, []],
  ])('%d rows → %j', (rows, lists) => {
    expect(vchordrqLists(rows)).toEqual(lists);
  });
});

describe('nextVchordrqLists: rebuild only when off by a factor of two', () => {
  it('divides an index that has no lists once the table reaches the threshold', () => {
    expect(nextVchordrqLists(VCHORDRQ_LISTS_FROM - 1, [])).toBeUndefined();
    expect(nextVchordrqLists(VCHORDRQ_LISTS_FROM, [])).toEqual([200]);
  });

  it('keeps lists within a factor of two, and rebuilds outside it either way', () => {
    expect(nextVchordrqLists(200_000, [400])).toBeUndefined();
    expect(nextVchordrqLists(399_000, [400])).toBeUndefined(); // 798 < 800
    expect(nextVchordrqLists(400_000, [400])).toEqual([800]);
    expect(nextVchordrqLists(100_000, [400])).toEqual([200]); // 2 × 200 ≤ 400
    expect(nextVchordrqLists(101_000, [400])).toBeUndefined(); // 202
  });

  it('goes back to no lists only under half the threshold (no rebuilds back and forth)', () => {
    expect(nextVchordrqLists(VCHORDRQ_LISTS_FROM - 1, [200])).toBeUndefined();
    expect(nextVchordrqLists(VCHORDRQ_LISTS_FROM / 2, [200])).toBeUndefined();
    expect(nextVchordrqLists(VCHORDRQ_LISTS_FROM / 2 - 1, [200])).toEqual([]);
  });

  it('leaves an index built by hand: several levels, or lists it cannot tell (an external build)', () => {
    expect(nextVchordrqLists(10_000_000, [64, 4096])).toBeUndefined();
    expect(nextVchordrqLists(10_000_000, null)).toBeUndefined();
  });
});

describe('vchordrqOptions', () => {
  it('writes the TOML VectorChord reads: cosine embeddings, the lists under [build.internal]', () => {
    expect(vchordrqOptions([2000])).toBe(
      'residual_quantization = false\n[build.internal]\nlists = [2000]\nspherical_centroids = true',
    );
    expect(vchordrqOptions([])).toContain('lists = []');
  });
});
