import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open.js';
import { healthCheck } from '../../src/health/health-check.js';
import { migrationLimits, migrationSource } from '../../src/migrate/connect.js';
import { MigrationError, migrate } from '../../src/migrate/run.js';
import { migrationStatus } from '../../src/migrate/status.js';
import { startPostgresServer, type PostgresServer } from '../helpers/postgres-server.js';
import { testSettings } from '../helpers/settings.js';

/**
 * Migrating as an ordinary database owner (no superuser, no CREATEROLE), on a server of this
 * file's own: llmspell_app is cluster-wide, and here it must not exist yet.
 */
describe('migrating as a database owner without CREATEROLE', () => {
  let server: PostgresServer;
  let admin: pg.Client;
  const ownerUrl = () => server.url('llmspell').replace(/\/\/[^@]+@/, '//owner:owner-secret@');
  const settings = () =>
    testSettings({ backend: 'postgres', url: ownerUrl(), postgres: { vector_embeddings: { enabled: false } } });

  beforeAll(async () => {
    server = await startPostgresServer();
    admin = new pg.Client({ connectionString: server.url() });
    await admin.connect();
    await admin.query("CREATE ROLE owner LOGIN PASSWORD 'owner-secret' NOSUPERUSER NOCREATEROLE");
    await admin.query('CREATE DATABASE llmspell OWNER owner');
  });
  afterAll(async () => {
    await admin?.end();
    await server?.stop();
  });

  it('stops at the application role with the statements an administrator runs, recording nothing of it', async () => {
    const db = await openDatabase(settings());
    try {
      const error = await migrate(db, { ...migrationLimits(settings()), ...migrationSource(settings()) }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(MigrationError);
      expect((error as MigrationError).migration).toBe('0002_application_role');
      expect((error as MigrationError).hint).toContain('CREATE ROLE llmspell_app');
      const status = await migrationStatus(db, migrationSource(settings()).tracks);
      expect(status.entries.filter((e) => e.state === 'applied').map((e) => e.name)).toEqual([
        '0001_extensions_and_schema',
      ]);
    } finally {
      await db.close();
    }
  });

  it('completes once the administrator has created the role, and the owner can become it', async () => {
    await admin.query('CREATE ROLE llmspell_app NOLOGIN NOSUPERUSER NOBYPASSRLS');
    await admin.query('GRANT llmspell_app TO owner WITH INHERIT FALSE, SET TRUE');
    const db = await openDatabase(settings());
    try {
      const result = await migrate(db, { ...migrationLimits(settings()), ...migrationSource(settings()) });
      expect(result.status.pending).toBe(0);
      await db.withTenant('tenant-a', (tx) =>
        tx.query("INSERT INTO llmspell.sessions (tenant_id) VALUES ('tenant-a')"),
      );
      const seen = await db.withTenant(
        'tenant-b',
        async (tx) => (await tx.query('SELECT 1 FROM llmspell.sessions')).rowCount,
      );
      expect(seen).toBe(0);
    } finally {
      await db.close();
    }
    const report = await healthCheck(settings(), { timeoutMs: 10_000 });
    expect(report.checks.find((c) => c.id === 'app-role')).toMatchObject({
      status: 'ok',
      data: { loginRole: 'owner', canBecome: true },
    });
    expect(report.status).toBe('healthy');
  });
});
