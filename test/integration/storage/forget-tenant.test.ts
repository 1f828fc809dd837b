/**
 * Forgetting a tenant (`storage.forgetTenant`): every row of the tenant in every module is gone,
 * other tenants' rows are byte for byte as they were (checksums over every tenant table, read
 * with SQL that bypasses RLS), the receipt counts each table and never holds the tenant id, a
 * run stopped halfway leaves the tenant's writes refused (TENANT_ERASING) until a second run of
 * the same request finishes it. On PostgreSQL 18 and 15 as the application role (the erasure runs
 * over `migration_url`, the owner's), and on PGlite in memory with the vector track.
 */
import { createHash, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Storage } from '../../../src/storage/open-storage.js';
import type { StorageModule } from '../../../src/storage/mechanism/module.js';
import { MODULES, type TenantStores } from '../../../src/storage/registry.js';
import { failure, invalid } from '../../helpers/outcome.js';
import { CORE_TENANT_TABLES, VECTOR_TENANT_TABLES } from '../../helpers/rows.js';
import { openStorageTarget, type OpenedStorage } from '../../helpers/storage.js';

const TARGETS = ['postgres', 'postgres-15', 'memory'] as const;

/** Rows of every built module for one tenant; returns how many each table got. */
async function seed(stores: TenantStores, vectors: boolean): Promise<Record<string, number>> {
  for (let n = 0; n < 5; n++) await stores.agentState.put(`agent-${n}`, { n, secret: 'x'.repeat(n) });
  for (let n = 0; n < 3; n++) await stores.workflows.create({ workflowId: `wf-${n}`, name: 'flow' });
  await stores.workflows.transition('wf-0', 'running');
  for (let n = 0; n < 4; n++) await stores.sessions.create({ metadata: { n } });
  for (let n = 0; n < 6; n++) await stores.procedural.record('scope', `key-${n % 3}`, `value-${n}`);
  const counts: Record<string, number> = {
    'agentState.agent_state': 5,
    'workflows.workflow_states': 3,
    'sessions.sessions': 4,
    'procedural.procedural_memory': 6,
  };
  if (vectors) {
    const vector = (seedValue: number, dims: number) => Array.from({ length: dims }, (_, i) => Math.sin(seedValue + i));
    await stores.vectors.upsert([
      { scope: 's', vector: vector(1, 384) },
      { scope: 's', vector: vector(2, 384) },
      { scope: 's', vector: vector(3, 768) },
    ]);
    counts['vectors.vector_embeddings_384'] = 2;
    counts['vectors.vector_embeddings_768'] = 1;
  }
  return counts;
}

