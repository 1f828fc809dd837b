import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import type { Database, Queryable } from '../../src/db/types.js';
import { LlmspellError } from '../../src/errors.js';
import { createTestPglite } from '../helpers/pglite.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { testSettings } from '../helpers/settings.js';
import { codeOf } from '../helpers/outcome.js';

const FIXTURE = new URL('../fixtures/tenant-notes.sql', import.meta.url);

interface Target {
  db: Database;
  dispose(): Promise<void>;
}

const targets: Record<'postgres' | 'memory' | 'embedded', () => Promise<Target>> = {
  async postgres() {
    const database: TestDatabase = await createTestDatabase();
    const db = await openDatabase(testSettings({ backend: 'postgres', url: database.url, postgres: { pool_size: 2 } }));
    return {
      db,
      async dispose() {
        await db.close();
        await database.drop();
      },
    };
  },
  memory: () => createTestPglite('memory'),
  embedded: () => createTestPglite('embedded'),
};

async function tenantOf(client: Queryable): Promise<string | null> {
  const { rows } = await client.query<{ tenant: string | null }>(
    "SELECT current_setting('app.current_tenant_id', true) AS tenant",
  );
  return rows[0]!.tenant;
}

describe.each(Object.keys(targets) as Array<keyof typeof targets>)('%s driver', (kind) => {
  let target: Target;
  let db: Database;

  beforeAll(async () => {
    target = await targets[kind]();
    db = target.db;
    await db.query(await readFile(FIXTURE, 'utf8'));
  });
  afterAll(() => target?.dispose());

  it('connects and runs SQL with parameters', async () => {
    const { rows } = await db.query<{ sum: number; version: number }>(
      "SELECT $1::int + $2::int AS sum, current_setting('server_version_num')::int AS version",
      [40, 2],
    );
    expect(rows[0]!.sum).toBe(42);
    expect(rows[0]!.version).toBeGreaterThanOrEqual(180000);
    expect(db.kind).toBe(kind);
  });

  it('keeps SQLSTATE, detail and position of a failed statement', async () => {
    const error = await db.query('SELECT * FROM llmspell_test.no_such_table').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'DB_QUERY_FAILED', fields: { sqlstate: '42P01' } });
    expect((error as { fields: { position?: number } }).fields.position).toBeGreaterThan(0);
  });

  it('sets the tenant inside the transaction only, as the application role', async () => {
    const inside = await db.withTenant('tenant-a', async (tx) => {
      const { rows } = await tx.query<{ role: string }>('SELECT current_user AS role');
      return { tenant: await tenantOf(tx), role: rows[0]!.role };
    });
    expect(inside).toEqual({ tenant: 'tenant-a', role: 'llmspell_app' });
    const after = await db.withClient((client) => tenantOf(client));
    expect(after === null || after === '').toBe(true);
  });

  it('isolates tenants: each sees and changes only its own rows', async () => {
    await db.withTenant('tenant-a', (tx) =>
      tx.query("INSERT INTO llmspell_test.notes (tenant_id, body) VALUES ('tenant-a', 'a1')"),
    );
    await db.withTenant('tenant-b', (tx) =>
      tx.query("INSERT INTO llmspell_test.notes (tenant_id, body) VALUES ('tenant-b', 'b1')"),
    );
    const seenByB = await db.withTenant(
      'tenant-b',
      async (tx) => (await tx.query<{ body: string }>('SELECT body FROM llmspell_test.notes')).rows,
    );
    expect(seenByB.map((r) => r.body)).toEqual(['b1']);
    const deletedByB = await db.withTenant('tenant-b', (tx) =>
      tx.query("DELETE FROM llmspell_test.notes WHERE tenant_id = 'tenant-a'"),
    );
    expect(deletedByB.rowCount).toBe(0);
    const crossInsert = await db
      .withTenant('tenant-b', (tx) =>
        tx.query("INSERT INTO llmspell_test.notes (tenant_id, body) VALUES ('tenant-a', 'forged')"),
      )
      .catch((e: unknown) => e);
    expect(crossInsert).toMatchObject({
      code: 'DB_QUERY_FAILED',
      fields: { sqlstate: '42501' },
      hint: expect.any(String),
    });
    const seenByA = await db.withTenant(
      'tenant-a',
      async (tx) => (await tx.query<{ body: string }>('SELECT body FROM llmspell_test.notes ORDER BY id')).rows,
    );
    expect(seenByA.map((r) => r.body)).toEqual(['a1']);
  });

  it('without a tenant, the application role sees no rows and cannot write', async () => {
    const count = await db.withTransaction(async (tx) => {
      await tx.query('SET LOCAL ROLE llmspell_app');
      return (await tx.query<{ n: string }>('SELECT count(*) AS n FROM llmspell_test.notes')).rows[0]!.n;
    });
    expect(Number(count)).toBe(0);
    const write = await codeOf(
      db.withTransaction(async (tx) => {
        await tx.query('SET LOCAL ROLE llmspell_app');
        await tx.query("INSERT INTO llmspell_test.notes (tenant_id, body) VALUES ('tenant-a', 'x')");
      }),
    );
    expect(write).toBe('DB_QUERY_FAILED');
  });

  it('rolls back everything when the callback throws', async () => {
    const boom = new Error('boom');
    await expect(
      db.withTenant('tenant-c', async (tx) => {
        await tx.query("INSERT INTO llmspell_test.notes (tenant_id, body) VALUES ('tenant-c', 'lost')");
        throw boom;
      }),
    ).rejects.toBe(boom);
    const rows = await db.withTenant(
      'tenant-c',
      async (tx) => (await tx.query('SELECT 1 FROM llmspell_test.notes')).rowCount,
    );
    expect(rows).toBe(0);
  });

  it('keeps each tenant context to its own transaction under interleaved use', async () => {
    const tenants = ['tenant-x', 'tenant-y', 'tenant-z'];
    for (const tenant of tenants) {
      await db.withTenant(tenant, (tx) =>
        tx.query('INSERT INTO llmspell_test.notes (tenant_id, body) VALUES ($1, $1)', [tenant]),
      );
    }
    // 24 transactions for 3 tenants over a pool of 2 (one session for PGlite), each yielding between statements.
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) => {
        const tenant = tenants[i % tenants.length]!;
        return db.withTenant(tenant, async (tx) => {
          const before = await tenantOf(tx);
          await sleep(i % 3);
          const { rows } = await tx.query<{ body: string }>('SELECT body FROM llmspell_test.notes');
          await sleep((i + 1) % 2);
          const after = await tenantOf(tx);
          return { tenant, before, after, bodies: rows.map((r) => r.body) };
        });
      }),
    );
    for (const result of results) {
      expect(result.before).toBe(result.tenant);
      expect(result.after).toBe(result.tenant);
      expect(result.bodies).toEqual([result.tenant]);
    }
    expect(db.stats().waiting).toBe(0);
  });

  it('refuses an invalid tenant id before any SQL runs', async () => {
    for (const bad of ["x'; DROP TABLE llmspell_test.notes; --", 'Tenant_A', 'ab', '', 'a'.repeat(256)]) {
      expect(await codeOf(db.withTenant(bad, (tx) => tx.query('SELECT 1')))).toBe('TENANT_INVALID');
    }
    const { rows } = await db.query("SELECT to_regclass('llmspell_test.notes') IS NOT NULL AS present");
    expect(rows[0]).toEqual({ present: true });
  });
});

