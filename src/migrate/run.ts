import { assertSupportedServer, serverVersion, type ServerVersion } from '../db/server-version.js';
import type { Database } from '../db/types.js';
import { LlmspellError } from '../errors.js';
import { DEFAULT_MIGRATIONS_DIR, type MigrationFile, type MigrationTrack } from './catalog.js';
import { ensureBookkeeping, grantHistoryReadAccess } from './history.js';
import { withMigrationTransaction } from './lock.js';
import {
  loadTracks,
  readTracks,
  statusOf,
  summarize,
  type LoadedTracks,
  type MigrationStatus,
  type MigrationStatusEntry,
  type TrackState,
} from './status.js';
import { runStep } from './step.js';

export { MigrationError, type NoTransactionCleanup } from './step.js';

/** Limits every migration run obeys; from `[storage.postgres]`. */
export interface MigrationLimits {
  /** How long to wait for another migrator's lock (`migration_timeout_secs`). */
  lockWaitMs: number;
  /** `SET LOCAL statement_timeout` of each migration (`migration_timeout_secs`). */
  statementTimeoutMs: number;
  /** `SET LOCAL lock_timeout` of each migration (`migration_lock_timeout_secs`), so DDL never queues forever behind traffic. */
  lockTimeoutMs: number;
}

/** Where migrations come from and what they may read. */
export interface MigrationSource {
  /** Tracks in the order they apply (core first); default: the package's core track only. */
  tracks?: readonly MigrationTrack[];
  /**
   * Settings migrations read with `current_setting('llmspell.<name>')`, set by `SET LOCAL` before
   * each migration (e.g. `hnsw_m`): migration files stay static, and their checksums with them.
   */
  parameters?: Readonly<Record<string, string | number | boolean>>;
}

/** A step of a run, reported as it happens (for a progress display). */
export type MigrationProgress =
  | {
      phase: 'start';
      direction: 'up' | 'down';
      track: string;
      name: string;
      index: number;
      total: number;
      /** False for a `--! no-transaction` migration: what ran of it stays if it is interrupted. */
      atomic: boolean;
    }
  | {
      phase: 'done';
      direction: 'up' | 'down';
      track: string;
      name: string;
      index: number;
      total: number;
      durationMs: number;
    }
  | {
      /** Another migrator applied it meanwhile: this run skips it. */
      phase: 'skipped';
      direction: 'up' | 'down';
      track: string;
      name: string;
      index: number;
      total: number;
    };

/** Options of {@link migrate}. */
export interface MigrateOptions extends MigrationLimits, MigrationSource {
  /** Stop after this version of the core track (a number, or a migration name); later tracks then wait. */
  to?: number | string;
  /** Report what would run; change nothing at all (no tables, no lock). */
  dryRun?: boolean;
  onProgress?: (event: MigrationProgress) => void;
}

/** One migration a run applied or rolled back. */
export interface MigrationStep {
  track: string;
  version: number;
  name: string;
  durationMs?: number;
}

/** What {@link migrate} or {@link rollback} did. */
export interface MigrationRunResult {
  dryRun: boolean;
  direction: 'up' | 'down';
  /** What the run set out to do. */
  planned: MigrationStep[];
  /** What it did (empty on a dry run). */
  done: MigrationStep[];
  /** Planned migrations another migrator applied while this run was under way (it skipped them). */
  skipped: MigrationStep[];
  /** Status after the run. */
  status: MigrationStatus;
  /** The server migrated: `support` is `supported` for PostgreSQL 15–17 (a warning: 18 is recommended). */
  server: { version: string; versionNum: number; support: ServerVersion['support'] };
}

/** Options of {@link rollback}. */
export interface RollbackOptions extends MigrationLimits, MigrationSource {
  /**
   * Roll back every core migration above this version; 0 rolls back everything. The optional
   * tracks build on the complete core, so they are rolled back entirely whenever any core
   * migration is.
   */
  to: number | string;
  dryRun?: boolean;
  /**
   * The plan the caller showed and had confirmed (a dry run's `planned`): when the database moved
   * meanwhile and the plan differs, nothing is rolled back (`MIGRATION_PLAN_CHANGED`).
   */
  expect?: readonly MigrationStep[];
  onProgress?: (event: MigrationProgress) => void;
}

