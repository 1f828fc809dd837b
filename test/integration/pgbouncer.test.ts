import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import type { Database, Queryable } from '../../src/db/types.js';
import { findPgBouncer, pgBouncerFor, type PgBouncer } from '../helpers/pgbouncer.js';
import { migratedPostgres, type MigratedDatabase } from '../helpers/schema.js';
import { testSettings } from '../helpers/settings.js';

const binary = await findPgBouncer();
if (!('path' in binary)) console.warn(`skipped: ${binary.reason}`);

async function tenantOf(tx: Queryable): Promise<string | null> {
  return (await tx.query<{ t: string | null }>("SELECT current_setting('app.current_tenant_id', true) AS t")).rows[0]!
    .t;
}

/**
 * Transaction pooling: PgBouncer hands each transaction whatever server connection is free. The
 * tenant context is `SET LOCAL`, so it must never reach the next transaction on that connection.
 */
describe.skipIf(!('path' in binary))('behind PgBouncer in transaction mode', () => {
  let m: MigratedDatabase;
  let bouncer: PgBouncer;
  let url: string;
  let db: Database;

  beforeAll(async () => {
    m = await migratedPostgres();
    ({ bouncer, url } = await pgBouncerFor(m.url!, { defaultPoolSize: 2 }));
    db = await openDatabase(testSettings({ backend: 'postgres', url, postgres: { pool_size: 8 } }));
  });
  afterAll(async () => {
    await db?.close();
    await bouncer?.stop();
    await m?.dispose();
  });

  it('multiplexes many client connections over two server connections', async () => {
    const pids = await Promise.all(
      Array.from({ length: 16 }, () =>
        db.withTransaction(async (tx) => {
          await sleep(5);
          return (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        }),
      ),
    );
    expect(new Set(pids).size).toBeLessThanOrEqual(2);
    expect(db.stats().total).toBeGreaterThan(2);
  });

  it('keeps every tenant to its own transaction and rows under interleaved use', async () => {
    const tenants = ['tenant-a', 'tenant-b', 'tenant-c', 'tenant-d'];
    for (const tenant of tenants) {
      await db.withTenant(tenant, (tx) =>
        tx.query('INSERT INTO llmspell.agent_state (tenant_id, agent_id) VALUES ($1, $1)', [tenant]),
      );
    }
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => {
        const tenant = tenants[i % tenants.length]!;
        return db.withTenant(tenant, async (tx) => {
          const before = await tenantOf(tx);
          await sleep(i % 4);
          const agents = (await tx.query<{ agent_id: string }>('SELECT agent_id FROM llmspell.agent_state')).rows.map(
            (r) => r.agent_id,
          );
          const after = await tenantOf(tx);
          return { tenant, before, after, agents };
        });
      }),
    );
    for (const r of results)
      expect(r).toEqual({ tenant: r.tenant, before: r.tenant, after: r.tenant, agents: [r.tenant] });
    const leftover = await Promise.all(Array.from({ length: 8 }, () => db.withClient(tenantOf)));
    for (const t of leftover) expect(t === null || t === '').toBe(true);
  });

  it('shows why: a session-level SET would leak to another client through the pool', async () => {
    const a = new pg.Client({ connectionString: url });
    const b = new pg.Client({ connectionString: url });
    await a.connect();
    await b.connect();
    try {
      // Two open transactions hold both server connections; a plain SET in each outlives its COMMIT.
      await a.query('BEGIN');
      await b.query('BEGIN');
      await a.query("SET app.current_tenant_id = 'leaked'");
      await b.query("SET app.current_tenant_id = 'leaked'");
      expect((await a.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid).not.toBe(
        (await b.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid,
      );
      await a.query('COMMIT');
      await b.query('COMMIT');
      const seen = await db.withClient(tenantOf);
      expect(seen).toBe('leaked');
    } finally {
      await a.end();
      await b.end();
    }
  });
});
