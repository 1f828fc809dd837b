/**
 * `llmspell database maintain` and the per-tenant partial vector indexes, on an embedded data
 * directory (PGlite on disk: the only backend here with pgvector; the native test servers have
 * none). The CLI runs in process with a private HOME and a config file that lowers
 * `tenant_index_min_rows` to 50; the rows go in through the library (`openStorage`), closed
 * before each CLI run (the data directory is locked while open).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { openStorage } from '../../src/storage/open-storage.js';
import { tenantIndexName } from '../../src/storage/modules/vectors/tenant-indexes.js';
import { runCliInProcess } from '../helpers/cli.js';
import { lowRankSpace } from '../helpers/low-rank.js';
import { testSettings } from '../helpers/settings.js';

const MIN_ROWS = 50;
const INDEX = tenantIndexName(384, 'big-tenant');

describe('llmspell database maintain: tenant vector indexes', () => {
  let dir: string;
  let dataDir: string;
  const cli = (argv: string[]) => runCliInProcess(argv, { dir });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llmspell-test-maintain-vectors-'));
    dataDir = join(dir, 'pgdata');
    await mkdir(join(dir, 'xdg', 'llmspell'), { recursive: true });
    await writeFile(
      join(dir, 'xdg', 'llmspell', 'config.toml'),
      `[storage]\nbackend = "embedded"\n\n[storage.embedded]\npath = ${JSON.stringify(dataDir)}\n\n` +
        `[storage.postgres.vector_embeddings]\ntenant_index_min_rows = ${MIN_ROWS}\n`,
    );
    const migrate = await cli(['database', 'migrate']);
    expect(migrate.code, migrate.stderr).toBe(EXIT.OK);

    const storage = await openStorage(
      testSettings({
        backend: 'embedded',
        embeddedPath: dataDir,
        postgres: { vector_embeddings: { tenant_index_min_rows: MIN_ROWS } },
      }),
    );
    try {
      const space = lowRankSpace({ dims: 384, seed: 11 });
      const entries = (count: number) => Array.from({ length: count }, () => ({ scope: 'docs', vector: space.next() }));
      await storage.tenant('big-tenant').vectors.upsert(entries(60));
      await storage.tenant('small-tenant').vectors.upsert(entries(10));
    } finally {
      await storage.close();
    }
  }, 120_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('--dry-run reports the index it would build, says it is a dry run, and builds nothing', async () => {
    const json = await cli(['--json', 'database', 'maintain', '--dry-run']);
    expect(json.code, json.stderr).toBe(EXIT.OK);
    expect(JSON.parse(json.stdout)).toMatchObject({
      dryRun: true,
      vectorIndexes: {
        status: 'done',
        changes: [{ action: 'created', table: 'vector_embeddings_384', index: INDEX, tenant: 'big-tenant', rows: 60 }],
        indexes: 1,
      },
    });

    const text = await cli(['database', 'maintain', '--dry-run']);
    expect(text.code, text.stderr).toBe(EXIT.OK);
    expect(text.stdout).toContain(INDEX);
    // The lines about the vector indexes must not read as if the index had been built.
    const vectorLines = text.stdout.split('\n').filter((line) => /vector ind|vector_embeddings/.test(line));
    expect(vectorLines.join('\n'), text.stdout).toMatch(/dry run|would/i);
    expect(vectorLines.join('\n'), text.stdout).not.toMatch(/in place/);

    const health = await cli(['--json', 'database', 'health-check']);
    const checks = (JSON.parse(health.stdout) as { checks: Array<{ id: string; data?: Record<string, unknown> }> })
      .checks;
    expect(checks.find((check) => check.id === 'vector-indexes')?.data).toMatchObject({ indexes: 0, invalid: 0 });
  });

  it('builds the large tenant\'s index, printing "Tenant vector indexes:" and the change', async () => {
    const run = await cli(['database', 'maintain']);
    expect(run.code, run.stderr).toBe(EXIT.OK);
    const lines = run.stdout.split('\n');
    const at = lines.indexOf('Tenant vector indexes:');
    expect(at, run.stdout).toBeGreaterThanOrEqual(0);
    expect(lines[at + 1]).toBe(`  created ${INDEX} on vector_embeddings_384 for tenant "big-tenant" (60 rows)`);
    expect(lines[at + 2]).toBe('1 tenant vector index(es) in place.');
    expect(run.stdout).not.toContain('small-tenant');
  });

  it('a second run changes nothing; --json carries vectorIndexes; health-check counts the index', async () => {
    const text = await cli(['database', 'maintain']);
    expect(text.code, text.stderr).toBe(EXIT.OK);
    expect(text.stdout).toContain('Tenant vector indexes are up to date (1).');
    expect(text.stdout).not.toContain('Tenant vector indexes:');

    const json = await cli(['--json', 'database', 'maintain']);
    expect(json.code, json.stderr).toBe(EXIT.OK);
    expect(JSON.parse(json.stdout)).toMatchObject({
      dryRun: false,
      vectorIndexes: { status: 'done', changes: [], indexes: 1, rebuilt: [] },
    });

    const health = await cli(['--json', 'database', 'health-check']);
    expect(health.code, health.stdout).toBe(EXIT.OK);
    const report = JSON.parse(health.stdout) as {
      checks: Array<{ id: string; status: string; data?: Record<string, unknown> }>;
    };
    expect(report.checks.find((check) => check.id === 'vector-indexes')).toMatchObject({
      status: 'ok',
      data: { indexes: 1, invalid: 0, minRows: MIN_ROWS, max: 100 },
    });
  });
});