const step = (entry: { track: string; version: number; name: string }): MigrationStep => ({
  track: entry.track,
  version: entry.version,
  name: entry.name,
});

function resolveTarget(
  to: number | string | undefined,
  files: readonly MigrationFile[],
  status: MigrationStatus,
): number {
  // `files` and `status` are the core track's.
  if (to === undefined) return Number.POSITIVE_INFINITY;
  const text = String(to).trim();
  if (/^\d+$/.test(text)) {
    const version = Number(text);
    if (version === 0 || files.some((f) => f.version === version) || status.entries.some((e) => e.version === version))
      return version;
  } else {
    const named = status.entries.find((e) => e.name === text || `${e.name}.sql` === text);
    if (named) return named.version;
  }
  throw unknownTarget(text, files);
}

/** The error for a `--to` that names no migration of `files` (the core track's). */
export function unknownTarget(text: string, files: readonly MigrationFile[]): LlmspellError {
  const versions = ['0 (before the first)', ...files.map((f) => f.version)].join(', ');
  return new LlmspellError('USAGE', `no migration ${JSON.stringify(text)}`, {
    hint: `Known versions: ${versions}. \`llmspell database migration-status\` lists them.`,
  });
}

/** Where a drift check happens: which tracks are llmspell's own, and which database it is. */
interface DriftContext {
  loaded: LoadedTracks;
  db: Pick<Database, 'kind' | 'target'>;
}

function assertNoDrift(status: MigrationStatus, context: DriftContext): void {
  if (status.drift.length === 0) return;
  const lines = status.drift.map((e) =>
    e.state === 'unknown'
      ? `  ${e.name}: applied to the database, but this build has no such migration`
      : `  ${e.name}: ${e.recordedChecksum ? 'the file changed after it was applied' : 'applied without a recorded checksum'}`,
  );
  throw new LlmspellError('MIGRATION_DRIFT', `the database and the migration files disagree:\n${lines.join('\n')}`, {
    hint: driftHint(status.drift, context),
  });
}

/**
 * What to do about drift. Changed files of llmspell's own tracks are not the user's edits: the
 * package reworked them before its first release, and a database built from the earlier files
 * cannot be upgraded in place (README, "Changelog").
 */
function driftHint(drift: readonly MigrationStatusEntry[], { loaded, db }: DriftContext): string {
  const own = new Set(loaded.filter((l) => l.track.dir.startsWith(DEFAULT_MIGRATIONS_DIR)).map((l) => l.track.id));
  const changed = drift.filter((e) => e.state === 'changed');
  if (changed.length > 0 && changed.every((e) => own.has(e.track))) {
    const recreate =
      db.kind === 'embedded'
        ? `recreate it: move ${db.target} aside (mv ${db.target} ${db.target}.pre-release) and run \`llmspell database migrate\`, which creates it anew`
        : db.kind === 'memory'
          ? 'open a new one'
          : 'recreate it: drop the schemas llmspell and llmspell_migrations (or the whole database) and run `llmspell database migrate`';
    return `These are llmspell's own migrations: a pre-release build changed them (the schema was reworked before the first release; see the README's changelog), so a database made by an earlier build cannot be upgraded in place. Copy out what you need, then ${recreate}.`;
  }
  return 'Applied migrations must never be edited: restore the file as it was and put the change in a new migration. A database ahead of this build needs a newer llmspell.';
}

function assertInOrder(status: MigrationStatus): void {
  if (status.outOfOrder.length === 0) return;
  throw new LlmspellError(
    'MIGRATION_ORDER',
    `pending migrations are numbered below applied ones: ${status.outOfOrder.map((e) => e.name).join(', ')}`,
    {
      hint: 'Renumber them above the highest applied migration.',
    },
  );
}

/** The package's own core migrations, when no tracks are given. */
const CORE_ONLY: readonly MigrationTrack[] = [{ id: 'core', dir: DEFAULT_MIGRATIONS_DIR }];

/** What a run will do: the migrations per track, in the order they run. */
interface Plan {
  status: MigrationStatus;
  perTrack: Array<{ state: TrackState; planned: MigrationStep[] }>;
}

