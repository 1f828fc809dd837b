/**
 * Row-level security of every tenant table of the real schema, as the application role, on
 * PostgreSQL 18 and on PGlite (which alone has the vector track): a tenant's row is invisible,
 * unchangeable and undeletable for another tenant; without a tenant nothing is visible or
 * writable; a row for another tenant cannot be written; and the tables' own rules (append-only
 * event log, API-key rotation, entity history, procedural-memory uniqueness) hold for the app role.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import type { Database, Queryable } from '../../src/db/types.js';
import { createLoginRole, type LoginRole } from '../helpers/postgres.js';
import {
  CORE_TENANT_TABLES,
  sampleRow,
  VECTOR_TENANT_TABLES,
  type SampleRow,
  type Statement,
  type TenantTable,
} from '../helpers/rows.js';
import { testMajors } from '../helpers/postgres.js';
import { migratedPglite, migratedPostgres, type MigratedDatabase } from '../helpers/schema.js';
import { testSettings } from '../helpers/settings.js';
import { sqlstateOf } from '../helpers/outcome.js';

const TENANT_A = 'tenant-a';
const TENANT_B = 'tenant-b';

/** What the application role may do to each table, per the GRANTs of its migration. */
interface TableRules {
  /** A harmless SET clause using a column the role may update, or (when it may not) any column. */
  set: string;
  /** Has the app role UPDATE on that column? Otherwise UPDATE fails with 42501. */
  update: boolean;
  /** Has the app role DELETE? Otherwise DELETE fails with 42501. */
  delete: boolean;
  /** Has the app role no INSERT (the owner writes the table)? Then the sample row is written as the owner, the tenant set. */
  ownerInserts?: true;
}

const VECTOR_RULES: TableRules = { set: 'scope = scope', update: true, delete: true };

const RULES: Record<TenantTable, TableRules> = {
  entity_identities: { set: 'created_at = created_at', update: false, delete: false },
  entities: { set: 'transaction_time = transaction_time', update: true, delete: false },
  relationships: { set: 'transaction_time = transaction_time', update: true, delete: false },
  procedural_memory: { set: 'frequency = frequency + 1', update: true, delete: true },
  agent_state: { set: 'version = version + 1', update: true, delete: true },
  workflow_states: { set: 'current_step = current_step + 1', update: true, delete: true },
  sessions: { set: 'last_accessed_at = now()', update: true, delete: true },
  artifact_content: { set: 'created_at = now()', update: false, delete: true },
  artifact_chunks: { set: 'data = data', update: false, delete: true },
  artifacts: { set: 'name = name', update: true, delete: true },
  event_log: { set: 'payload = payload', update: false, delete: false },
  event_streams: { set: 'version = version + 1', update: true, delete: false },
  event_consumers: { set: 'global_position = global_position + 1', update: true, delete: true },
  hook_history: { set: 'result = result', update: false, delete: true },
  api_keys: { set: "status = 'revoked', revoked_at = now()", update: true, delete: false },
  tenant_erasures: { set: 'removed = removed', update: false, delete: false, ownerInserts: true },
  vector_embeddings_384: VECTOR_RULES,
  vector_embeddings_768: VECTOR_RULES,
  vector_embeddings_1536: VECTOR_RULES,
  vector_embeddings_3072: VECTOR_RULES,
};

/** The SQLSTATE a database call failed with, or undefined when it succeeded. */
const run = (client: Queryable, statement: Statement) => client.query(statement.text, statement.values);

