import type { Queryable } from '../db/types.js';

/** Schema of the migration bookkeeping; separate from `llmspell` so rolling everything back keeps it. */
export const MIGRATIONS_SCHEMA = 'llmspell_migrations';
/** Our ledger beside node-pg-migrate's tables: the sha256 of each applied file, written in the migration's own transaction. */
export const LEDGER_TABLE = 'checksums';

/** node-pg-migrate's history table (id, name, run_on) of a track: `history` for core, `<track>_history` otherwise. */
export function historyTable(track: string): string {
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
      ? `SELECT h.name, h.run_on, c.sha256 FROM ${history} h LEFT JOIN ${ledger} c ON c.track = $1 AND c.name = h.name ORDER BY h.run_on, h.id`
      : `SELECT h.name, h.run_on, NULL::text AS sha256 FROM ${history} h WHERE $1::text IS NOT NULL ORDER BY h.run_on, h.id`,
    [track],
  );
  return rows.map((row) => ({ name: row.name, appliedOn: row.run_on, checksum: row.sha256 }));
}

/** Creates the bookkeeping schema and the checksum ledger (node-pg-migrate creates its own tables). */
export async function ensureLedger(client: Queryable): Promise<void> {
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${MIGRATIONS_SCHEMA}`);
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
