import { describe, expect, it } from 'vitest';
import { BATCH_LIMITS, columns, splitBatch, type BatchLimits } from '../../../../src/storage/mechanism/batches.js';
import { StorageError } from '../../../../src/storage/mechanism/errors.js';

const LIMITS: BatchLimits = { statementRows: 3, statementBytes: 100, callBytes: 1000 };
const row = (group: string, bytes: number, n: number) => ({ group, bytes, n });
type Row = ReturnType<typeof row>;
const measure = (r: Row) => ({ group: r.group, bytes: r.bytes });
const shape = (chunks: { group: string; rows: readonly Row[] }[]) =>
  chunks.map((c) => [c.group, c.rows.map((r) => r.n)]);

describe('splitBatch', () => {
  it('cuts by rows per statement, keeping input order within each group, groups in order of first appearance', () => {
    const rows = [row('a', 1, 0), row('b', 1, 1), row('a', 1, 2), row('a', 1, 3), row('a', 1, 4), row('b', 1, 5)];
    expect(shape(splitBatch('op', 'rows', rows, measure, LIMITS))).toEqual([
      ['a', [0, 2, 3]],
      ['b', [1, 5]],
      ['a', [4]],
    ]);
  });

  it('cuts by bytes per statement; a row larger than a statement goes alone', () => {
    const rows = [row('a', 60, 0), row('a', 50, 1), row('a', 150, 2), row('a', 10, 3)];
    expect(shape(splitBatch('op', 'rows', rows, measure, LIMITS))).toEqual([
      ['a', [0]],
      ['a', [1]],
      ['a', [2]],
      ['a', [3]],
    ]);
  });

  it('refuses a call over its bytes as INVALID_INPUT naming the field and the row, reading no row past it', () => {
    let made = 0;
    function* rows() {
      for (let n = 0; n < 100; n++) {
        made++;
        yield row('a', 90, n);
      }
    }
    const attempt = () => splitBatch('things.put', 'entries', rows(), measure, LIMITS, '; pass less');
    expect(attempt).toThrow(StorageError);
    try {
      attempt();
    } catch (error) {
      expect((error as StorageError).code).toBe('INVALID_INPUT');
      expect((error as StorageError).field).toBe('entries');
      expect((error as StorageError).message).toMatch(/at entries\.11\).*pass less/);
    }
    expect(made).toBe(24); // 12 rows read by each attempt: the 12th (1080 bytes) is over
  });

  it('has the defaults the vector upsert was measured with, and an empty batch has no chunk', () => {
    expect(BATCH_LIMITS).toEqual({ statementRows: 1000, statementBytes: 4 * 2 ** 20, callBytes: 256 * 2 ** 20 });
    expect(splitBatch('op', 'rows', [], measure)).toEqual([]);
  });
});

describe('columns', () => {
  it('lays rows out as one array per column, row by row', () => {
    const rows = [row('a', 1, 0), row('b', 2, 1)];
    expect(columns(rows, { groups: (r) => r.group, sizes: (r) => r.bytes })).toEqual({
      groups: ['a', 'b'],
      sizes: [1, 2],
    });
  });
});
