/**
 * Reading past a page (src/storage/mechanism/streaming.ts): page after page of a keyset list,
 * each page a transaction of its own (no connection held between pages), and a cursor stream in
 * one transaction (one snapshot; holds a connection until it ends or is broken off; refused on
 * PGlite's single session). On PostgreSQL 18 and PGlite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/types.js';
import { defineModule, moduleContext, type Runner } from '../../../src/storage/mechanism/module.js';
import { statement } from '../../../src/storage/mechanism/statement.js';
import { itemsOf, pagesOf } from '../../../src/storage/mechanism/streaming.js';
import { TenantTransaction } from '../../../src/storage/mechanism/tenant-transaction.js';
import { column, integer } from '../../../src/storage/values/fields.js';
import { failure } from '../../helpers/outcome.js';
import { migratedPglite, migratedPostgres, type MigratedDatabase } from '../../helpers/schema.js';
import { testSettings } from '../../helpers/settings.js';
import { openStorageTarget, type OpenedStorage } from '../../helpers/storage.js';

const agents = statement({
  name: 'test.agents',
  sql: `SELECT agent_id AS "agentId", 10 / $divisor AS quotient FROM llmspell.agent_state
         WHERE tenant_id = $tenant ORDER BY agent_id`,
  params: { divisor: integer(0, 10) },
  row: { agentId: column.text(), quotient: column.integer() },
});
const testModule = defineModule({ id: 'test', component: 'state', statements: { agents }, create: () => ({}) });

describe.each(['postgres', 'memory'] as const)('pages of a list on %s', (target) => {
  let opened: OpenedStorage;
  beforeAll(async () => {
    opened = await openStorageTarget(target);
  });
  afterAll(async () => opened?.dispose());

  it('walks every page in order, each a transaction of its own: nothing is held between pages', async () => {
    const store = opened.storage.tenant(`pages-${target}`).agentState;
    const ids = Array.from({ length: 10 }, (_, n) => `agent-${String(n).padStart(2, '0')}`);
    for (const id of ids) await store.put(id, { id });
    const sizes: number[] = [];
    const seen: string[] = [];
    for await (const page of pagesOf((cursor) => store.list({ limit: 3, ...(cursor ? { cursor } : {}) }))) {
      sizes.push(page.length);
      seen.push(...page.map((state) => state.agentId));
      // Between pages no connection is lent out, and another call of the same tenant runs at once.
      expect(opened.storage.db.stats().total - opened.storage.db.stats().idle).toBe(0);
      await opened.storage.tenant(`pages-${target}`).agentState.get('agent-00');
    }
    expect(sizes).toEqual([3, 3, 3, 1]);
    expect(seen).toEqual(ids);
    const all: string[] = [];
    for await (const state of itemsOf((cursor) => store.list({ limit: 4, ...(cursor ? { cursor } : {}) }))) {
      all.push(state.agentId);
    }
    expect(all).toEqual(ids);
  });
});

describe.each(['postgres', 'pglite'] as const)('a cursor stream on %s', (kind) => {
  let migrated: MigratedDatabase;
  let db: Database;
  const tenant = 'streamer';
  const runner: Runner = (work, options) =>
    db.withTenant(
      tenant,
      async (client) => {
        const tx = new TenantTransaction(
          client,
          tenant,
          { maxDocumentBytes: 1 << 20 },
          {
            target: db.target,
            singleStatement: options?.singleStatement === true,
            pipelines: db.pipelines,
          },
        );
        try {
          return await work(tx);
        } finally {
          tx.revoke();
        }
      },
      { singleStatement: options?.singleStatement === true, signal: options?.signal },
    );
  const context = () =>
    moduleContext(testModule, tenant, testSettings().storage.postgres, runner, { singleSession: kind === 'pglite' });
  const busy = () => db.stats().total - db.stats().idle;

  beforeAll(async () => {
    migrated = kind === 'pglite' ? await migratedPglite() : await migratedPostgres();
    db = migrated.db;
    for (let n = 0; n < 10; n++) {
      await db.withTenant(tenant, (client) =>
        client.query(`INSERT INTO llmspell.agent_state (tenant_id, agent_id, state) VALUES ($1, $2, '{}')`, [
          tenant,
          `a${n}`,
        ]),
      );
    }
  });
  afterAll(async () => migrated?.dispose());

  if (kind === 'pglite') {
    it('is refused on the single session (USAGE), before any transaction opens', async () => {
      const stream = context().stream(agents, { divisor: 1 });
      expect(await failure(stream[Symbol.asyncIterator]().next())).toMatchObject({ code: 'USAGE' });
    });
    return;
  }

  it('yields the rows in batches from one snapshot, holding one connection until the end', async () => {
    const batches: string[][] = [];
    for await (const batch of context().stream(agents, { divisor: 1 }, { rows: 4 })) {
      batches.push(batch.map((row) => row.agentId));
      expect(busy()).toBe(1);
      if (batches.length === 1) {
        // A row committed after the stream's snapshot is not in it.
        await db.withTenant(tenant, (client) =>
          client.query(`INSERT INTO llmspell.agent_state (tenant_id, agent_id, state) VALUES ($1, 'a5x', '{}')`, [
            tenant,
          ]),
        );
      }
    }
    expect(batches).toEqual([
      ['a0', 'a1', 'a2', 'a3'],
      ['a4', 'a5', 'a6', 'a7'],
      ['a8', 'a9'],
    ]);
    expect(busy()).toBe(0);
  });

  it('aborted by its signal between batches: the next() rejects ABORTED, the transaction ends and the connection comes back', async () => {
    const controller = new AbortController();
    const batches = context().stream(agents, { divisor: 1 }, { rows: 2, signal: controller.signal });
    const iterator = batches[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toHaveLength(2);
    expect(busy()).toBe(1);
    controller.abort();
    expect(await failure(iterator.next())).toMatchObject({ code: 'ABORTED' });
    for (let wait = 0; busy() > 0 && wait < 100; wait++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(busy()).toBe(0);
    expect((await iterator.next()).done).toBe(true);
  });

  it('broken off by the consumer: the transaction ends and the connection comes back', async () => {
    let seen = 0;
    for await (const batch of context().stream(agents, { divisor: 1 }, { rows: 2 })) {
      seen += batch.length;
      break;
    }
    expect(seen).toBe(2);
    expect(busy()).toBe(0);
  });

  it('a fetch that fails rejects the stream with a storage error and releases the connection', async () => {
    const stream = context().stream(agents, { divisor: 0 }, { rows: 3 });
    const error = await failure(
      (async () => {
        for await (const _batch of stream) void _batch;
      })(),
    );
    expect(error).toMatchObject({ code: 'DB_QUERY_FAILED' });
    expect(busy()).toBe(0);
  });

  it('return() right after next(), before the first batch came: it ends, nothing hangs, the connection comes back', async () => {
    const iterator = context().stream(agents, { divisor: 1 }, { rows: 2 })[Symbol.asyncIterator]();
    const first = iterator.next();
    await iterator.return!();
    expect((await first).done).toBe(true);
    expect(busy()).toBe(0);
  });

  it('answers next() calls made at once one after another, never two with the same batch', async () => {
    const iterator = context().stream(agents, { divisor: 1 }, { rows: 3 })[Symbol.asyncIterator]();
    const results = await Promise.all([iterator.next(), iterator.next(), iterator.next()]);
    const ids = results.flatMap((result) => (result.done ? [] : result.value.map((row) => row.agentId)));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(9);
    await iterator.return!();
    expect(busy()).toBe(0);
  });

  it('a consumer that stops asking: the stream ends its transaction after idle_in_transaction_timeout_secs', async () => {
    const settings = testSettings({ postgres: { idle_in_transaction_timeout_secs: 1 } }).storage.postgres;
    const stream = moduleContext(testModule, tenant, settings, runner, { singleSession: false }).stream(
      agents,
      { divisor: 1 },
      { rows: 2 },
    );
    const iterator = stream[Symbol.asyncIterator]();
    expect((await iterator.next()).done).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(busy()).toBe(0);
    expect(await failure(iterator.next())).toMatchObject({ code: 'SCOPE_CLOSED' });
  });

  it.each([0, 1.5, -1, 100_001])('refuses %s rows per fetch before anything runs', async (rows) => {
    expect(() => context().stream(agents, { divisor: 1 }, { rows })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }) as Error,
    );
  });

  it('refuses a statement that writes', async () => {
    const write = statement({
      name: 'test.write',
      sql: `DELETE FROM llmspell.agent_state WHERE tenant_id = $tenant RETURNING agent_id`,
      params: {},
    });
    const stream = context().stream(write, {});
    expect(await failure(stream[Symbol.asyncIterator]().next())).toMatchObject({ code: 'USAGE' });
    expect(busy()).toBe(0);
  });
});
