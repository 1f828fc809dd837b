import pg from 'pg';
import { runner, type MigrationBuilder } from 'node-pg-migrate';
import { toDatabaseError } from '../db/errors.js';
import type { Database, Queryable } from '../db/types.js';
import { LlmspellError } from '../errors.js';
import { DEFAULT_MIGRATIONS_DIR, loadMigrationFiles, MIGRATION_FILE, type MigrationFile, type MigrationSection } from './catalog.js';
import { ensureLedger, HISTORY_TABLE, LEDGER_TABLE, MIGRATIONS_SCHEMA, readHistory } from './history.js';
import { withMigrationLock } from './lock.js';
import { compareMigrations, type MigrationStatus, type MigrationStatusEntry } from './status.js';

/** Limits every migration run obeys; from `[storage.postgres]`. */
export interface MigrationLimits {
  /** How long to wait for another migrator's lock (`migration_timeout_secs`). */
  lockWaitMs: number;
  /** `SET LOCAL statement_timeout` of each migration (`migration_timeout_secs`). */
  statementTimeoutMs: number;
  /** `SET LOCAL lock_timeout` of each migration (`migration_lock_timeout_secs`), so DDL never queues forever behind traffic. */
  lockTimeoutMs: number;
}

/** A step of a run, reported as it happens (for a progress display). */
export type MigrationProgress =
  | { phase: 'start'; direction: 'up' | 'down'; name: string; index: number; total: number }
  | { phase: 'done'; direction: 'up' | 'down'; name: string; index: number; total: number; durationMs: number };

/** Options of {@link migrate}. */
export interface MigrateOptions extends MigrationLimits {
  /** Migrations directory; default the package's `migrations/`. */
  dir?: string;
  /** Stop after this version (a number, or a migration name). */
  to?: number | string;
  /** Report what would run; change nothing at all (no tables, no lock). */
  dryRun?: boolean;
  onProgress?: (event: MigrationProgress) => void;
}

