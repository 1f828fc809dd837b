import type { Queryable } from '../db/types.js';
import { loadMigrationFiles, type MigrationFile } from './catalog.js';
import { readHistory, type AppliedMigration } from './history.js';

/** State of one migration: applied as it is now, waiting, edited after it ran, or unknown to this build. */
export type MigrationState = 'applied' | 'pending' | 'changed' | 'unknown';

/** One row of `migration-status`. */
export interface MigrationStatusEntry {
  version: number;
  name: string;
  state: MigrationState;
  appliedOn: Date | null;
  /** Why a migration counts as changed: its checksum now and the one recorded. */
  checksum: string | null;
  recordedChecksum: string | null;
}

/** Every migration the files and the database know of, and counts by state. */
export interface MigrationStatus {
  entries: MigrationStatusEntry[];
  applied: number;
  pending: number;
  /** Entries that are `changed` or `unknown`. */
  drift: MigrationStatusEntry[];
  /** Pending migrations numbered below an applied one: they would run out of order. */
  outOfOrder: MigrationStatusEntry[];
}

const versionOf = (name: string) => Number(/^(\d+)_/.exec(name)?.[1] ?? Number.NaN);

/** Compares the migration files with what the database has applied. Pure. */
export function compareMigrations(files: readonly MigrationFile[], history: readonly AppliedMigration[]): MigrationStatus {
  const applied = new Map(history.map((row) => [row.name, row]));
  const entries: MigrationStatusEntry[] = files.map((file) => {
    const row = applied.get(file.name);
    if (!row) return { version: file.version, name: file.name, state: 'pending', appliedOn: null, checksum: file.checksum, recordedChecksum: null };
    const state = row.checksum === file.checksum ? 'applied' : 'changed';
    return { version: file.version, name: file.name, state, appliedOn: row.appliedOn, checksum: file.checksum, recordedChecksum: row.checksum };
  });
  const known = new Set(files.map((file) => file.name));
  for (const row of history) {
    if (!known.has(row.name)) {
      entries.push({ version: versionOf(row.name), name: row.name, state: 'unknown', appliedOn: row.appliedOn, checksum: null, recordedChecksum: row.checksum });
    }
  }
  entries.sort((a, b) => a.version - b.version || a.name.localeCompare(b.name));
  const highestApplied = Math.max(-1, ...entries.filter((e) => e.state !== 'pending').map((e) => e.version));
  return {
    entries,
    applied: entries.filter((e) => e.state === 'applied').length,
    pending: entries.filter((e) => e.state === 'pending').length,
    drift: entries.filter((e) => e.state === 'changed' || e.state === 'unknown'),
    outOfOrder: entries.filter((e) => e.state === 'pending' && e.version < highestApplied),
  };
}

/** Reads the migration status of a database (read-only). */
export async function migrationStatus(client: Queryable, dir?: string): Promise<MigrationStatus> {
  const [files, history] = await Promise.all([loadMigrationFiles(dir), readHistory(client)]);
  return compareMigrations(files, history);
}
