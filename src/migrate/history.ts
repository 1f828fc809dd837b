import pg from 'pg';
import { APP_ROLE } from '../db/tenant.js';
import type { Queryable } from '../db/types.js';

/** Schema of the migration bookkeeping; separate from `llmspell` so rolling everything back keeps it. */
export const MIGRATIONS_SCHEMA = 'llmspell_migrations';
/** Our ledger beside node-pg-migrate's tables: the sha256 of each applied file, written in the migration's own transaction. */
export const LEDGER_TABLE = 'checksums';

/** node-pg-migrate's history table (id, name, run_on) of a track: `history` for core, `<track>_history` otherwise. */
export function historyTable(track: string): string {
  if (!/^[a-z][a-z0-9_]*$/.test(track)) throw new Error(`invalid migration track id ${JSON.stringify(track)}`);
  return track === 'core' ? 'history' : `${track}_history`;
}

/** One applied migration as the database records it. */
export interface AppliedMigration {
  name: string;
  appliedOn: Date;
  /** The checksum recorded when it was applied; null if it was applied without llmspell's ledger. */
  checksum: string | null;
}

/** Reads what a track has applied, oldest first. Read-only: a database never migrated returns []. */
export async function readHistory(client: Queryable, track: string): Promise<AppliedMigration[]> {
  const history = `${MIGRATIONS_SCHEMA}.${historyTable(track)}`;
  const ledger = `${MIGRATIONS_SCHEMA}.${LEDGER_TABLE}`;
  const { rows: present } = await client.query<{ history: boolean; ledger: boolean }>(
    'SELECT to_regclass($1) IS NOT NULL AS history, to_regclass($2) IS NOT NULL AS ledger',
    [history, ledger],
  );
  if (!present[0]?.history) return [];
  const { rows } = await client.query<{ name: string; run_on: Date; sha256: string | null }>(
    present[0].ledger
      ? // run_on is node-pg-migrate's timestamp without time zone; the ledger's applied_at is exact.
        `SELECT h.name, coalesce(c.applied_at, h.run_on::timestamptz) AS run_on, c.sha256 FROM ${history} h LEFT JOIN ${ledger} c ON c.track = $1 AND c.name = h.name ORDER BY h.run_on, h.id`
      : `SELECT h.name, h.run_on, NULL::text AS sha256 FROM ${history} h WHERE $1::text IS NOT NULL ORDER BY h.run_on, h.id`,
    [track],
  );
  return rows.map((row) => ({ name: row.name, appliedOn: row.run_on, checksum: row.sha256 }));
}

/**
 * Creates the bookkeeping schema, the checksum ledger and each track's history table (in the
 * shape node-pg-migrate reads and writes), if missing. Run it under the migration lock: two
 * concurrent `CREATE TABLE IF NOT EXISTS` of one table can still collide.
 */
export async function ensureBookkeeping(client: Queryable, tracks: readonly string[]): Promise<void> {
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${MIGRATIONS_SCHEMA}`);
  for (const track of tracks) {
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_SCHEMA}.${historyTable(track)} (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL)`,
    );
  }
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_SCHEMA}.${LEDGER_TABLE} (
       track text NOT NULL,
       name varchar(255) NOT NULL,
       sha256 char(64) NOT NULL,
       applied_at timestamptz NOT NULL DEFAULT now(),
       PRIMARY KEY (track, name)
     )`,
  );
}

/**
 * Lets the application role read the migration history (USAGE on the schema, SELECT on its
 * tables), so that `health-check` run with the application's own credentials can count
 * migrations. Names, times and checksums only: no tenant data. Skipped while the role does not
 * exist; a migrating role that does not own the bookkeeping tables leaves them as they are.
 */
export async function grantHistoryReadAccess(client: Queryable): Promise<void> {
  await client.query(`DO $$
    BEGIN
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${pg.escapeLiteral(APP_ROLE)}) AND to_regnamespace(${pg.escapeLiteral(MIGRATIONS_SCHEMA)}) IS NOT NULL THEN
        GRANT USAGE ON SCHEMA ${MIGRATIONS_SCHEMA} TO ${APP_ROLE};
        GRANT SELECT ON ALL TABLES IN SCHEMA ${MIGRATIONS_SCHEMA} TO ${APP_ROLE};
      END IF;
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END $$`);
}
