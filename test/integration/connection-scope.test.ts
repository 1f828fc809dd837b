/**
 * The connection scope of `withClient` / `withTransaction` / `withTenant` on real servers:
 * a connection the server drops mid-call is a typed error and never a crash; a handle kept past
 * its callback, a nested call and a statement that ends the transaction are refused; every
 * application transaction carries its own statement and idle timeouts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SourceDatabase } from '../../src/db/database.js';
import { openDatabase } from '../../src/db/open.js';
import { createPostgresSource } from '../../src/db/postgres-source.js';
import { tenantIdValidator } from '../../src/db/tenant.js';
import type { Database, Queryable } from '../../src/db/types.js';
import { LlmspellError } from '../../src/errors.js';
import { codeOf } from '../helpers/outcome.js';
import { findPgBouncer, pgBouncerFor, type PgBouncer } from '../helpers/pgbouncer.js';
import { createTestPglite } from '../helpers/pglite.js';
import { migratedPglite, migratedPostgres, type MigratedDatabase } from '../helpers/schema.js';
import { testSettings } from '../helpers/settings.js';

const NOTES = `CREATE TABLE IF NOT EXISTS llmspell.scope_notes (
  tenant_id text NOT NULL DEFAULT current_setting('app.current_tenant_id', true), body text NOT NULL);
ALTER TABLE llmspell.scope_notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE llmspell.scope_notes FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON llmspell.scope_notes;
CREATE POLICY tenant_isolation ON llmspell.scope_notes
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));
GRANT SELECT, INSERT ON llmspell.scope_notes TO llmspell_app;`;

/** Terminates a backend from a separate superuser connection. */
async function terminate(adminUrl: string, pid: number): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
  } finally {
    await admin.end();
  }
}

