/**
 * `openStorage(settings, { observer })`: one event per statement a storage call runs — operation,
 * backend, duration, rows, error code — and never a parameter value or a row; an observer that
 * throws does not fail the call. On PGlite (memory) and PostgreSQL 18 (as the application role).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatementEvent } from '../../../src/storage/mechanism/tenant-transaction.js';
import { openStorage, type Storage } from '../../../src/storage/open-storage.js';
import { failure } from '../../helpers/outcome.js';
import { pgliteSnapshot } from '../../helpers/pglite.js';
import { migratedPostgres, type MigratedDatabase } from '../../helpers/schema.js';
import { testSettings } from '../../helpers/settings.js';

const SECRET = 'sk-observed-0123456789';

describe.each(['memory', 'postgres'] as const)('an observer on %s', (backend) => {
  const events: StatementEvent[] = [];
  let throwing = false;
  let storage: Storage;
  let migrated: MigratedDatabase | undefined;
  beforeAll(async () => {
    const observer = (event: StatementEvent) => {
      events.push(event);
      if (throwing) throw new Error('observer failed');
    };
    if (backend === 'memory') {
      const snapshot = await pgliteSnapshot('migrated');
      storage = await openStorage(testSettings({ backend: 'memory' }), {
        observer,
        ...(snapshot ? { memorySnapshot: snapshot } : {}),
      });
    } else {
      migrated = await migratedPostgres();
      await migrated.db.close();
      storage = await openStorage(
        testSettings({ backend: 'postgres', url: migrated.url!, postgres: { vector_embeddings: { enabled: false } } }),
        { observer },
      );
    }
  });
  afterAll(async () => {
    await storage?.close();
    await migrated?.dispose();
  });

  it('hears each statement: operation, backend, duration, rows; never a value', async () => {
    events.length = 0;
    const acme = storage.tenant('acme');
    await acme.agentState.put('planner', { token: SECRET });
    await acme.agentState.get('planner');
    expect(await failure(acme.agentState.get('nobody'))).toMatchObject({ code: 'NOT_FOUND' });
    expect(events.map((event) => [event.operation, event.backend, event.rows])).toEqual([
      ['agentState.put', backend, 1],
      ['agentState.get', backend, 1],
      ['agentState.get', backend, 0],
    ]);
    for (const event of events) expect(event.durationMs).toBeGreaterThanOrEqual(0);
    expect(JSON.stringify(events)).not.toContain(SECRET);
    expect(JSON.stringify(events)).not.toContain('planner');
  });

  it('tells a failed statement with its code, and a throwing observer does not fail the call', async () => {
    events.length = 0;
    const acme = storage.tenant('acme');
    expect(
      await failure(
        acme.workflows
          .create({ workflowId: 'w', name: 'n' })
          .then(() => acme.workflows.create({ workflowId: 'w', name: 'n' })),
      ),
    ).toMatchObject({ code: 'CONFLICT' });
    expect(events.at(-1)).toMatchObject({ operation: 'workflows.create', rows: 0, error: 'CONFLICT' });
    throwing = true;
    try {
      expect((await acme.agentState.get('planner')).version).toBe(1);
    } finally {
      throwing = false;
    }
  });
});