describe.each(TARGETS)('forgetTenant on %s', (target) => {
  let opened: OpenedStorage;
  let storage: Storage;
  /** SQL as a login that bypasses RLS (the superuser), to look behind the library. */
  let admin: (text: string, values?: unknown[]) => Promise<pg.QueryResult>;
  let closeAdmin: () => Promise<void> = async () => undefined;
  const vectors = target === 'memory';
  const tables = [...CORE_TENANT_TABLES, ...(vectors ? VECTOR_TENANT_TABLES : [])];

  beforeAll(async () => {
    opened = await openStorageTarget(target, {}, { ownerUrl: true });
    storage = opened.storage;
    if (opened.adminUrl) {
      const client = new pg.Client({ connectionString: opened.adminUrl });
      await client.connect();
      admin = (text, values) => client.query(text, values);
      closeAdmin = () => client.end();
    } else {
      admin = (text, values) => storage.db.query(text, values);
    }
  });
  afterAll(async () => {
    await closeAdmin();
    await opened?.dispose();
  });

  /** A checksum of every row of every tenant table that is not `tenant`'s. */
  async function othersChecksum(tenant: string): Promise<Record<string, string>> {
    const sums: Record<string, string> = {};
    for (const table of tables) {
      const { rows } = await admin(
        `SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS sum
           FROM llmspell.${table} t WHERE tenant_id <> $1`,
        [tenant],
      );
      sums[table] = `${rows[0].n}:${rows[0].sum}`;
    }
    return sums;
  }

  /** How many rows of `tenant` each tenant table holds, read without RLS. */
  async function rowsOf(tenant: string): Promise<number> {
    let total = 0;
    for (const table of tables) {
      const { rows } = await admin(`SELECT count(*)::int AS n FROM llmspell.${table} WHERE tenant_id = $1`, [tenant]);
      total += rows[0].n as number;
    }
    return total;
  }

  const newTenant = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;

  it('erases every row of the tenant, leaves the others byte for byte, and returns a receipt without the id', async () => {
    const victim = newTenant('victim');
    const expected = await seed(storage.tenant(victim), vectors);
    await seed(storage.tenant(newTenant('other')), vectors);
    await seed(storage.tenant(`${victim}x`), vectors); // an id the victim's is a prefix of
    const before = await othersChecksum(victim);
    expect(await rowsOf(victim)).toBeGreaterThan(0);

    const dry = await storage.forgetTenant(victim, { requestId: 'ticket-1', dryRun: true });
    expect(dry.dryRun).toBe(true);
    expect(await rowsOf(victim)).toBe(Object.values(expected).reduce((a, b) => a + b));

    const receipt = await storage.forgetTenant(victim, { requestId: 'ticket-1', batchRows: 2 });
    expect(await rowsOf(victim)).toBe(0);
    expect(await othersChecksum(victim)).toEqual(before);
    const counted = Object.fromEntries(
      receipt.tables.filter((t) => t.rows > 0).map((t) => [`${t.module}.${t.table}`, t.rows]),
    );
    expect(counted).toEqual(expected);
    expect(
      Object.fromEntries(dry.tables.filter((t) => t.rows > 0).map((t) => [`${t.module}.${t.table}`, t.rows])),
    ).toEqual(expected);
    expect(receipt).toMatchObject({
      requestId: 'ticket-1',
      dryRun: false,
      tenantHash: `sha256:${createHash('sha256').update(victim).digest('hex')}`,
    });
    expect(receipt.finishedAt.getTime()).toBeGreaterThanOrEqual(receipt.startedAt.getTime());
    expect(JSON.stringify(receipt)).not.toContain(victim);

    // The stores see nothing; the tenant may be used again afterwards; a second run removes nothing.
    const stores = storage.tenant(victim);
    expect((await stores.agentState.list()).items).toEqual([]);
    expect(await failure(stores.workflows.get('wf-0'))).toMatchObject({ code: 'NOT_FOUND' });
    if (vectors) expect(await stores.vectors.count()).toBe(0);
    const again = await storage.forgetTenant(victim, { requestId: 'ticket-2' });
    expect(again.tables.every((t) => t.rows === 0)).toBe(true);
    await stores.agentState.put('reborn', { n: 1 });
    expect((await stores.agentState.get('reborn')).version).toBe(1);
  });

  it("refuses the tenant's writes while it runs (TENANT_ERASING), in this process and others, after the writes in flight", async () => {
    const victim = newTenant('running');
    const other = newTenant('bystander');
    await seed(storage.tenant(victim), vectors);
    const stores = storage.tenant(victim);
    const erasing = { code: 'TENANT_ERASING' };
    if (target === 'memory') {
      // PGlite is this process's alone: the storage refuses the writes itself from the first moment.
      const forgetting = storage.forgetTenant(victim, { requestId: 'running', batchRows: 1 });
      expect(await failure(stores.agentState.put('new', { n: 1 }))).toMatchObject(erasing);
      expect(await failure(stores.sessions.create())).toMatchObject(erasing);
      expect(await failure(storage.transaction(victim, (tx) => tx.procedural.record('s', 'k', 'v')))).toMatchObject(
        erasing,
      );
      const vector = [1, ...Array<number>(383).fill(0)];
      expect(await failure(stores.vectors.upsert([{ scope: 's', vector }]))).toMatchObject(erasing);
      await storage.tenant(other).agentState.put('free', { n: 1 });
      await forgetting;
    } else {
      // Another process's write in flight: its first row took the tenant's lock before the erasure began.
      const client = new pg.Client({ connectionString: opened.adminUrl });
      await client.connect();
      try {
        await client.query(`BEGIN; SET LOCAL app.current_tenant_id = ${pg.escapeLiteral(victim)}`);
        await client.query(`INSERT INTO llmspell.agent_state (tenant_id, agent_id, state) VALUES ($1, 'early', '{}')`, [
          victim,
        ]);
        const forgetting = storage.forgetTenant(victim, { requestId: 'running' });
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(await Promise.race([forgetting.then(() => 'finished'), Promise.resolve('waiting')])).toBe('waiting');
        // Meanwhile: refused here, and in a third process, even as a superuser sending raw SQL: the
        // table's CHECK cannot take the lock behind the waiting erasure.
        expect(await failure(stores.agentState.put('new', { n: 1 }))).toMatchObject(erasing);
        expect(await failure(stores.workflows.transition('wf-0', 'paused'))).toMatchObject(erasing);
        const third = new pg.Client({ connectionString: opened.adminUrl });
        await third.connect();
        try {
          await third.query(`BEGIN; SET LOCAL app.current_tenant_id = ${pg.escapeLiteral(victim)}`);
          expect(
            await third.query(`INSERT INTO llmspell.sessions (tenant_id) VALUES ($1)`, [victim]).then(
              () => 'passed',
              (e: { code?: string; constraint?: string }) => `${e.code} ${e.constraint}`,
            ),
          ).toBe('23514 sessions_tenant_writable');
          await third.query('ROLLBACK');
        } finally {
          await third.end();
        }
        // Reads go on, and other tenants write.
        expect((await stores.agentState.get('agent-1')).state).toMatchObject({ n: 1 });
        await storage.tenant(other).agentState.put('free', { n: 1 });
        await client.query(`INSERT INTO llmspell.agent_state (tenant_id, agent_id, state) VALUES ($1, 'late', '{}')`, [
          victim,
        ]);
        await client.query('COMMIT');
        const receipt = await forgetting;
        expect(receipt.tables.find((t) => t.table === 'agent_state')?.rows).toBe(7); // 5 seeded, early, late
      } finally {
        await client.end();
      }
    }
    expect(await rowsOf(victim)).toBe(0);
    expect((await storage.tenant(other).agentState.get('free')).version).toBe(1);
    await stores.agentState.put('after', { n: 1 }); // writable again
  });

  it('a run stopped halfway: only the same request takes it over, and its receipt counts both runs', async () => {
    const victim = newTenant('stopped');
    await seed(storage.tenant(victim), vectors);
    // What a run killed after its first batch leaves: the mark, one row gone and counted.
    await admin(`DELETE FROM llmspell.agent_state WHERE tenant_id = $1 AND agent_id = 'agent-0'`, [victim]);
    await admin(
      `INSERT INTO llmspell.tenant_erasures (tenant_id, request_id, run_token, removed)
       VALUES ($1, 'ticket-9', gen_random_uuid(), '{"agentState.agent_state": 1}')`,
      [victim],
    );
    expect(await failure(storage.forgetTenant(victim, { requestId: 'someone-else' }))).toMatchObject({
      code: 'CONFLICT',
    });
    const receipt = await storage.forgetTenant(victim, { requestId: 'ticket-9' });
    expect(receipt.tables.find((t) => t.table === 'agent_state')!.rows).toBe(5);
    expect(await rowsOf(victim)).toBe(0);
  });

  it('refuses bad input before anything runs', async () => {
    expect(await failure(storage.forgetTenant('acme', {} as never))).toMatchObject(invalid('requestId'));
    expect(await failure(storage.forgetTenant('acme', { requestId: 'r', batchRows: 0 }))).toMatchObject(
      invalid('batchRows'),
    );
    expect(await failure(storage.forgetTenant('bad tenant!', { requestId: 'r' }))).toMatchObject({
      code: 'TENANT_INVALID',
    });
  });
});

