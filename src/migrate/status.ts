import type { Queryable } from '../db/types.js';
import { loadMigrationFiles, type MigrationFile, type MigrationTrack } from './catalog.js';
import { readHistory, type AppliedMigration } from './history.js';

/** State of one migration: applied as it is now, waiting, edited after it ran, or unknown to this build. */
export type MigrationState = 'applied' | 'pending' | 'changed' | 'unknown';

/** One row of `migration-status`. */
export interface MigrationStatusEntry {
  /** The track it belongs to: `core`, or an optional part such as `vector`. */
  track: string;
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
  /** Pending migrations numbered below an applied one of their track: they would run out of order. */
  outOfOrder: MigrationStatusEntry[];
}

const versionOf = (name: string) => Number(/^(\d+)_/.exec(name)?.[1] ?? Number.NaN);

/** Compares one track's files with what the database has applied. Pure. */
export function compareTrack(track: string, files: readonly MigrationFile[], history: readonly AppliedMigration[]): MigrationStatusEntry[] {
  const applied = new Map(history.map((row) => [row.name, row]));
  const entries: MigrationStatusEntry[] = files.map((file) => {
    const row = applied.get(file.name);
    const base = { track, version: file.version, name: file.name, checksum: file.checksum };
    if (!row) return { ...base, state: 'pending', appliedOn: null, recordedChecksum: null };
    return { ...base, state: row.checksum === file.checksum ? 'applied' : 'changed', appliedOn: row.appliedOn, recordedChecksum: row.checksum };
  });
  const known = new Set(files.map((file) => file.name));
  for (const row of history) {
    if (!known.has(row.name)) {
      entries.push({ track, version: versionOf(row.name), name: row.name, state: 'unknown', appliedOn: row.appliedOn, checksum: null, recordedChecksum: row.checksum });
    }
  }
  return entries.sort((a, b) => a.version - b.version || a.name.localeCompare(b.name));
}

/** Totals over entries of one or more tracks. */
export function summarize(entries: MigrationStatusEntry[]): MigrationStatus {
  const highest = new Map<string, number>();
  for (const e of entries) if (e.state !== 'pending') highest.set(e.track, Math.max(highest.get(e.track) ?? -1, e.version));
  return {
    entries,
    applied: entries.filter((e) => e.state === 'applied').length,
    pending: entries.filter((e) => e.state === 'pending').length,
    drift: entries.filter((e) => e.state === 'changed' || e.state === 'unknown'),
    outOfOrder: entries.filter((e) => e.state === 'pending' && e.version < (highest.get(e.track) ?? -1)),
  };
}

/** Reads the migration status of a database (read-only), over the given tracks in order. */
export async function migrationStatus(client: Queryable, tracks: readonly MigrationTrack[]): Promise<MigrationStatus> {
  const entries: MigrationStatusEntry[] = [];
  for (const track of tracks) {
    const [files, history] = await Promise.all([loadMigrationFiles(track.dir), readHistory(client, track.id)]);
    entries.push(...compareTrack(track.id, files, history));
  }
  return summarize(entries);
}