/**
 * The one way a plan is carried out. A dry run only reports it. Otherwise each planned migration
 * runs in its own transaction, which takes the migration lock and checks the history again
 * (another migrator may have moved the database since the plan was made): one applied meanwhile
 * is skipped. Nothing is held between migrations, so this works through a transaction pooler and
 * leaves no lock behind; only `--! no-transaction` migrations need a direct connection.
 */
async function execute(
  db: Database,
  direction: 'up' | 'down',
  loaded: LoadedTracks,
  options: MigrationLimits &
    MigrationSource & {
      dryRun?: boolean;
      expect?: readonly MigrationStep[];
      onProgress?: (event: MigrationProgress) => void;
    },
  plan: (states: TrackState[]) => Plan,
): Promise<MigrationRunResult> {
  const pooled = options.dryRun ? false : await db.detectPooler();
  return db.withClient(async (client) => {
    // Before anything else: a server below 15 is refused with nothing applied.
    const server = await serverVersion(client);
    assertSupportedServer(server, db.target);
    const made = plan(await readTracks(client, loaded));
    const planned = made.perTrack.flatMap((t) => t.planned);
    if (options.expect) assertSamePlan(options.expect, planned);
    if (direction === 'up') {
      for (const { state, planned: steps } of made.perTrack)
        if (steps.length > 0) await state.track.preflight?.(client);
    }
    const fileOf = (state: TrackState, name: string) => state.files.find((f) => f.name === name)!;
    if (pooled) assertNoSessionNeeded(made.perTrack.flatMap((t) => t.planned.map((p) => fileOf(t.state, p.name))));
    const about = { server: { version: server.version, versionNum: server.num, support: server.support } };
    if (options.dryRun)
      return { dryRun: true, direction, planned, done: [], skipped: [], status: made.status, ...about };

    if (direction === 'up' && planned.length > 0) {
      await withMigrationTransaction(client, options.lockWaitMs, () =>
        ensureBookkeeping(
          client,
          loaded.map((l) => l.track.id),
        ),
      );
    }
    const done: MigrationStep[] = [];
    const skipped: MigrationStep[] = [];
    for (const { state, planned: steps } of made.perTrack) {
      for (const planned_ of steps) {
        const index = done.length + skipped.length + 1;
        const event = { direction, track: state.track.id, name: planned_.name, index, total: planned.length };
        const started = Date.now();
        const file = fileOf(state, planned_.name);
        const outcome = await runStep(client, file, {
          track: state.track,
          direction,
          lockWaitMs: options.lockWaitMs,
          lockTimeoutMs: options.lockTimeoutMs,
          statementTimeoutMs: options.statementTimeoutMs,
          parameters: options.parameters ?? {},
          appliedBefore: done.length,
          onStart: () => options.onProgress?.({ phase: 'start', ...event, atomic: !file.noTransaction }),
        });
        if (outcome === 'concurrent') {
          skipped.push(planned_);
          options.onProgress?.({ phase: 'skipped', ...event });
          continue;
        }
        const durationMs = Date.now() - started;
        done.push({ ...planned_, durationMs });
        options.onProgress?.({ phase: 'done', ...event, durationMs });
      }
    }
    if (direction === 'up' && planned.length > 0) {
      // Concurrent GRANTs of one object fail ("tuple concurrently updated"): under the lock too.
      await withMigrationTransaction(client, options.lockWaitMs, () => grantHistoryReadAccess(client));
    }
    return {
      dryRun: false,
      direction,
      planned,
      done,
      skipped,
      status: statusOf(await readTracks(client, loaded)),
      ...about,
    };
  });
}

/** Refuses a run whose plan is not the one the caller confirmed. */
function assertSamePlan(expected: readonly MigrationStep[], planned: readonly MigrationStep[]): void {
  const names = (steps: readonly MigrationStep[]) => steps.map((s) => `${s.track}/${s.name}`).join(', ');
  if (names(expected) === names(planned)) return;
  throw new LlmspellError(
    'MIGRATION_PLAN_CHANGED',
    `the database changed since the plan was shown: it was to roll back ${names(expected) || 'nothing'}, now it would be ${names(planned) || 'nothing'}`,
    {
      hint: 'Another migrator ran meanwhile. Nothing was rolled back; run the command again to see the new plan.',
    },
  );
}

