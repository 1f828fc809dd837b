import { resolve } from 'node:path';
import pg from 'pg';
import { runner, type MigrationBuilder } from 'node-pg-migrate';
import { DatabaseError, toDatabaseError } from '../db/errors.js';
import type { Database, Queryable } from '../db/types.js';
import { LlmspellError } from '../errors.js';
import {
  DEFAULT_MIGRATIONS_DIR,
  MIGRATION_FILE,
  type MigrationFile,
  type MigrationSection,
  type MigrationTrack,
} from './catalog.js';
import { ensureLedger, grantHistoryReadAccess, historyTable, LEDGER_TABLE, MIGRATIONS_SCHEMA } from './history.js';
import { withMigrationLock } from './lock.js';
import {
  loadTracks,
  readTracks,
  statusOf,
  summarize,
  type LoadedTracks,
  type MigrationStatus,
  type TrackState,
} from './status.js';

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
  | { phase: 'start'; direction: 'up' | 'down'; track: string; name: string; index: number; total: number }
  | {
      phase: 'done';
      direction: 'up' | 'down';
      track: string;
      name: string;
      index: number;
      total: number;
      durationMs: number;
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
  /** Status after the run. */
  status: MigrationStatus;
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
  throw new LlmspellError('USAGE', `no migration ${JSON.stringify(text)}`, {
    hint: `Known versions: ${files.map((f) => f.version).join(', ') || '(none)'}. \`llmspell database migration-status\` lists them.`,
  });
}

