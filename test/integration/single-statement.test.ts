/**
 * withTenant's one-statement transactions (on a pipelining PostgreSQL connection the prologue, the
 * statement and COMMIT go out together: one round trip), and a transaction whose callback caught a
 * failed statement and returned: PostgreSQL answers its COMMIT with ROLLBACK, which must not pass
 * for success. On PostgreSQL 18 and PGlite (which does not pipeline: same results, more round trips).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/types.js';
import { migratedPglite, migratedPostgres, type MigratedDatabase } from '../helpers/schema.js';

const READ = 'SELECT state FROM llmspell.agent_state WHERE tenant_id = $1 AND agent_id = $2';
const WRITE = `INSERT INTO llmspell.agent_state (tenant_id, agent_id, state) VALUES ($1, $2, '{"n": 1}')`;

describe.each(['postgres', 'pglite'] as const)('one-statement tenant transactions (%s)', (kind) => {
  let m: MigratedDatabase;
  let db: Database;
  beforeAll(async () => {
    m = kind === 'postgres' ? await migratedPostgres({ pool_size: 1 }) : await migratedPglite();
    db = m.db;
  });
  afterAll(() => m?.dispose());

  it('commits the one statement, and refuses a second', async () => {
    await db.withTenant('tenant-a', (tx) => tx.query(WRITE, ['tenant-a', 'one']), { singleStatement: true });
    const { rows } = await db.withTenant('tenant-a', (tx) => tx.query(READ, ['tenant-a', 'one']), {
      singleStatement: true,
    });
    expect(rows).toEqual([{ state: { n: 1 } }]);
    await expect(
      db.withTenant(
        'tenant-a',
        async (tx) => {
          await tx.query(WRITE, ['tenant-a', 'two']);
          await tx.query(WRITE, ['tenant-a', 'three']);
        },
        { singleStatement: true },
      ),
    ).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  it('fails with the statement error, writes nothing, and the connection serves the next call', async () => {
    const before = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await expect(
      db.withTenant('tenant-a', (tx) => tx.query(WRITE, ['tenant-a', 'one']), { singleStatement: true }),
    ).rejects.toMatchObject({ code: 'DB_QUERY_FAILED', fields: { sqlstate: '23505' } });
    await expect(
      db.withTenant('tenant-a', (tx) => tx.query(WRITE, ['tenant-b', 'x']), { singleStatement: true }),
    ).rejects.toMatchObject({ fields: { sqlstate: '42501' } });
    const after = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    expect(after.rows[0]!.pid).toBe(before.rows[0]!.pid); // pool_size 1: the same connection, kept
    const { rows } = await db.withTenant('tenant-a', (tx) =>
      tx.query("SELECT current_setting('app.current_tenant_id') AS t"),
    );
    expect(rows).toEqual([{ t: 'tenant-a' }]);
  });

  it('does not report success when the callback caught a failed statement and returned', async () => {
    await expect(
      db.withTenant('tenant-a', async (tx) => {
        await tx.query(WRITE, ['tenant-a', 'kept?']);
        await tx.query(WRITE, ['tenant-a', 'one']).catch(() => undefined); // duplicate key, swallowed
        return 'done';
      }),
    ).rejects.toMatchObject({ code: 'TRANSACTION_ENDED' });
    const { rows } = await db.withTenant('tenant-a', (tx) => tx.query(READ, ['tenant-a', 'kept?']));
    expect(rows).toEqual([]);
  });
});