const pidOf = async (tx: Queryable) => (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
const bodies = async (tx: Queryable) =>
  (await tx.query<{ body: string }>('SELECT body FROM llmspell.scope_notes ORDER BY body')).rows.map((r) => r.body);

describe('a connection the server drops while it is lent', () => {
  let m: MigratedDatabase;
  beforeAll(async () => {
    m = await migratedPostgres();
  });
  afterAll(() => m?.dispose());

  const open = (postgres: Record<string, unknown> = {}) =>
    openDatabase(testSettings({ backend: 'postgres', url: m.url!, postgres: { pool_size: 2, ...postgres } }));

  it('is DB_CONNECTION_LOST with a hint, is discarded, and the next call works', async () => {
    const db = await open();
    try {
      const error = await db
        .withTenant('tenant-a', async (tx) => {
          await terminate(m.url!, await pidOf(tx));
          await sleep(100); // the callback awaits something else (an LLM call) meanwhile
          return tx.query('SELECT 1');
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LlmspellError);
      expect((error as LlmspellError).code).toBe('DB_CONNECTION_LOST');
      expect((error as LlmspellError).hint).toMatch(/Nothing of the transaction was committed/);
      expect((await db.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      expect(db.stats().total).toBeLessThanOrEqual(2);
    } finally {
      await db.close();
    }
  });

  it('is DB_CONNECTION_LOST when the callback returns without touching the dead connection', async () => {
    const db = await open();
    try {
      const code = await codeOf(
        db.withTransaction(async (tx) => {
          await terminate(m.url!, await pidOf(tx));
          await sleep(100);
          return 'done';
        }),
      );
      expect(code).toBe('DB_CONNECTION_LOST');
      expect((await db.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await db.close();
    }
  });

  it('ends a transaction left idle past idle_in_transaction_timeout_secs, and says which key', async () => {
    const db = await open({ idle_in_transaction_timeout_secs: 1 });
    try {
      const error = await db
        .withTransaction(async (tx) => {
          await tx.query('SELECT 1');
          await sleep(1_600);
          return tx.query('SELECT 2');
        })
        .catch((e: unknown) => e);
      expect((error as LlmspellError).code).toBe('DB_CONNECTION_LOST');
      expect((error as LlmspellError).hint).toMatch(/idle_in_transaction_timeout_secs/);
      expect((await db.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await db.close();
    }
  });

  it('cancels a statement past statement_timeout_secs, inside application transactions only', async () => {
    const db = await open({ statement_timeout_secs: 1, idle_in_transaction_timeout_secs: 0 });
    try {
      const inside = await db.withTransaction(async (tx) => ({
        statement: (await tx.query<{ s: string }>("SELECT current_setting('statement_timeout') AS s")).rows[0]!.s,
        idle: (await tx.query<{ s: string }>("SELECT current_setting('idle_in_transaction_session_timeout') AS s"))
          .rows[0]!.s,
      }));
      expect(inside).toEqual({ statement: '1s', idle: '0' });
      const error = await db.withTenant('tenant-a', (tx) => tx.query('SELECT pg_sleep(3)')).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'DB_QUERY_FAILED', fields: { sqlstate: '57014' } });
      // Outside a transaction the server's own setting applies (SET LOCAL ended with the transaction).
      const after = await db.withClient(
        async (c) => (await c.query<{ s: string }>("SELECT current_setting('statement_timeout') AS s")).rows[0]!.s,
      );
      expect(after).toBe('0');
    } finally {
      await db.close();
    }
  });
});

const bouncerBinary = await findPgBouncer();
if (!('path' in bouncerBinary)) console.warn(`skipped (PgBouncer tests): ${bouncerBinary.reason}`);

describe.skipIf(!('path' in bouncerBinary))('a server connection dropped behind PgBouncer (transaction mode)', () => {
  let m: MigratedDatabase;
  let bouncer: PgBouncer;
  let url: string;
  let db: Database;
  beforeAll(async () => {
    m = await migratedPostgres();
    ({ bouncer, url } = await pgBouncerFor(m.url!, { defaultPoolSize: 1 }));
    db = await openDatabase(testSettings({ backend: 'postgres', url, postgres: { pool_size: 2 } }));
  });
  afterAll(async () => {
    await db?.close();
    await bouncer?.stop();
    await m?.dispose();
  });

  it('is DB_CONNECTION_LOST, and the next call gets a new server connection', async () => {
    const error = await db
      .withTenant('tenant-a', async (tx) => {
        await terminate(m.url!, await pidOf(tx));
        await sleep(200);
        return tx.query('SELECT 1');
      })
      .catch((e: unknown) => e);
    expect((error as LlmspellError).code).toBe('DB_CONNECTION_LOST');
    expect((await db.withTenant('tenant-a', (tx) => tx.query('SELECT 1 AS one'))).rows).toEqual([{ one: 1 }]);
  });
});

const targets = {
  postgres: () => migratedPostgres(),
  pglite: () => migratedPglite(),
} satisfies Record<string, () => Promise<MigratedDatabase>>;

describe.each(Object.keys(targets) as Array<keyof typeof targets>)('the scope of a handle on %s', (kind) => {
  let m: MigratedDatabase;
  let db: Database;
  beforeAll(async () => {
    m = await targets[kind]();
    db = m.db;
    await db.query(NOTES);
  });
  afterAll(() => m?.dispose());

  it('refuses a handle kept past its callback, even while another tenant holds the connection', async () => {
    let kept: Queryable | undefined;
    await db.withTenant('tenant-a', async (tx) => {
      kept = tx;
      await tx.query("INSERT INTO llmspell.scope_notes (body) VALUES ('a1')");
    });
    expect(await codeOf(kept!.query('SELECT 1'))).toBe('SCOPE_CLOSED');
    const seenByB = await db.withTenant('tenant-b', async (tx) => {
      // The kept handle's connection may be this very one now: its use must not land in tenant b.
      expect(await codeOf(kept!.query("INSERT INTO llmspell.scope_notes (body) VALUES ('forged')"))).toBe(
        'SCOPE_CLOSED',
      );
      return bodies(tx);
    });
    expect(seenByB).toEqual([]);
    expect(await db.withTenant('tenant-a', bodies)).toEqual(['a1']);
  });

  it('refuses a query issued by the callback that was not awaited before it returned', async () => {
    let late: Promise<unknown> | undefined;
    await db.withTransaction(async (tx) => {
      late = sleep(20).then(() => tx.query('SELECT 1'));
    });
    expect(await codeOf(late!)).toBe('SCOPE_CLOSED');
  });

  it('refuses the database itself inside a callback (nested call), without hanging', async () => {
    const nested = await Promise.race([
      Promise.all([
        codeOf(db.withTenant('tenant-a', () => db.query('SELECT 1'))),
        codeOf(db.withTenant('tenant-a', () => db.withTenant('tenant-b', (tx) => tx.query('SELECT 1')))),
        codeOf(db.withClient(() => db.withTransaction((tx) => tx.query('SELECT 1')))),
      ]),
      sleep(10_000).then(() => 'hung'),
    ]);
    expect(nested).toEqual(['SCOPE_NESTED', 'SCOPE_NESTED', 'SCOPE_NESTED']);
    // Work started inside a scope and running after it is not nested any more.
    const after = await db.withClient(async () => sleep(10).then(() => 'later'));
    expect(await db.query('SELECT 1 AS one').then((r) => r.rows)).toEqual([{ one: 1 }]);
    expect(after).toBe('later');
  });

  it.each([
    ['COMMIT'],
    ['ROLLBACK'],
    ['END'],
    ['COMMIT AND CHAIN'],
    ['ROLLBACK AND CHAIN'],
    ['COMMIT; SELECT 1'],
    ['COMMIT; SELECT no_such_column'],
    ['COMMIT; SET ROLE llmspell_app'],
  ])('fails the call when the callback sends %s, and runs nothing after it', async (statement) => {
    await db.withTenant('tenant-b', (tx) => tx.query("INSERT INTO llmspell.scope_notes (body) VALUES ('b1')"));
    let afterwards: string[] | string = 'not run';
    const error = await db
      .withTenant('tenant-a', async (tx) => {
        await tx.query(statement).catch(() => undefined); // a caller that swallows the error
        afterwards = await bodies(tx).catch((e: unknown) => (e as LlmspellError).code);
        return 'returned';
      })
      .catch((e: unknown) => e);
    expect((error as LlmspellError).code).toBe('TRANSACTION_ENDED');
    expect(afterwards).toBe('TRANSACTION_ENDED');
    // The next user of the connection (PGlite: the same session) starts clean.
    const next = await db.withClient(async (c) => {
      const { rows } = await c.query<{ role: string; tenant: string | null }>(
        "SELECT current_user AS role, nullif(current_setting('app.current_tenant_id', true), '') AS tenant",
      );
      return rows[0];
    });
    expect(next?.tenant ?? null).toBeNull();
    expect(next?.role).not.toBe('llmspell_app');
    expect(await db.withTenant('tenant-a', (tx) => tx.query('SELECT 1 AS one')).then((r) => r.rows)).toEqual([
      { one: 1 },
    ]);
  });

  it('lets savepoints be rolled back inside the tenant', async () => {
    const seen = await db.withTenant('tenant-c', async (tx) => {
      await tx.query("INSERT INTO llmspell.scope_notes (body) VALUES ('c1')");
      await tx.query('SAVEPOINT s');
      await tx.query("INSERT INTO llmspell.scope_notes (body) VALUES ('c2')");
      await tx.query('ROLLBACK TO SAVEPOINT s');
      return bodies(tx);
    });
    expect(seen).toEqual(['c1']);
  });

  it('rolls back a transaction a withClient callback left open', async () => {
    await db.withClient(async (c) => {
      await c.query('BEGIN');
      await c.query('SET LOCAL statement_timeout = 12345');
    });
    const status = await db.withClient(
      async (c) => (await c.query<{ s: string }>("SELECT current_setting('statement_timeout') AS s")).rows[0]!.s,
    );
    expect(status).not.toBe('12345ms');
  });
});

describe('a library user who forgot to migrate', () => {
  it('gets DB_ROLE_MISSING with the hint to migrate when the application role does not exist', async () => {
    const fresh = await createTestPglite('memory');
    try {
      const error = await fresh.db.withTenant('tenant-a', (tx) => tx.query('SELECT 1')).catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: 'DB_ROLE_MISSING',
        hint: expect.stringMatching(/llmspell database migrate/),
      });
    } finally {
      await fresh.dispose();
    }
  });
});

describe('the transaction prologue sent statement by statement (the Citus path)', () => {
  it('sets the same timeouts, role and tenant as the one-string prologue', async () => {
    const m = await migratedPostgres({ statement_timeout_secs: 7, idle_in_transaction_timeout_secs: 9 });
    const pgSettings = m.settings.storage.postgres;
    const separate = new SourceDatabase(createPostgresSource(pgSettings), {
      validate: tenantIdValidator(pgSettings.tenant_id_pattern),
      enforceAppRole: true,
      statementTimeoutMs: 7_000,
      idleInTransactionTimeoutMs: 9_000,
      separatePrologue: true,
    });
    try {
      const read = (db: Database) =>
        db.withTenant('tenant-s', async (tx) => {
          const { rows } = await tx.query(
            `SELECT current_user AS role, current_setting('app.current_tenant_id') AS tenant,
                    current_setting('statement_timeout') AS statement, current_setting('idle_in_transaction_session_timeout') AS idle`,
          );
          return rows[0];
        });
      const expected = { role: 'llmspell_app', tenant: 'tenant-s', statement: '7s', idle: '9s' };
      expect(await read(separate)).toEqual(expected);
      expect(await read(m.db)).toEqual(expected);
    } finally {
      await separate.close();
      await m.dispose();
    }
  });
});
