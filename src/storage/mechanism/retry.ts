import { setTimeout as sleep } from 'node:timers/promises';
import { StorageError } from './errors.js';

/** How many times a call that failed with a serialization failure or a deadlock is made in all. */
export const MAX_ATTEMPTS = 4;

/**
 * Runs `attempt` until it succeeds or fails with something else than a retryable
 * {@link StorageError} (SQLSTATE 40001 or 40P01), at most {@link MAX_ATTEMPTS} times, waiting a
 * little longer each time with jitter so that the transactions that collided do not collide again.
 * Only for work that is safe to repeat: a whole transaction that was rolled back.
 */
export async function withRetries<T>(attempt: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof StorageError) || !error.retryable || tries >= MAX_ATTEMPTS) throw error;
      await sleep(Math.random() * 5 * 2 ** tries);
    }
  }
}