async function count(client: Queryable, table: TenantTable, where?: Statement): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM llmspell.${table}${where ? ` WHERE ${where.text}` : ''}`,
    where?.values ?? [],
  );
  return rows[0]!.n;
}

/** Runs `fn` as the application role with no tenant set. */
function withoutTenant<T>(db: Database, fn: (client: Queryable) => Promise<T>): Promise<T> {
  return db.withTransaction(async (client) => {
    await client.query('SET LOCAL ROLE llmspell_app');
    return fn(client);
  });
}

/** Every PostgreSQL major of the run (15 to 18; "postgres" is 18), then PGlite, which alone has the vector track. */
const targets: Record<string, () => Promise<MigratedDatabase>> = {
  ...Object.fromEntries(
    testMajors().map((major) => [
      major === 18 ? 'postgres' : `postgres ${major}`,
      () => migratedPostgres({}, { major }),
    ]),
  ),
  pglite: () => migratedPglite(),
};

describe.each(Object.keys(targets) as Array<keyof typeof targets>)('tenant isolation on %s', (kind) => {
  const tables: TenantTable[] =
    kind === 'pglite' ? [...CORE_TENANT_TABLES, ...VECTOR_TENANT_TABLES] : [...CORE_TENANT_TABLES];
  let m: MigratedDatabase;
  let db: Database;
  /** postgres only: a NOSUPERUSER LOGIN role in llmspell_app, and a Database connected as it. */
  let login: LoginRole | undefined;
  let loginDb: Database | undefined;

  beforeAll(async () => {
    m = await targets[kind]!();
    db = m.db;
    if (kind !== 'pglite') {
      login = await createLoginRole(
        m.url!,
        `llmspell_it_rls_${randomBytes(4).toString('hex')}`,
        randomBytes(12).toString('hex'),
        { memberOf: ['llmspell_app'] },
      );
      loginDb = await openDatabase(testSettings({ backend: 'postgres', url: login.url, postgres: { pool_size: 2 } }));
    }
  });
  afterAll(async () => {
    await loginDb?.close();
    if (login) await db.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(login.name)}`);
    await m?.dispose();
  });

  it('has the vector track exactly where pgvector is available', async () => {
    const { rows } = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'llmspell' AND tablename LIKE 'vector_embeddings_%'",
    );
    expect(rows[0]!.n).toBe(kind === 'pglite' ? 4 : 0);
  });

  describe.each(tables)('%s', (table) => {
    const rules = RULES[table];
    let row: SampleRow;

    beforeAll(async () => {
      row = sampleRow(table, TENANT_A);
      const seed = async (tx: Queryable) => {
        for (const statement of row.prerequisites) await run(tx, statement);
        await run(tx, row.insert);
      };
      if (rules.ownerInserts) {
        // The owner is under the forced policies too: it sets the tenant as a writer would.
        await db.withTransaction(async (tx) => {
          await tx.query(`SET LOCAL app.current_tenant_id = '${TENANT_A}'`);
          await seed(tx);
        });
      } else {
        await db.withTenant(TENANT_A, seed);
      }
    });

    it('is invisible to tenant B', async () => {
      const seen = await db.withTenant(TENANT_B, async (tx) => ({
        all: await count(tx, table),
        row: await count(tx, table, row.where),
      }));
      expect(seen).toEqual({ all: 0, row: 0 });
    });

    it(`cannot be updated by tenant B (${rules.update ? 'matches no row' : '42501: no UPDATE privilege'})`, async () => {
      const update = db.withTenant(TENANT_B, (tx) =>
        tx.query(`UPDATE llmspell.${table} SET ${rules.set} WHERE ${row.where.text}`, row.where.values),
      );
      if (rules.update) {
        expect((await update).rowCount).toBe(0);
      } else {
        expect(await sqlstateOf(update)).toBe('42501');
      }
      // The unconditional form too: no other tenant's row is in reach.
      const all = db.withTenant(TENANT_B, (tx) => tx.query(`UPDATE llmspell.${table} SET ${rules.set}`));
      if (rules.update) {
        expect((await all).rowCount).toBe(0);
      } else {
        expect(await sqlstateOf(all)).toBe('42501');
      }
    });

    it(`cannot be deleted by tenant B (${rules.delete ? 'matches no row' : '42501: no DELETE privilege'})`, async () => {
      const del = db.withTenant(TENANT_B, (tx) =>
        tx.query(`DELETE FROM llmspell.${table} WHERE ${row.where.text}`, row.where.values),
      );
      if (rules.delete) {
        expect((await del).rowCount).toBe(0);
        expect((await db.withTenant(TENANT_B, (tx) => tx.query(`DELETE FROM llmspell.${table}`))).rowCount).toBe(0);
      } else {
        expect(await sqlstateOf(del)).toBe('42501');
      }
    });

    it('without a tenant: SELECT sees no row and INSERT is refused (42501)', async () => {
      const seen = await withoutTenant(db, async (tx) => {
        const { rows } = await tx.query<{ role: string; tenant: string | null }>(
          "SELECT current_user AS role, current_setting('app.current_tenant_id', true) AS tenant",
        );
        return { ...rows[0]!, all: await count(tx, table), row: await count(tx, table, row.where) };
      });
      expect(seen.role).toBe('llmspell_app');
      expect(seen.tenant ?? '').toBe('');
      expect({ all: seen.all, row: seen.row }).toEqual({ all: 0, row: 0 });

      const fresh = sampleRow(table, TENANT_A);
      expect(await sqlstateOf(withoutTenant(db, (tx) => run(tx, fresh.insert)))).toBe('42501');
      // An empty tenant id would match the empty setting left by an earlier SET LOCAL: CHECK (tenant_id <> '') refuses it.
      const empty = sampleRow(table, '');
      expect(['23514', '42501']).toContain(await sqlstateOf(withoutTenant(db, (tx) => run(tx, empty.insert))));
    });

    it("tenant B cannot insert a row for tenant A (42501, row-level security's WITH CHECK)", async () => {
      const fresh = sampleRow(table, TENANT_A);
      expect(await sqlstateOf(db.withTenant(TENANT_B, (tx) => run(tx, fresh.insert)))).toBe('42501');
    });

    it('tenant A still sees exactly its row', async () => {
      const seen = await db.withTenant(TENANT_A, async (tx) => ({
        all: await count(tx, table),
        row: await count(tx, table, row.where),
      }));
      // Tables are visited in order, so the samples that later need a session or content have not run yet.
      expect(seen).toEqual({ all: 1, row: 1 });
    });

    // PGlite has one built-in superuser and no logins: only PostgreSQL can show this.
    if (kind !== 'pglite')
      it('holds the same for a NOSUPERUSER LOGIN role that is a member of llmspell_app', async () => {
        const ldb = loginDb!;
        const { rows } = await ldb.query<{ who: string; rolsuper: boolean; rolbypassrls: boolean }>(
          'SELECT session_user AS who, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = session_user',
        );
        expect(rows[0]).toEqual({ who: login!.name, rolsuper: false, rolbypassrls: false });

        const asB = await ldb.withTenant(TENANT_B, async (tx) => ({
          all: await count(tx, table),
          row: await count(tx, table, row.where),
        }));
        expect(asB).toEqual({ all: 0, row: 0 });
        const asA = await ldb.withTenant(TENANT_A, (tx) => count(tx, table, row.where));
        expect(asA).toBe(1);
        // Its own (inherited) privileges, no SET ROLE and no tenant: still nothing.
        expect(await count(ldb, table)).toBe(0);
        const fresh = sampleRow(table, TENANT_A);
        expect(await sqlstateOf(ldb.withTenant(TENANT_B, (tx) => run(tx, fresh.insert)))).toBe('42501');
      });
  });

  describe('event_log is append-only for the application role', () => {
    const tenant = 'tenant-log';
    let row: SampleRow;

    beforeAll(async () => {
      row = sampleRow('event_log', tenant);
      await db.withTenant(tenant, (tx) => run(tx, row.insert));
    });

    it('refuses UPDATE, DELETE and TRUNCATE of its own events (42501)', async () => {
      expect(
        await sqlstateOf(
          db.withTenant(tenant, (tx) =>
            tx.query(`UPDATE llmspell.event_log SET payload = '{}' WHERE ${row.where.text}`, row.where.values),
          ),
        ),
      ).toBe('42501');
      expect(
        await sqlstateOf(
          db.withTenant(tenant, (tx) =>
            tx.query(`DELETE FROM llmspell.event_log WHERE ${row.where.text}`, row.where.values),
          ),
        ),
      ).toBe('42501');
      expect(await sqlstateOf(db.withTenant(tenant, (tx) => tx.query('TRUNCATE llmspell.event_log')))).toBe('42501');
      expect(await db.withTenant(tenant, (tx) => count(tx, 'event_log', row.where))).toBe(1);
    });

    it('refuses reading a partition directly (42501), the default one and the current one', async () => {
      const current = await db.withTenant(tenant, async (tx) => {
        const { rows } = await tx.query<{ partition: string }>(
          `SELECT tableoid::regclass::text AS partition FROM llmspell.event_log WHERE ${row.where.text}`,
          row.where.values,
        );
        return rows[0]!.partition;
      });
      expect(current).toMatch(/^llmspell\.event_log_\d{8}$/);
      for (const partition of ['llmspell.event_log_default', current]) {
        expect(await sqlstateOf(db.withTenant(tenant, (tx) => tx.query(`SELECT count(*) FROM ${partition}`)))).toBe(
          '42501',
        );
        expect(
          await sqlstateOf(
            db.withTenant(tenant, (tx) =>
              tx.query(`INSERT INTO ${partition} (tenant_id, event_type) VALUES ($1, 'direct')`, [tenant]),
            ),
          ),
        ).toBe('42501');
      }
    });

    it('refuses running partition maintenance (42501), which is for the owner', async () => {
      expect(
        await sqlstateOf(
          db.withTenant(tenant, (tx) => tx.query("SELECT * FROM llmspell.ensure_event_partitions('monthly', 1)")),
        ),
      ).toBe('42501');
    });
  });

  it("foreign keys stay inside the tenant: tenant B cannot point at tenant A's content (23503)", async () => {
    const content = sampleRow('artifact_content', TENANT_A);
    await db.withTenant(TENANT_A, (tx) => run(tx, content.insert));
    const hash = content.where.values[0];
    const artifact = {
      text: "INSERT INTO llmspell.artifacts (tenant_id, name, content_hash) VALUES ($1, 'stolen.txt', $2)",
      values: [TENANT_B, hash],
    };
    expect(await sqlstateOf(db.withTenant(TENANT_B, (tx) => run(tx, artifact)))).toBe('23503');
    const chunk = {
      text: "INSERT INTO llmspell.artifact_chunks (tenant_id, content_hash, chunk_index, data) VALUES ($1, $2, 1, '\\x00')",
      values: [TENANT_B, hash],
    };
    expect(await sqlstateOf(db.withTenant(TENANT_B, (tx) => run(tx, chunk)))).toBe('23503');
  });

  describe('api_keys: one active key per (tenant, service), rotated any number of times', () => {
    const tenant = 'tenant-keys';
    const service = 'openai';
    const key = (extra: Record<string, unknown> = {}): Statement => {
      const columns = {
        tenant_id: tenant,
        key_id: randomUUID(),
        service,
        ciphertext: randomBytes(40),
        nonce: randomBytes(12),
        auth_tag: randomBytes(16),
        encryption_key_id: 'test-key',
        key_hint: 'wxyz',
        ...extra,
      };
      const names = Object.keys(columns);
      return {
        text: `INSERT INTO llmspell.api_keys (${names.join(', ')}) VALUES (${names.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING key_id`,
        values: Object.values(columns),
      };
    };
    let first: string;

    it('refuses a second active key for the same service (23505)', async () => {
      first = await db.withTenant(tenant, async (tx) => (await run(tx, key())).rows[0]!.key_id as string);
      expect(await sqlstateOf(db.withTenant(tenant, (tx) => run(tx, key())))).toBe('23505');
      // Another service, or another tenant for the same service, is fine.
      await db.withTenant(tenant, (tx) => run(tx, key({ service: 'anthropic' })));
      await db.withTenant('tenant-keys-2', (tx) => run(tx, key({ tenant_id: 'tenant-keys-2' })));
    });

    it('rotates 5 times in a row, leaving 1 active and 5 rotated keys', async () => {
      let active = first;
      for (let i = 0; i < 5; i++) {
        active = await db.withTenant(tenant, async (tx) => {
          const rotated = await tx.query(
            "UPDATE llmspell.api_keys SET status = 'rotated', rotated_at = now() WHERE key_id = $1 AND status = 'active'",
            [active],
          );
          expect(rotated.rowCount).toBe(1);
          return (await run(tx, key({ replaces_key_id: active }))).rows[0]!.key_id as string;
        });
      }
      const { rows } = await db.withTenant(tenant, (tx) =>
        tx.query<{ status: string; n: number }>(
          'SELECT status, count(*)::int AS n FROM llmspell.api_keys WHERE service = $1 GROUP BY status ORDER BY status',
          [service],
        ),
      );
      expect(rows).toEqual([
        { status: 'active', n: 1 },
        { status: 'rotated', n: 5 },
      ]);
      // The chain from the active key back to the first one is complete.
      const chain = await db.withTenant(tenant, (tx) =>
        tx.query<{ n: number }>(
          `WITH RECURSIVE chain AS (
             SELECT key_id, replaces_key_id FROM llmspell.api_keys WHERE key_id = $1
             UNION ALL SELECT k.key_id, k.replaces_key_id FROM llmspell.api_keys k JOIN chain c ON k.key_id = c.replaces_key_id)
           SELECT count(*)::int AS n FROM chain`,
          [active],
        ),
      );
      expect(chain.rows[0]!.n).toBe(6);
    });

    it('revokes a rotated key and keeps both stamps; an active key carries no stamp (23514)', async () => {
      const stamps = await db.withTenant(tenant, async (tx) => {
        await tx.query("UPDATE llmspell.api_keys SET status = 'revoked', revoked_at = now() WHERE key_id = $1", [
          first,
        ]);
        return (
          await tx.query<{ status: string; rotated: boolean; revoked: boolean }>(
            'SELECT status, rotated_at IS NOT NULL AS rotated, revoked_at IS NOT NULL AS revoked FROM llmspell.api_keys WHERE key_id = $1',
            [first],
          )
        ).rows[0];
      });
      expect(stamps).toEqual({ status: 'revoked', rotated: true, revoked: true });
      expect(
        await sqlstateOf(db.withTenant(tenant, (tx) => run(tx, key({ service: 'stamped', rotated_at: new Date() })))),
      ).toBe('23514');
      expect(
        await sqlstateOf(db.withTenant(tenant, (tx) => run(tx, key({ service: 'unstamped', status: 'rotated' })))),
      ).toBe('23514');
    });

    it('never rewrites key material or deletes a key (42501)', async () => {
      expect(
        await sqlstateOf(
          db.withTenant(tenant, (tx) =>
            tx.query("UPDATE llmspell.api_keys SET ciphertext = '\\x00' WHERE key_id = $1", [first]),
          ),
        ),
      ).toBe('42501');
      expect(
        await sqlstateOf(
          db.withTenant(tenant, (tx) => tx.query('DELETE FROM llmspell.api_keys WHERE key_id = $1', [first])),
        ),
      ).toBe('42501');
    });
  });

  describe('entities keep their history', () => {
    const tenant = 'tenant-history';
    const entityId = randomUUID();
    const version = (name: string): Statement => ({
      text: "INSERT INTO llmspell.entities (tenant_id, entity_id, entity_type, name) VALUES ($1, $2, 'person', $3)",
      values: [tenant, entityId, name],
    });

    it('closes a version (UPDATE transaction_time) and adds the next one', async () => {
      await db.withTenant(tenant, async (tx) => {
        await tx.query('INSERT INTO llmspell.entity_identities (tenant_id, entity_id) VALUES ($1, $2)', [
          tenant,
          entityId,
        ]);
        await run(tx, version('Ada'));
      });
      await db.withTenant(tenant, async (tx) => {
        // The boundary is now(), or 1 µs after the version began if that is later: PGlite's clock
        // ticks in milliseconds, so two transactions can share a now(), and an empty range is refused.
        // (As text: a JS Date keeps milliseconds only, and the boundary may be a microsecond past one.)
        const closed = await tx.query<{ boundary: string }>(
          `UPDATE llmspell.entities SET transaction_time = tstzrange(lower(transaction_time), greatest(now(), lower(transaction_time) + interval '1 microsecond'))
            WHERE entity_id = $1 AND upper(transaction_time) = 'infinity' RETURNING upper(transaction_time)::text AS boundary`,
          [entityId],
        );
        expect(closed.rowCount).toBe(1);
        await tx.query(
          "INSERT INTO llmspell.entities (tenant_id, entity_id, entity_type, name, transaction_time) VALUES ($1, $2, 'person', 'Ada Lovelace', tstzrange($3::timestamptz, 'infinity'))",
          [tenant, entityId, closed.rows[0]!.boundary],
        );
      });
      const { rows } = await db.withTenant(tenant, (tx) =>
        tx.query<{ name: string; current: boolean }>(
          "SELECT name, upper(transaction_time) = 'infinity' AS current FROM llmspell.entities WHERE entity_id = $1 ORDER BY lower(transaction_time)",
          [entityId],
        ),
      );
      expect(rows).toEqual([
        { name: 'Ada', current: false },
        { name: 'Ada Lovelace', current: true },
      ]);
    });

    it('cannot overwrite a version in place (UPDATE name: 42501)', async () => {
      expect(
        await sqlstateOf(
          db.withTenant(tenant, (tx) =>
            tx.query("UPDATE llmspell.entities SET name = 'Grace' WHERE entity_id = $1", [entityId]),
          ),
        ),
      ).toBe('42501');
    });

    it('refuses a second current version overlapping the first (23P01)', async () => {
      expect(await sqlstateOf(db.withTenant(tenant, (tx) => run(tx, version('Countess of Lovelace'))))).toBe('23P01');
      const { rows } = await db.withTenant(tenant, (tx) =>
        tx.query<{ n: number }>('SELECT count(*)::int AS n FROM llmspell.entities WHERE entity_id = $1', [entityId]),
      );
      expect(rows[0]!.n).toBe(2);
    });
  });

  describe('graph identity: versions and edges reference an entity that exists', () => {
    const tenant = 'tenant-graph';
    it('refuses a version or an edge of an entity without identity (23503), in this tenant only', async () => {
      const [known, unknown] = [randomUUID(), randomUUID()];
      await db.withTenant(tenant, (tx) =>
        tx.query('INSERT INTO llmspell.entity_identities (tenant_id, entity_id) VALUES ($1, $2)', [tenant, known]),
      );
      const versionOf = (entity: string) =>
        db.withTenant(tenant, (tx) =>
          tx.query(
            "INSERT INTO llmspell.entities (tenant_id, entity_id, entity_type, name) VALUES ($1, $2, 'x', 'y')",
            [tenant, entity],
          ),
        );
      const edge = (from: string, to: string, as = tenant) =>
        db.withTenant(as, (tx) =>
          tx.query(
            "INSERT INTO llmspell.relationships (tenant_id, relationship_id, from_entity_id, to_entity_id, relationship_type) VALUES ($1, $2, $3, $4, 'knows')",
            [as, randomUUID(), from, to],
          ),
        );
      expect(await sqlstateOf(versionOf(known))).toBeUndefined();
      expect(await sqlstateOf(versionOf(unknown))).toBe('23503');
      expect(await sqlstateOf(edge(known, known))).toBeUndefined();
      expect(await sqlstateOf(edge(known, unknown))).toBe('23503');
      expect(await sqlstateOf(edge(unknown, known))).toBe('23503');
      // Another tenant cannot point at this tenant's entity: the key is (tenant_id, entity_id).
      expect(await sqlstateOf(edge(known, known, 'tenant-graph-other'))).toBe('23503');
    });
  });

  describe('workflow_states: lifecycle rules', () => {
    const tenant = 'tenant-workflows';
    const create = (id: string) =>
      db.withTenant(tenant, (tx) =>
        tx.query("INSERT INTO llmspell.workflow_states (tenant_id, workflow_id, name) VALUES ($1, $2, 'w')", [
          tenant,
          id,
        ]),
      );
    const update = (id: string, set: string) =>
      db.withTenant(tenant, (tx) =>
        tx.query(`UPDATE llmspell.workflow_states SET ${set} WHERE workflow_id = $1`, [id]),
      );

    it.each([['cancelled'], ['failed']])('lets a pending workflow end as %s without ever starting', async (status) => {
      const id = `wf-${status}-${randomUUID()}`;
      await create(id);
      expect(await sqlstateOf(update(id, `status = '${status}', completed_at = now()`))).toBeUndefined();
    });

    it('refuses running, paused or completed without started_at (23514), and starts at version 1', async () => {
      const id = `wf-${randomUUID()}`;
      await create(id);
      for (const status of ['running', 'paused'])
        expect(await sqlstateOf(update(id, `status = '${status}'`))).toBe('23514');
      expect(await sqlstateOf(update(id, "status = 'completed', completed_at = now()"))).toBe('23514');
      const { rows } = await db.withTenant(tenant, (tx) =>
        tx.query<{ version: string }>('SELECT version FROM llmspell.workflow_states WHERE workflow_id = $1', [id]),
      );
      expect(rows).toEqual([{ version: '1' }]);
    });
  });

  describe('procedural_memory', () => {
    it('refuses a scope over 512 bytes with a clear check (23514), not an index-size error', async () => {
      const tenant = 'tenant-procedural-scope';
      const record = (scope: string) =>
        db.withTenant(tenant, (tx) =>
          tx.query(
            "INSERT INTO llmspell.procedural_memory (tenant_id, scope, pattern_key, pattern_value) VALUES ($1, $2, 'k', 'v')",
            [tenant, scope],
          ),
        );
      expect(await sqlstateOf(record('s'.repeat(512)))).toBeUndefined();
      expect(await sqlstateOf(record('s'.repeat(3000)))).toBe('23514');
      expect(await sqlstateOf(record('é'.repeat(257)))).toBe('23514'); // 514 bytes
      expect(await sqlstateOf(record(''))).toBe('23514');
    });

    it('keeps (scope, pattern) unique for a 1 MB pattern_value (23505 on the second insert, no index-size error)', async () => {
      const tenant = 'tenant-patterns';
      const value = randomBytes(512 * 1024).toString('hex');
      expect(value.length).toBe(1024 * 1024);
      const pattern: Statement = {
        text: "INSERT INTO llmspell.procedural_memory (tenant_id, scope, pattern_key, pattern_value) VALUES ($1, 'global', 'tool.sequence', $2)",
        values: [tenant, value],
      };
      await db.withTenant(tenant, (tx) => run(tx, pattern));
      expect(await sqlstateOf(db.withTenant(tenant, (tx) => run(tx, pattern)))).toBe('23505');
      const { rows } = await db.withTenant(tenant, (tx) =>
        tx.query<{ n: number; len: number }>(
          'SELECT count(*)::int AS n, max(length(pattern_value))::int AS len FROM llmspell.procedural_memory',
        ),
      );
      expect(rows[0]).toEqual({ n: 1, len: 1024 * 1024 });
    });

    it('hashes the text itself: backslashes are accepted, and "A" and "\\x41" are different patterns', async () => {
      const tenant = 'tenant-backslash';
      const insert = (value: string) =>
        db.withTenant(tenant, (tx) =>
          tx.query(
            "INSERT INTO llmspell.procedural_memory (tenant_id, scope, pattern_key, pattern_value) VALUES ($1, 's', 'k', $2)",
            [tenant, value],
          ),
        );
      for (const value of ['C:\\Users\\agent', 'A', '\\x41', '\\\\x41']) await insert(value);
      const { rows } = await db.withTenant(tenant, (tx) =>
        tx.query<{ n: number }>('SELECT count(DISTINCT pattern_hash)::int AS n FROM llmspell.procedural_memory'),
      );
      expect(rows[0]).toEqual({ n: 4 });
      expect(await sqlstateOf(insert('\\x41'))).toBe('23505');
    });
  });
});
