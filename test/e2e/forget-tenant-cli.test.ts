/**
 * `llmspell database forget-tenant` as a user runs it (the built binary, the embedded default): it
 * refuses without --yes off a terminal, counts with --dry-run, and with --yes erases one tenant
 * and prints a receipt that names the tenant by its hash alone; other tenants keep their rows.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { openStorage } from '../../src/storage/open-storage.js';
import { runCliProcess } from '../helpers/cli.js';
import { testSettings } from '../helpers/settings.js';

describe('llmspell database forget-tenant (embedded)', () => {
  let home: string;
  let env: Record<string, string>;
  const settings = () => testSettings({ backend: 'embedded', embeddedPath: join(home, 'data', 'llmspell', 'pgdata') });
  const llmspell = (args: string[]) => runCliProcess(['database', 'forget-tenant', ...args], env);

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'llmspell-test-forget-'));
    env = { HOME: home, XDG_CONFIG_HOME: join(home, 'config'), XDG_DATA_HOME: join(home, 'data') };
    const migrate = await runCliProcess(['database', 'migrate'], env);
    expect(migrate.code, migrate.stderr).toBe(EXIT.OK);
    const storage = await openStorage(settings());
    try {
      for (const tenant of ['acme', 'globex']) {
        for (let n = 0; n < 3; n++) await storage.tenant(tenant).agentState.put(`agent-${n}`, { n });
        await storage.tenant(tenant).sessions.create();
      }
    } finally {
      await storage.close();
    }
  });
  afterAll(() => rm(home, { recursive: true, force: true }));

  it('refuses without --yes when not on a terminal (USAGE), and deletes nothing', async () => {
    const run = await llmspell(['acme']);
    expect(run.code).toBe(EXIT.USAGE);
    expect(run.stderr).toMatch(/--yes/);
    const dry = await llmspell(['acme', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(EXIT.OK);
    const receipt = JSON.parse(dry.stdout) as { dryRun: boolean; tables: { table: string; rows: number }[] };
    expect(receipt.dryRun).toBe(true);
    expect(receipt.tables.find((t) => t.table === 'agent_state')?.rows).toBe(3);
  });

  it('with --yes: erases the tenant, prints a receipt without its id, leaves the others', async () => {
    const run = await llmspell(['acme', '--yes', '--json', '--request-id', 'ticket-7']);
    expect(run.code, run.stderr).toBe(EXIT.OK);
    const receipt = JSON.parse(run.stdout) as Record<string, unknown> & { tables: { table: string; rows: number }[] };
    expect(receipt).toMatchObject({
      requestId: 'ticket-7',
      dryRun: false,
      tenantHash: `sha256:${createHash('sha256').update('acme').digest('hex')}`,
    });
    expect(Object.fromEntries(receipt.tables.filter((t) => t.rows > 0).map((t) => [t.table, t.rows]))).toEqual({
      agent_state: 3,
      sessions: 1,
    });
    expect(run.stdout + run.stderr).not.toMatch(/"acme"|\bacme\b/);
    const human = await llmspell(['acme', '--yes']);
    expect(human.code, human.stderr).toBe(EXIT.OK);
    expect(human.stdout).toMatch(/Forgot the tenant: 0 rows deleted/);

    const storage = await openStorage(settings());
    try {
      expect((await storage.tenant('acme').agentState.list()).items).toEqual([]);
      expect((await storage.tenant('globex').agentState.list()).items).toHaveLength(3);
    } finally {
      await storage.close();
    }
  });
});
