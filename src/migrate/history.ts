import type { Queryable } from '../db/types.js';

/** Schema of the migration bookkeeping; separate from `llmspell` so rolling everything back keeps it. */
export const MIGRATIONS_SCHEMA = 'llmspell_migrations';
/** node-pg-migrate's history table (id, name, run_on). */
export const HISTORY_TABLE = 'history';
/** Our ledger beside it: the sha256 of each applied file, written in the migration's own transaction. */
export const LEDGER_TABLE = 'checksums';

/** One applied migration as the database records it. */
export interface AppliedMigration {
  name: string;
  appliedOn: Date;
  /** The checksum recorded when it was applied; null if it was applied without llmspell's ledger. */
  checksum: string | null;
}

/** Reads what has been applied, oldest first. Read-only: a database never migrated returns []. */
export async function readHistory(client: Queryable): Promise<AppliedMigration[]> {
  const { rows: present } = await client.query<{ history: boolean; ledger: boolean }>(
    'SELECT to_regclass($1) IS NOT NULL AS history, to_regclass($2) IS NOT NULL AS ledger',
    [`${MIGRATIONS_SCHEMA}.${HISTORY_TABLE}`, `${MIGRATIONS_SCHEMA}.${LEDGER_TABLE}`],
  );
  if (!present[0]?.history) return [];
  const ledgerJoin = present[0].ledger ? `LEFT JOIN ${MIGRATIONS_SCHEMA}.${LEDGER_TABLE} c ON c.name = h.name` : '';
  const { rows } = await client.query<{ name: string; run_on: Date; sha256: string | null }>(
    `SELECT h.name, h.run_on, ${present[0].ledger ? 'c.sha256' : 'NULL::text AS sha256'}
       FROM ${MIGRATIONS_SCHEMA}.${HISTORY_TABLE} h ${ledgerJoin}
      ORDER BY h.run_on, h.id`,
  );
  return rows.map((row) => ({ name: row.name, appliedOn: row.run_on, checksum: row.sha256 }));
}

/** Creates the bookkeeping schema and the checksum ledger (node-pg-migrate creates its own table). */
export async function ensureLedger(client: Queryable): Promise<void> {
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${MIGRATIONS_SCHEMA}`);
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_SCHEMA}.${LEDGER_TABLE} (
       name varchar(255) PRIMARY KEY,
       sha256 char(64) NOT NULL,
       applied_at timestamptz NOT NULL DEFAULT now()
     )`,
  );
}