/** Refuses `--! no-transaction` migrations through a pooler: they hold the migration lock for a whole session. */
function assertNoSessionNeeded(files: readonly MigrationFile[]): void {
  const sessionBound = files.filter((f) => f.noTransaction);
  if (sessionBound.length === 0) return;
  throw new LlmspellError(
    'POOLER_NOT_SUPPORTED',
    `${sessionBound.map((f) => f.name).join(', ')} run${sessionBound.length === 1 ? 's' : ''} outside a transaction (--! no-transaction) and need a direct connection, but a connection pooler answers this URL (its backend key is not the server's)`,
    {
      hint: 'Set storage.postgres.migration_url to the server itself (not the pooler), for example: llmspell config set storage.postgres.migration_url "postgresql://USER:PASSWORD@HOST:5432/DATABASE". Nothing was migrated.',
    },
  );
}

/**
 * Applies pending migrations, track by track and in order, each in its own transaction holding
 * the migration lock (safe with concurrent migrators, through a pooler too). Refuses to run when an applied migration's file changed, the database has
 * applied migrations this build does not know, or a track's preflight fails; all of that is
 * checked before anything is applied. A dry run only reads.
 */
export async function migrate(db: Database, options: MigrateOptions): Promise<MigrationRunResult> {
  const loaded = await loadTracks(options.tracks ?? CORE_ONLY);
  return execute(db, 'up', loaded, options, (states) => {
    const status = statusOf(states);
    assertNoDrift(status, { loaded, db });
    const core = states[0];
    const target = resolveTarget(options.to, core?.files ?? [], summarize(core?.entries ?? []));
    assertInOrder(status);
    const pending = (s: TrackState, upTo = Number.POSITIVE_INFINITY) =>
      s.entries.filter((e) => e.state === 'pending' && e.version <= upTo);
    // `to` names a core version; the optional tracks, which build on the whole core, wait for a full run.
    return {
      status,
      perTrack: states.map((s, i) => ({
        state: s,
        planned: (i === 0 ? pending(s, target) : options.to === undefined ? pending(s) : []).map(step),
      })),
    };
  });
}

/**
 * Rolls back core migrations above `to`, newest first, each in its own transaction holding the
 * migration lock; the optional tracks first and entirely when any core migration goes. Refuses
 * when one of them has no down section or its file changed, when the database moved away from
 * `expect` (the plan the caller confirmed), and stops when it moves during the run.
 */
export async function rollback(db: Database, options: RollbackOptions): Promise<MigrationRunResult> {
  const loaded = await loadTracks(options.tracks ?? CORE_ONLY);
  return execute(db, 'down', loaded, options, (states) => {
    const [core, ...rest] = states;
    const target = resolveTarget(options.to, core?.files ?? [], summarize(core?.entries ?? []));
    const undo = (s: TrackState, above: number) =>
      s.entries.filter((e) => e.state !== 'pending' && e.version > above).reverse();
    const coreSteps = core ? undo(core, target) : [];
    const perTrack = [
      ...rest.reverse().map((s) => ({ state: s, entries: coreSteps.length > 0 ? undo(s, 0) : [] })),
      ...(core ? [{ state: core, entries: coreSteps }] : []),
    ];
    const all = perTrack.flatMap((t) => t.entries);
    assertNoDrift({ ...summarize(all), drift: all.filter((e) => e.state !== 'applied') }, { loaded, db });
    const noDown = perTrack.flatMap((t) =>
      t.entries.filter((e) => !t.state.files.find((f) => f.name === e.name)?.down),
    );
    if (noDown.length > 0) {
      throw new LlmspellError(
        'MIGRATION_INVALID',
        `cannot roll back ${noDown.map((e) => e.name).join(', ')}: no "-- Down Migration" section`,
        {
          hint: 'Add the down section, or roll back to a later version.',
        },
      );
    }
    return {
      status: statusOf(states),
      perTrack: perTrack.map((t) => ({ state: t.state, planned: t.entries.map(step) })),
    };
  });
}