/** One migration a run applied or rolled back. */
export interface MigrationStep {
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
export interface RollbackOptions extends MigrationLimits {
  dir?: string;
  /** Roll back every migration above this version; 0 rolls back everything. */
  to: number | string;
  dryRun?: boolean;
  onProgress?: (event: MigrationProgress) => void;
}

const step = (entry: { version: number; name: string }): MigrationStep => ({ version: entry.version, name: entry.name });

function resolveTarget(to: number | string | undefined, files: readonly MigrationFile[], status: MigrationStatus): number {
  if (to === undefined) return Number.POSITIVE_INFINITY;
  const text = String(to).trim();
  if (/^\d+$/.test(text)) {
    const version = Number(text);
    if (version === 0 || files.some((f) => f.version === version) || status.entries.some((e) => e.version === version)) return version;
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
  throw new LlmspellError('MIGRATION_ORDER', `pending migrations are numbered below applied ones: ${status.outOfOrder.map((e) => e.name).join(', ')}`, {
    hint: 'Renumber them above the highest applied migration.',
  });
}

/** Line of the file where a server error's statement position falls, or the section's start. */
function lineOfError(section: MigrationSection, error: unknown): number {
  const position = Number((error as { position?: unknown }).position);
  if (!Number.isFinite(position) || position < 1) return section.line;
  let line = section.line;
  for (let i = 0; i < position - 1 && i < section.sql.length; i++) if (section.sql.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * Runs `count` migrations in `direction` through node-pg-migrate on one connection, one
 * transaction per migration. Each transaction starts with `SET LOCAL lock_timeout` and
 * `statement_timeout`, and records (or removes) the file's checksum in the ledger, so the
 * ledger never disagrees with the history table.
 */
async function runFiles(
  client: Queryable,
  files: readonly MigrationFile[],
  direction: 'up' | 'down',
  planned: readonly MigrationStep[],
  options: MigrationLimits & { dir: string; onProgress?: (event: MigrationProgress) => void },
): Promise<MigrationStep[]> {
  const byPath = new Map(files.map((file) => [file.path, file]));
  const done: MigrationStep[] = [];
  let current: { file: MigrationFile; section: MigrationSection; started: number } | undefined;
  const finishCurrent = () => {
    if (!current) return;
    const durationMs = Date.now() - current.started;
    done.push({ version: current.file.version, name: current.file.name, durationMs });
    options.onProgress?.({ phase: 'done', direction, name: current.file.name, index: done.length, total: planned.length, durationMs });
    current = undefined;
  };
  const prologue = [`SET LOCAL lock_timeout = ${options.lockTimeoutMs}`, `SET LOCAL statement_timeout = ${options.statementTimeoutMs}`];
  const ledger = `${MIGRATIONS_SCHEMA}.${LEDGER_TABLE}`;
  const action = (file: MigrationFile, section: MigrationSection, record: string) => (pgm: MigrationBuilder) => {
    finishCurrent();
    current = { file, section, started: Date.now() };
    options.onProgress?.({ phase: 'start', direction, name: file.name, index: done.length + 1, total: planned.length });
    for (const statement of prologue) pgm.sql(statement);
    pgm.sql(section.sql);
    pgm.sql(record);
  };

  try {
    await runner({
      dbClient: client as unknown as pg.ClientBase,
      dir: options.dir,
      ignorePattern: `(?!${MIGRATION_FILE.source.slice(1, -1)}$).*`,
      migrationsSchema: MIGRATIONS_SCHEMA,
      migrationsTable: HISTORY_TABLE,
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
              const up = action(file, file.up, `INSERT INTO ${ledger} (name, sha256) VALUES (${pg.escapeLiteral(file.name)}, ${pg.escapeLiteral(file.checksum)})`);
              const down = file.down ? action(file, file.down, `DELETE FROM ${ledger} WHERE name = ${pg.escapeLiteral(file.name)}`) : false;
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
    if (!current) throw toDatabaseError(error, 'the migration history');
    const { file, section } = current;
    const line = lineOfError(section, error);
    const cause = toDatabaseError(error, file.name);
    const statementLine = (section.sql.split('\n')[line - section.line] ?? '').trim();
    throw new LlmspellError('MIGRATION_FAILED', `migration ${file.name}.sql (${direction}) failed at line ${line}: ${cause.message}${statementLine ? `\n  ${line} | ${statementLine}` : ''}`, {
      hint: `Nothing of ${file.name} was applied${done.length > 0 ? ` (the ${done.length} migration(s) before it were)` : ''}; the database is at the previous version. Fix ${file.path} and run the command again.`,
      cause,
    });
  }
}

/**
 * Applies pending migrations in order, each in its own transaction, holding the migration lock.
 * Refuses to run when an applied migration's file changed, or the database has applied
 * migrations this build does not know. A dry run only reads.
 */
export async function migrate(db: Database, options: MigrateOptions): Promise<MigrationRunResult> {
  const dir = options.dir ?? DEFAULT_MIGRATIONS_DIR;
  const files = await loadMigrationFiles(dir);
  return db.withClient(async (client) => {
    const plan = async () => {
      const status = compareMigrations(files, await readHistory(client));
      assertNoDrift(status);
      const target = resolveTarget(options.to, files, status);
      assertInOrder(status);
      return { status, planned: status.entries.filter((e) => e.state === 'pending' && e.version <= target).map(step) };
    };
    if (options.dryRun) {
      const { status, planned } = await plan();
      return { dryRun: true, direction: 'up', planned, done: [], status };
    }
    return withMigrationLock(client, options.lockWaitMs, async () => {
      const { planned } = await plan();
      let done: MigrationStep[] = [];
      if (planned.length > 0) {
        await ensureLedger(client);
        done = await runFiles(client, files, 'up', planned, { ...options, dir });
      }
      return { dryRun: false, direction: 'up' as const, planned, done, status: compareMigrations(files, await readHistory(client)) };
    });
  });
}

/**
 * Rolls back applied migrations above `to`, newest first, each in its own transaction, under
 * the migration lock. Refuses when one of them has no down section or its file changed.
 */
export async function rollback(db: Database, options: RollbackOptions): Promise<MigrationRunResult> {
  const dir = options.dir ?? DEFAULT_MIGRATIONS_DIR;
  const files = await loadMigrationFiles(dir);
  const byName = new Map(files.map((file) => [file.name, file]));
  return db.withClient(async (client) => {
    const plan = async () => {
      const status = compareMigrations(files, await readHistory(client));
      const target = resolveTarget(options.to, files, status);
      const toUndo = status.entries.filter((e) => e.state !== 'pending' && e.version > target).reverse();
      assertNoDrift({ ...status, drift: toUndo.filter((e) => e.state !== 'applied') });
      const noDown = toUndo.filter((e) => !byName.get(e.name)?.down);
      if (noDown.length > 0) {
        throw new LlmspellError('MIGRATION_INVALID', `cannot roll back ${noDown.map((e) => e.name).join(', ')}: no "-- Down Migration" section`, {
          hint: 'Add the down section, or roll back to a later version.',
        });
      }
      return { status, planned: toUndo.map(step) };
    };
    if (options.dryRun) {
      const { status, planned } = await plan();
      return { dryRun: true, direction: 'down', planned, done: [], status };
    }
    return withMigrationLock(client, options.lockWaitMs, async () => {
      const { planned } = await plan();
      const done = planned.length > 0 ? await runFiles(client, files, 'down', planned, { ...options, dir }) : [];
      return { dryRun: false, direction: 'down' as const, planned, done, status: compareMigrations(files, await readHistory(client)) };
    });
  });
}

export type { MigrationStatus, MigrationStatusEntry };
