/**
 * A statement cancelled by `statement_timeout` on PostgreSQL 18: `DB_QUERY_FAILED` with SQLSTATE
 * 57014 that names the setting that cancelled it (`storage.postgres.statement_timeout_secs`) and
 * what to do; a statement cancelled on request (the same SQLSTATE) is not described as a timeout.
 * Through the database handle and through a storage call waiting for a lock.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import type { Database } from '../../src/db/types.js';
import { LlmspellError } from '../../src/errors.js';
import { migratedPostgres, type MigratedDatabase } from '../helpers/schema.js';
import { testSettings } from '../helpers/settings.js';
import { openStorageTarget, type OpenedStorage } from '../helpers/storage.js';

const KEY = 'storage.postgres.statement_timeout_secs';

/** What `promise` rejected with (the test fails if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<LlmspellError> {
  const error = await promise.then(
    () => new Error('expected a rejection, but the call resolved'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LlmspellError);
  return error as LlmspellError;
}

/** Runs `sql` on a superuser connection of `url` of its own. */
async function asAdmin<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe('a statement past statement_timeout_secs (1 s)', () => {
  let m: MigratedDatabase;
  let db: Database;
  beforeAll(async () => {
    m = await migratedPostgres();
    await m.db.close();
    db = await openDatabase(
      testSettings({
        backend: 'postgres',
        url: m.url!,
        postgres: { pool_size: 2, statement_timeout_secs: 1, idle_in_transaction_timeout_secs: 0 },
      }),
    );
  });
  afterAll(async () => {
    await db?.close();
    await m?.dispose();
  });

  it.each(['withTenant', 'withTransaction'] as const)(
    'in %s: DB_QUERY_FAILED, SQLSTATE 57014, naming the key and what to do',
    async (scope) => {
      const work = (tx: { query: (sql: string) => Promise<unknown> }) => tx.query('SELECT pg_sleep(3)');
      const started = Date.now();
      const error = await rejection(
        scope === 'withTenant' ? db.withTenant('tenant-a', work) : db.withTransaction(work),
      );
      expect(Date.now() - started).toBeLessThan(2_900);
      expect(error).toMatchObject({ code: 'DB_QUERY_FAILED', fields: { sqlstate: '57014' } });
      expect(error.message).toContain(`${KEY} (1 s)`);
      expect(error.hint).toContain(KEY);
      // The connection is fine afterwards.
      expect((await db.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    },
  );

  it('a statement cancelled on request (pg_cancel_backend) is not called a timeout', async () => {
    const error = await rejection(
      db.withTenant('tenant-a', async (tx) => {
        const { rows } = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        const sleeping = tx.query('SELECT pg_sleep(0.8)').then(
          () => undefined,
          (e: unknown) => e,
        );
        await sleep(200);
        await asAdmin(m.url!, (admin) => admin.query('SELECT pg_cancel_backend($1)', [rows[0]!.pid]));
        const failure = await sleeping;
        if (failure) throw failure; // the driver's own error, as a callback that does not catch it passes it on
      }),
    );
    expect(error).toMatchObject({ code: 'DB_QUERY_FAILED', fields: { sqlstate: '57014' } });
    expect(error.message).toMatch(/user request/);
    expect(error.message).not.toMatch(/statement_timeout|timeout/);
    expect(error.hint ?? '').not.toMatch(/statement_timeout/);
  });
});

describe('a storage call waiting past statement_timeout_secs (1 s) for a lock', () => {
  let opened: OpenedStorage;
  beforeAll(async () => {
    opened = await openStorageTarget('postgres', { statement_timeout_secs: 1 });
  });
  afterAll(() => opened?.dispose());

  it('is DB_QUERY_FAILED, SQLSTATE 57014, naming the key; nothing was written', async () => {
    const agents = opened.storage.tenant('tenant-timeout').agentState;
    await asAdmin(opened.adminUrl!, async (admin) => {
      await admin.query('BEGIN');
      await admin.query('LOCK TABLE llmspell.agent_state IN ACCESS EXCLUSIVE MODE');
      try {
        const error = await rejection(agents.put('planner', { step: 1 }));
        expect(error).toMatchObject({ code: 'DB_QUERY_FAILED', fields: { sqlstate: '57014' } });
        expect(error.message).toContain(`${KEY} (1 s)`);
        expect(error.hint).toContain(KEY);
      } finally {
        await admin.query('ROLLBACK');
      }
    });
    expect(await rejection(agents.get('planner'))).toMatchObject({ code: 'NOT_FOUND' });
  });
});