describe('forgetTenant without the owner (PostgreSQL 18, no migration_url: the application role)', () => {
  let opened: OpenedStorage;
  beforeAll(async () => {
    opened = await openStorageTarget('postgres');
  });
  afterAll(async () => opened?.dispose());

  it('fails saying the owner is needed, and deletes nothing', async () => {
    const tenant = `no-owner-${randomUUID().slice(0, 8)}`;
    await opened.storage.tenant(tenant).agentState.put('kept', { n: 1 });
    const refused = await opened.storage.forgetTenant(tenant, { requestId: 'r' }).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'DB_QUERY_FAILED' });
    expect((refused as { hint?: string }).hint).toMatch(/migration_url/);
    expect((await opened.storage.tenant(tenant).agentState.get('kept')).version).toBe(1);
  });
});

describe('the erasure covers the schema', () => {
  it('every tenant table of a fully migrated database is declared by exactly one module (tenant_erasures aside)', async () => {
    const opened = await openStorageTarget('memory');
    try {
      const { rows } = await opened.storage.db.query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'llmspell' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
            AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id')
          ORDER BY 1`,
      );
      const declared = MODULES.flatMap(
        (module) => (module as StorageModule).owner?.tables.map((table) => table.name) ?? [],
      );
      expect(new Set(declared).size).toBe(declared.length);
      expect([...declared, 'tenant_erasures'].sort()).toEqual(rows.map((row) => row.name));
    } finally {
      await opened.dispose();
    }
  });
});
