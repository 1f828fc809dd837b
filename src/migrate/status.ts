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
export function compareTrack(
  track: string,
  files: readonly MigrationFile[],
  history: readonly AppliedMigration[],
): MigrationStatusEntry[] {
  const applied = new Map(history.map((row) => [row.name, row]));
  const entries: MigrationStatusEntry[] = files.map((file) => {
    const row = applied.get(file.name);
    const base = { track, version: file.version, name: file.name, checksum: file.checksum };
    if (!row) return { ...base, state: 'pending', appliedOn: null, recordedChecksum: null };
    return {
      ...base,
      state: row.checksum === file.checksum ? 'applied' : 'changed',
      appliedOn: row.appliedOn,
      recordedChecksum: row.checksum,
    };
  });
  const known = new Set(files.map((file) => file.name));
  for (const row of history) {
    if (!known.has(row.name)) {
      entries.push({
        track,
        version: versionOf(row.name),
        name: row.name,
        state: 'unknown',
        appliedOn: row.appliedOn,
        checksum: null,
        recordedChecksum: row.checksum,
      });
    }
  }
  return entries.sort((a, b) => a.version - b.version || a.name.localeCompare(b.name));
}

/** Totals over entries of one or more tracks. */
export function summarize(entries: MigrationStatusEntry[]): MigrationStatus {
  const highest = new Map<string, number>();
  for (const e of entries)
    if (e.state !== 'pending') highest.set(e.track, Math.max(highest.get(e.track) ?? -1, e.version));
  return {
    entries,
    applied: entries.filter((e) => e.state === 'applied').length,
    pending: entries.filter((e) => e.state === 'pending').length,
    drift: entries.filter((e) => e.state === 'changed' || e.state === 'unknown'),
    outOfOrder: entries.filter((e) => e.state === 'pending' && e.version < (highest.get(e.track) ?? -1)),
  };
}

/** The migration files of each track, read once per run. */
export type LoadedTracks = ReadonlyArray<{ track: MigrationTrack; files: MigrationFile[] }>;

/** One track's files and how they compare with what the database applied. */
export interface TrackState {
  track: MigrationTrack;
  files: MigrationFile[];
  entries: MigrationStatusEntry[];
}

/** Reads every track's migration files. */
export function loadTracks(tracks: readonly MigrationTrack[]): Promise<LoadedTracks> {
  return Promise.all(tracks.map(async (track) => ({ track, files: await loadMigrationFiles(track.dir) })));
}

/** Compares each track's files with its history in the database (read-only). */
export async function readTracks(client: Queryable, loaded: LoadedTracks): Promise<TrackState[]> {
  const states: TrackState[] = [];
  for (const { track, files } of loaded)
    states.push({ track, files, entries: compareTrack(track.id, files, await readHistory(client, track.id)) });
  return states;
}

/** Totals over all tracks. */
export const statusOf = (states: readonly TrackState[]): MigrationStatus => summarize(states.flatMap((s) => s.entries));

/** Reads the migration status of a database (read-only), over the given tracks in order. */
export async function migrationStatus(client: Queryable, tracks: readonly MigrationTrack[]): Promise<MigrationStatus> {
  return statusOf(await readTracks(client, await loadTracks(tracks)));
}
