import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, toPage } from '../../../../src/storage/kit/cursor.js';
import { cursorTimestamp, identifier, integer, uuid } from '../../../../src/storage/values/fields.js';

const ID = '5f0c2a9e-8d1b-4c3a-9e2f-1a2b3c4d5e6f';

describe('keyset cursors', () => {
  it('round-trip the key of the list they belong to', () => {
    const cursor = encodeCursor('sessions:*', ['2026-12-02T01:59:27.123456000Z', ID]);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor('sessions.list', 'sessions:*', cursor, [cursorTimestamp(), uuid()])).toEqual([
      '2026-12-02T01:59:27.123456000Z',
      ID,
    ]);
    expect(decodeCursor('sessions.list', 'sessions:*', undefined, [cursorTimestamp(), uuid()])).toBeUndefined();
  });

  it.each([
    ['another list', encodeCursor('workflows:*', ['a'])],
    ['another filter of the same list', encodeCursor('workflows:running', ['a'])],
    ['the wrong number of key parts', encodeCursor('workflows:pending', ['a', 'b'])],
    ['not base64 JSON', 'not a cursor!'],
    ['JSON that is not a key', Buffer.from('{"a":1}').toString('base64url')],
    ['a key part that is an object', Buffer.from('["workflows:pending",{}]').toString('base64url')],
    ['a key part the list would refuse (a NUL in an id)', encodeCursor('workflows:pending', ['a\0b'])],
    ['a key part of the wrong type', encodeCursor('workflows:pending', [7])],
  ])('refuse a cursor of %s with INVALID_INPUT naming the cursor', (_why, cursor) => {
    expect(() => decodeCursor('workflows.list', 'workflows:pending', cursor, [identifier()])).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT', details: expect.objectContaining({ field: 'cursor' }) }),
    );
  });

  it('toPage keeps limit rows and points after the last one when more follow', () => {
    expect(toPage('l', [1, 2, 3], 3, (n) => [n])).toEqual({ items: [1, 2, 3], nextCursor: undefined });
    const page = toPage('l', [1, 2, 3, 4], 3, (n) => [n]);
    expect(page.items).toEqual([1, 2, 3]);
    expect(decodeCursor('x', 'l', page.nextCursor, [integer(0, 9)])).toEqual([3]);
  });
});
