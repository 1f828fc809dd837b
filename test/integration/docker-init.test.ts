import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import { migrationLimits, migrationSource } from '../../src/migrate/connect.js';
import { migrate } from '../../src/migrate/run.js';
import { healthCheck } from '../../src/health/health-check.js';
import { startPostgresServer, type PostgresServer } from '../helpers/postgres-server.js';
import { testSettings } from '../helpers/settings.js';

const run = promisify(execFile);
const INIT = new URL('../../docker/postgres/init-scripts/', import.meta.url).pathname;
const psql = await run('psql', ['--version']).then(
  () => true,
  () => false,
);
if (!psql)
  console.warn('skipped: the docker init-script test needs the psql client (apt-get install postgresql-client)');

/**
 * The Docker image's init scripts, run the way the entrypoint runs them (psql as POSTGRES_USER), on
 * a PostgreSQL 18 server of this file's own: roles are cluster-wide and the shared test server has
 * its own llmspell_app already. VectorChord is not on this server, so its one line is left out.
 */
describe.skipIf(!psql)('docker init scripts', () => {
  let server: PostgresServer;
  const appPassword = 'app-secret-from-env';
  const env = () => ({
    ...process.env,
    PGHOST: server.host,
    PGPORT: String(server.port),
    PGPASSWORD: server.password,
    POSTGRES_USER: server.user,
    POSTGRES_DB: 'llmspell_dev',
  });

  beforeAll(async () => {
    server = await startPostgresServer();
    const admin = new pg.Client({ connectionString: server.url() });
    await admin.connect();
    await admin.query('CREATE DATABASE llmspell_dev');
    await admin.end();
    const sql = (await readFile(`${INIT}01-extensions.sql`, 'utf8')).replace(
      /^CREATE EXTENSION IF NOT EXISTS vchord.*$/m,
      '',
    );
    await run('psql', ['-v', 'ON_ERROR_STOP=1', '-U', server.user, '-d', 'llmspell_dev', '-c', sql], { env: env() });
    await run('bash', [`${INIT}02-app-role.sh`], { env: { ...env(), LLMSPELL_APP_PASSWORD: appPassword } });
  });
  afterAll(() => server?.stop());

  it('creates llmspell_app as a login role that RLS binds, with the password from the environment', async () => {
    const app = new pg.Client({
      connectionString: server.url('llmspell_dev').replace(/\/\/[^@]+@/, `//llmspell_app:${appPassword}@`),
    });
    await app.connect();
    try {
      const { rows } = await app.query<{ rolsuper: boolean; rolbypassrls: boolean }>(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'llmspell_app'",
      );
      expect(rows[0]).toEqual({ rolsuper: false, rolbypassrls: false });
    } finally {
      await app.end();
    }
  });

  it('is idempotent: running the role script again changes nothing and fails nothing', async () => {
    await expect(
      run('bash', [`${INIT}02-app-role.sh`], { env: { ...env(), LLMSPELL_APP_PASSWORD: 'another' } }),
    ).resolves.toBeDefined();
  });

  it('lets the migrations run on top, and the application log in as llmspell_app with tenant isolation', async () => {
    const owner = testSettings({
      backend: 'postgres',
      url: server.url('llmspell_dev'),
      postgres: { vector_embeddings: { enabled: false } },
    });
    const db = await openDatabase(owner);
    try {
      const result = await migrate(db, { ...migrationLimits(owner), ...migrationSource(owner) });
      expect(result.status.pending).toBe(0);
    } finally {
      await db.close();
    }
    const appUrl = server.url('llmspell_dev').replace(/\/\/[^@]+@/, `//llmspell_app:${appPassword}@`);
    const app = await openDatabase(testSettings({ backend: 'postgres', url: appUrl }));
    try {
      await app.withTenant('tenant-a', (tx) =>
        tx.query("INSERT INTO llmspell.agent_state (tenant_id, agent_id) VALUES ('tenant-a', 'agent-1')"),
      );
      const seen = await app.withTenant(
        'tenant-b',
        async (tx) => (await tx.query('SELECT 1 FROM llmspell.agent_state')).rowCount,
      );
      expect(seen).toBe(0);
      const role = await app.withTenant(
        'tenant-a',
        async (tx) => (await tx.query<{ r: string }>('SELECT current_user AS r')).rows[0]!.r,
      );
      expect(role).toBe('llmspell_app');
    } finally {
      await app.close();
    }
    // health-check with the application's own credentials sees everything it reports on.
    const report = await healthCheck(
      testSettings({ backend: 'postgres', url: appUrl, postgres: { vector_embeddings: { enabled: false } } }),
      { timeoutMs: 10_000 },
    );
    expect(report.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(report.checks.find((c) => c.id === 'migrations')).toMatchObject({ status: 'ok', data: { pending: 0 } });
    expect(report.checks.find((c) => c.id === 'app-role')).toMatchObject({
      status: 'ok',
      data: { loginRole: 'llmspell_app' },
    });
    expect(report.status).toBe('healthy');
  });
});