describe('postgres driver: pool settings and connection failures', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database?.drop());

  it('applies pool_size, application_name and the acquire timeout', async () => {
    const db = await openDatabase(
      testSettings({ backend: 'postgres', url: database.url, postgres: { pool_size: 1, pool_timeout_secs: 1 } }),
    );
    try {
      const { rows } = await db.query<{ application_name: string }>('SHOW application_name');
      expect(rows[0]!.application_name).toBe('llmspell');
      expect(db.stats().max).toBe(1);
      let release!: () => void;
      const held = db.withClient(() => new Promise<void>((resolve) => (release = resolve)));
      await sleep(50);
      expect(await codeOf(db.query('SELECT 1'))).toBe('DB_POOL_TIMEOUT');
      release();
      await held;
      expect((await db.query('SELECT 1 AS one')).rows[0]).toEqual({ one: 1 });
    } finally {
      await db.close();
    }
  });

  it('tenant context never leaks to the next user of a pooled connection', async () => {
    const db = await openDatabase(testSettings({ backend: 'postgres', url: database.url, postgres: { pool_size: 1 } }));
    try {
      await db.withTenant('tenant-a', (tx) => tx.query('SELECT 1'));
      const after = await db.withClient(async (client) => ({
        tenant: await tenantOf(client),
        role: (await client.query<{ r: string }>('SELECT current_user AS r')).rows[0]!.r,
      }));
      expect(after.tenant === null || after.tenant === '').toBe(true);
      expect(after.role).not.toBe('llmspell_app');
    } finally {
      await db.close();
    }
  });

  it('maps a refused connection, bad credentials and a missing database to clear codes without the password', async () => {
    const url = new URL(database.url);
    const attempts: Array<[string, string]> = [
      [`postgresql://${url.username}:${url.password}@127.0.0.1:1/${database.name}`, 'DB_UNREACHABLE'],
      [`postgresql://${url.username}:wrong-secret-xyz@${url.host}/${database.name}`, 'DB_AUTH_FAILED'],
      [`postgresql://${url.username}:${url.password}@${url.host}/llmspell_no_such_db`, 'DB_NOT_FOUND'],
    ];
    for (const [target, code] of attempts) {
      const db = await openDatabase(
        testSettings({ backend: 'postgres', url: target, postgres: { pool_timeout_secs: 5 } }),
      );
      try {
        const error = await db.query('SELECT 1').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(LlmspellError);
        expect((error as LlmspellError).code).toBe(code);
        const text = `${(error as LlmspellError).message}\n${(error as LlmspellError).hint ?? ''}`;
        expect(text).not.toContain(url.password);
        expect(text).not.toContain('wrong-secret-xyz');
        expect((error as LlmspellError).hint).toBeTruthy();
      } finally {
        await db.close();
      }
    }
  });

  it('refuses a missing or malformed URL as a configuration error', async () => {
    await expect(openDatabase(testSettings({ backend: 'postgres' }))).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(openDatabase(testSettings({ backend: 'postgres', url: 'mysql://u:p@h/d' }))).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
    });
  });
});
