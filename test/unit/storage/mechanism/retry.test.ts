import { describe, expect, it } from 'vitest';
import { StorageError } from '../../../../src/storage/mechanism/errors.js';
import { MAX_ATTEMPTS, withRetries } from '../../../../src/storage/mechanism/retry.js';

const retryable = () => new StorageError('CONFLICT', 'deadlock', { sqlstate: '40P01', retryable: true });

describe('withRetries', () => {
  it('runs a call again after a serialization failure or deadlock, until it succeeds', async () => {
    let calls = 0;
    const result = await withRetries(async () => {
      calls++;
      if (calls < 3) throw retryable();
      return 'done';
    });
    expect([result, calls]).toEqual(['done', 3]);
  });

  it(`gives up after ${MAX_ATTEMPTS} attempts with the last error`, async () => {
    let calls = 0;
    await expect(
      withRetries(async () => {
        calls++;
        throw retryable();
      }),
    ).rejects.toMatchObject({ code: 'CONFLICT', details: { retryable: true } });
    expect(calls).toBe(MAX_ATTEMPTS);
  });

  it('never repeats a call that failed otherwise', async () => {
    for (const error of [new StorageError('CONFLICT', 'stale version'), new Error('boom')]) {
      let calls = 0;
      await expect(
        withRetries(async () => {
          calls++;
          throw error;
        }),
      ).rejects.toBe(error);
      expect(calls).toBe(1);
    }
  });
});