function assertNoDrift(status: MigrationStatus): void {
  if (status.drift.length === 0) return;
  const lines = status.drift.map((e) =>
    e.state === 'unknown'
      ? `  ${e.name}: applied to the database, but this build has no such migration`
      : `  ${e.name}: ${e.recordedChecksum ? 'the file changed after it was applied' : 'applied without a recorded checksum'}`,
  );
  throw new LlmspellError('MIGRATION_DRIFT', `the database and the migration files disagree:\n${lines.join('\n')}`, {
    hint: 'Applied migrations must never be edited: restore the file as it was and put the change in a new migration. A database ahead of this build needs a newer llmspell.',
  });
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

/**
 * The statement a failure happened in, and the file line of the error within it. `sentIndex` is
 * the position, among the statements sent for the current migration, of the one that failed:
 * node-pg-migrate sends `BEGIN`, then the prologue, then the section's statements in order.
 */
function locateError(
  section: MigrationSection,
  statementIndex: number,
  error: unknown,
): { line: number; text: string } {
  const statement = section.statements[statementIndex] ?? { sql: '', line: section.line };
  const position = Number((error as { position?: unknown }).position);
  let line = statement.line;
  if (Number.isFinite(position) && position >= 1) {
    for (let i = 0; i < position - 1 && i < statement.sql.length; i++) if (statement.sql.charCodeAt(i) === 10) line++;
  }
  const text = (statement.sql.split('\n')[line - statement.line] ?? '').trim();
  return { line, text };
}

const PARAMETER_NAME = /^[a-z][a-z0-9_]*$/;
const TRACK_ID = /^[a-z][a-z0-9_]*$/;
const CHECKSUM = /^[0-9a-f]{64}$/;

/**
 * The few values that do go into SQL text here (statement timeouts, ledger rows, track names):
 * checked against their shapes first, on top of quoting, so that nothing else can get there.
 */
function assertSafe(options: RunFilesOptions, files: readonly MigrationFile[]): void {
  const bad = (what: string) => new LlmspellError('INTERNAL', `refusing to run migrations: ${what}`);
  if (!TRACK_ID.test(options.track.id)) throw bad(`invalid track id ${JSON.stringify(options.track.id)}`);
  for (const ms of [options.lockTimeoutMs, options.statementTimeoutMs]) {
    if (!Number.isSafeInteger(ms) || ms < 0 || ms > 2_147_483_647)
      throw bad(`timeout ${ms} ms is not an integer from 0 to 2147483647`);
  }
  for (const file of files) {
    if (!MIGRATION_FILE.test(`${file.name}.sql`) || !CHECKSUM.test(file.checksum))
      throw bad(`unexpected migration file ${JSON.stringify(file.name)}`);
  }
}

/** `SET LOCAL` statements for migration parameters (names checked, values quoted). */
function parameterStatements(parameters: Readonly<Record<string, string | number | boolean>>): string[] {
  return Object.entries(parameters).map(([name, value]) => {
    if (!PARAMETER_NAME.test(name))
      throw new LlmspellError('INTERNAL', `invalid migration parameter name ${JSON.stringify(name)}`);
    return `SET LOCAL llmspell.${name} = ${pg.escapeLiteral(String(value))}`;
  });
}

interface RunFilesOptions extends MigrationLimits {
  track: MigrationTrack;
  parameters: Readonly<Record<string, string | number | boolean>>;
  onProgress?: (event: MigrationProgress) => void;
  /** Where this track's migrations stand in the whole run, for progress: how many came before, and the total. */
  progress: { before: number; total: number };
}

/**
 * Runs the planned migrations of one track in `direction` through node-pg-migrate on one
 * connection, one transaction per migration. Each transaction starts with `SET LOCAL
 * lock_timeout`, `statement_timeout` and the migration parameters, and records (or removes) the
 * file's checksum in the ledger, so the ledger never disagrees with the history table.
 */
async function runFiles(
  client: Queryable,
  files: readonly MigrationFile[],
  direction: 'up' | 'down',
  planned: readonly MigrationStep[],
  options: RunFilesOptions,
): Promise<MigrationStep[]> {
  assertSafe(options, files);
  const { track } = options;
  const byPath = new Map(files.map((file) => [file.path, file]));
  const done: MigrationStep[] = [];
  let current: { file: MigrationFile; section: MigrationSection; started: number } | undefined;
  const finishCurrent = () => {
    if (!current) return;
    const durationMs = Date.now() - current.started;
    done.push({ track: track.id, version: current.file.version, name: current.file.name, durationMs });
    options.onProgress?.({
      phase: 'done',
      direction,
      track: track.id,
      name: current.file.name,
      index: options.progress.before + done.length,
      total: options.progress.total,
      durationMs,
    });
    current = undefined;
  };
  const prologue = [
    `SET LOCAL lock_timeout = ${options.lockTimeoutMs}`,
    `SET LOCAL statement_timeout = ${options.statementTimeoutMs}`,
    ...parameterStatements(options.parameters),
  ];
  const ledger = `${MIGRATIONS_SCHEMA}.${LEDGER_TABLE}`;
  const trackLiteral = pg.escapeLiteral(track.id);
  const action = (file: MigrationFile, section: MigrationSection, record: string) => (pgm: MigrationBuilder) => {
    finishCurrent();
    current = { file, section, started: Date.now() };
    sent = 0;
    options.onProgress?.({
      phase: 'start',
      direction,
      track: track.id,
      name: file.name,
      index: options.progress.before + done.length + 1,
      total: options.progress.total,
    });
    for (const statement of prologue) pgm.sql(statement);
    for (const statement of section.statements) pgm.sql(statement.sql);
    pgm.sql(record);
  };

  // Counts what is sent for the current migration, to name the statement that failed.
  let sent = 0;
  const counting = {
    query: (text: string, values?: unknown[]) => {
      sent++;
      return client.query(text, values);
    },
  };
  try {
    await runner({
      dbClient: counting as unknown as pg.ClientBase,
      dir: resolve(track.dir), // absolute, like the catalog's paths
      ignorePattern: `(?!${MIGRATION_FILE.source.slice(1, -1)}$).*`,
      migrationsSchema: MIGRATIONS_SCHEMA,
      migrationsTable: historyTable(track.id),
      direction,
      count: planned.length,
      singleTransaction: false,
      noLock: true, // we hold our own lock, with a bounded wait (lock.ts)
      checkOrder: true,
      log: () => undefined,
      migrationLoaderStrategies: [
        {
          extensions: ['.sql'],
          loader: async (paths: string[]) =>
            paths.map((path) => {
              const file = byPath.get(path)!;
              const name = pg.escapeLiteral(file.name);
              const up = action(
                file,
                file.up,
                `INSERT INTO ${ledger} (track, name, sha256) VALUES (${trackLiteral}, ${name}, ${pg.escapeLiteral(file.checksum)})`,
              );
              const down = file.down
                ? action(file, file.down, `DELETE FROM ${ledger} WHERE track = ${trackLiteral} AND name = ${name}`)
                : false;
              return { id: path, filePaths: [path], actions: { up, down } };
            }),
        },
      ],
    });
    finishCurrent();
    return done;
  } catch (error) {
    // node-pg-migrate leaves the failed migration's transaction open: end it, so nothing of it stays.
    await client.query('ROLLBACK').catch(() => undefined);
    if (!current) {
      // node-pg-migrate's own errors (loading files, its history table) can embed a whole stack: keep the first line.
      const cause = toDatabaseError(error, 'the migration history');
      throw new LlmspellError(cause.code, cause.message.split('\n')[0]!, {
        cause: error,
        ...(cause.hint ? { hint: cause.hint } : {}),
      });
    }
    const { file, section } = current;
    // Sent: BEGIN, the prologue, then statements; the failing one is the last sent.
    const { line, text } = locateError(section, sent - 2 - prologue.length, error);
    throw new MigrationError({
      track: track.id,
      file,
      direction,
      line,
      statement: text,
      appliedBefore: done.length,
      cause: toDatabaseError(error, file.name),
    });
  }
}

/** A migration that failed and was rolled back: where (track, file, line, statement) and why (SQLSTATE). */
export class MigrationError extends LlmspellError {
  readonly track: string;
  readonly migration: string;
  readonly file: string;
  readonly line: number;
  readonly sqlstate: string | undefined;

  constructor(failure: {
    track: string;
    file: MigrationFile;
    direction: 'up' | 'down';
    line: number;
    statement: string;
    appliedBefore: number;
    cause: LlmspellError;
  }) {
    const { track, file, direction, line, statement, appliedBefore, cause } = failure;
    const name = track === 'core' ? file.name : `${track}/${file.name}`;
    const sqlstate = cause instanceof DatabaseError ? cause.sqlstate : undefined;
    const where =
      cause instanceof DatabaseError && cause.fields.where ? `\n  in ${cause.fields.where.split('\n')[0]}` : '';
    // A lock or statement timeout is about the moment, not the file: retrying is the fix.
    const timedOut = sqlstate === '55P03' || sqlstate === '57014';
    const before = appliedBefore > 0 ? ` (the ${appliedBefore} migration(s) before it in this run were)` : '';
    const alreadyThere =
      sqlstate === '42P07' || sqlstate === '42710'
        ? 'The database already has an object this migration creates: made by hand, or by another tool. `llmspell database migration-status` shows what is recorded; drop the stray object, or roll back to before this migration, then migrate again.'
        : undefined;
    const serverHint = (cause instanceof DatabaseError ? cause.fields.serverHint : undefined) ?? alreadyThere;
    super(
      'MIGRATION_FAILED',
      `migration ${name}.sql (${direction}) failed at line ${line}: ${cause.message}${statement ? `\n  ${line} | ${statement}` : ''}${where}`,
      {
        hint: [
          serverHint,
          timedOut
            ? `Nothing of ${name} was applied${before}: it waited too long for a lock or ran too long. Run the command again when the database is quieter, or raise storage.postgres.${sqlstate === '55P03' ? 'migration_lock_timeout_secs' : 'migration_timeout_secs'}.`
            : `Nothing of ${name} was applied${before}; the database is at the previous version. ${serverHint ? `Once that is dealt with (in ${file.path} or on the server)` : `Fix ${file.path} and`} run the command again.`,
        ]
          .filter(Boolean)
          .join('\n'),
        cause,
      },
    );
    this.track = track;
    this.migration = file.name;
    this.file = file.path;
    this.line = line;
    this.sqlstate = sqlstate;
  }

  override toJSON(): Record<string, unknown> {
    return {
      ...super.toJSON(),
      track: this.track,
      migration: this.migration,
      file: this.file,
      line: this.line,
      ...(this.sqlstate ? { sqlstate: this.sqlstate } : {}),
    };
  }
}

/** The package's own core migrations, when no tracks are given. */
const CORE_ONLY: readonly MigrationTrack[] = [{ id: 'core', dir: DEFAULT_MIGRATIONS_DIR }];

/** What a run will do: the migrations per track, in the order they run. */
interface Plan {
  status: MigrationStatus;
  perTrack: Array<{ state: TrackState; planned: MigrationStep[] }>;
}

/**
 * The one way a plan is carried out: a dry run only reports it; otherwise it is re-made under the
 * migration lock (another migrator may have moved the database meanwhile) and run track by track.
 */
function execute(
  db: Database,
  direction: 'up' | 'down',
  loaded: LoadedTracks,
  options: MigrationLimits & MigrationSource & { dryRun?: boolean; onProgress?: (event: MigrationProgress) => void },
  plan: (states: TrackState[]) => Promise<Plan> | Plan,
): Promise<MigrationRunResult> {
  return db.withClient(async (client) => {
    const make = async () => {
      const made = await plan(await readTracks(client, loaded));
      for (const { state, planned } of made.perTrack)
        if (planned.length > 0 && direction === 'up') await state.track.preflight?.(client);
      return { ...made, planned: made.perTrack.flatMap((t) => t.planned) };
    };
    if (options.dryRun) {
      const { status, planned } = await make();
      return { dryRun: true, direction, planned, done: [], status };
    }
    return withMigrationLock(client, options.lockWaitMs, async () => {
      const { perTrack, planned } = await make();
      if (direction === 'up' && planned.length > 0) await ensureLedger(client);
      const done: MigrationStep[] = [];
      for (const { state, planned: steps } of perTrack) {
        if (steps.length === 0) continue;
        const progress = { before: done.length, total: planned.length };
        done.push(
          ...(await runFiles(client, state.files, direction, steps, {
            ...options,
            track: state.track,
            parameters: options.parameters ?? {},
            progress,
          })),
        );
      }
      if (direction === 'up') await grantHistoryReadAccess(client);
      return { dryRun: false, direction, planned, done, status: statusOf(await readTracks(client, loaded)) };
    });
  });
}

/**
 * Applies pending migrations, track by track and in order, each in its own transaction, holding
 * the migration lock. Refuses to run when an applied migration's file changed, the database has
 * applied migrations this build does not know, or a track's preflight fails; all of that is
 * checked before anything is applied. A dry run only reads.
 */
export async function migrate(db: Database, options: MigrateOptions): Promise<MigrationRunResult> {
  const loaded = await loadTracks(options.tracks ?? CORE_ONLY);
  return execute(db, 'up', loaded, options, (states) => {
    const status = statusOf(states);
    assertNoDrift(status);
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
 * Rolls back core migrations above `to`, newest first, each in its own transaction, under the
 * migration lock; the optional tracks first and entirely when any core migration goes. Refuses
 * when one of them has no down section or its file changed.
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
    assertNoDrift({ ...summarize(all), drift: all.filter((e) => e.state !== 'applied') });
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
