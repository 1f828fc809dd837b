/**
 * One migration applied (or rolled back) through node-pg-migrate, safe against concurrent
 * migrators whatever stands in front of the server: the migration's own transaction takes the
 * migration lock (`pg_advisory_xact_lock`) and re-checks the history under it, so a migration
 * another run applied meanwhile is skipped and no lock can outlive the transaction.
 */
import { resolve } from 'node:path';
import pg from 'pg';
import { runner, type MigrationBuilder } from 'node-pg-migrate';
import { DatabaseError, toDatabaseError } from '../db/errors.js';
import type { Queryable } from '../db/types.js';
import { LlmspellError } from '../errors.js';
import { MIGRATION_FILE, type MigrationFile, type MigrationSection, type MigrationTrack } from './catalog.js';
import { historyTable, LEDGER_TABLE, MIGRATIONS_SCHEMA } from './history.js';
import { LOCK_NOT_AVAILABLE, lockHeldError, lockWait, MIGRATION_LOCK_KEY } from './lock.js';

/** What a step needs to know besides its file. */
export interface StepOptions {
  track: MigrationTrack;
  direction: 'up' | 'down';
  /** How long to wait for another migrator's lock. */
  lockWaitMs: number;
  /** lock_timeout of the migration's own statements. */
  lockTimeoutMs: number;
  /** statement_timeout of a transactional migration (a `--! no-transaction` one has none: index builds take as long as they take). */
  statementTimeoutMs: number;
  /** Settings migrations read with `current_setting('llmspell.<name>')`. */
  parameters: Readonly<Record<string, string | number | boolean>>;
  /** Called once the step's SQL is about to be sent. */
  onStart?: () => void;
  /** How many migrations this run applied before this one (for the error's "nothing else" wording). */
  appliedBefore: number;
}

/** What became of a step: applied by this run, or found applied (rolled back) by another run meanwhile. */
export type StepOutcome = 'applied' | 'concurrent';

/** SQLSTATE the history guard raises when another migrator got there first (a user-defined class). */
const GUARD_SQLSTATE = 'LSM01';

const PARAMETER_NAME = /^[a-z][a-z0-9_]*$/;
const TRACK_ID = /^[a-z][a-z0-9_]*$/;
const CHECKSUM = /^[0-9a-f]{64}$/;

/** The few values that go into SQL text here, checked against their shapes on top of quoting. */
function assertSafe(options: StepOptions, file: MigrationFile): void {
  const bad = (what: string) => new LlmspellError('INTERNAL', `refusing to run migrations: ${what}`);
  if (!TRACK_ID.test(options.track.id)) throw bad(`invalid track id ${JSON.stringify(options.track.id)}`);
  for (const ms of [options.lockTimeoutMs, options.statementTimeoutMs, options.lockWaitMs]) {
    if (!Number.isSafeInteger(ms) || ms < 0 || ms > 2_147_483_647)
      throw bad(`timeout ${ms} ms is not an integer from 0 to 2147483647`);
  }
  if (!MIGRATION_FILE.test(`${file.name}.sql`) || !CHECKSUM.test(file.checksum))
    throw bad(`unexpected migration file ${JSON.stringify(file.name)}`);
  for (const name of Object.keys(options.parameters)) {
    if (!PARAMETER_NAME.test(name)) throw bad(`invalid migration parameter name ${JSON.stringify(name)}`);
  }
}

/**
 * The statements sent before a migration's own: wait for the lock, check the history under it,
 * then the migration's limits and parameters. `SET LOCAL` inside a transaction; session-level
 * `SET` (reset afterwards by {@link resetSession}) for a `--! no-transaction` migration.
 */
function prologue(file: MigrationFile, options: StepOptions): string[] {
  const set = file.noTransaction ? 'SET' : 'SET LOCAL';
  const history = `${MIGRATIONS_SCHEMA}.${historyTable(options.track.id)}`;
  const name = pg.escapeLiteral(file.name);
  const condition =
    options.direction === 'up'
      ? `EXISTS (SELECT 1 FROM ${history} WHERE name = ${name})`
      : // Down: it must still be applied, and nothing numbered above it.
        `NOT EXISTS (SELECT 1 FROM ${history} WHERE name = ${name})
         OR EXISTS (SELECT 1 FROM ${history} WHERE (substring(name FROM '^[0-9]+'))::numeric > ${file.version})`;
  return [
    `${set} lock_timeout = ${lockWait(options.lockWaitMs)}`,
    `${set} statement_timeout = 0`,
    file.noTransaction
      ? `SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`
      : `SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`,
    `DO $guard$ BEGIN
       IF ${condition} THEN
         RAISE EXCEPTION 'llmspell: another migrator changed % meanwhile', ${name} USING ERRCODE = '${GUARD_SQLSTATE}';
       END IF;
     END $guard$`,
    `${set} lock_timeout = ${options.lockTimeoutMs}`,
    `${set} statement_timeout = ${file.noTransaction ? 0 : options.statementTimeoutMs}`,
    ...Object.entries(options.parameters).map(
      ([key, value]) => `${set} llmspell.${key} = ${pg.escapeLiteral(String(value))}`,
    ),
  ];
}

/** The ledger change that goes with the step: its checksum recorded (up) or removed (down). */
function ledgerStatement(file: MigrationFile, options: StepOptions): string {
  const ledger = `${MIGRATIONS_SCHEMA}.${LEDGER_TABLE}`;
  const [track, name] = [pg.escapeLiteral(options.track.id), pg.escapeLiteral(file.name)];
  if (options.direction === 'down') return `DELETE FROM ${ledger} WHERE track = ${track} AND name = ${name}`;
  // A no-transaction migration that ran before may have recorded its checksum but not its history row.
  return `INSERT INTO ${ledger} (track, name, sha256) VALUES (${track}, ${name}, ${pg.escapeLiteral(file.checksum)})
          ON CONFLICT (track, name) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = now()`;
}

/** Ends what a `--! no-transaction` migration set for its session: the lock and the settings. */
async function resetSession(client: Queryable, options: StepOptions): Promise<void> {
  for (const name of [
    'lock_timeout',
    'statement_timeout',
    ...Object.keys(options.parameters).map((p) => `llmspell.${p}`),
  ]) {
    await client.query(`RESET ${name}`).catch(() => undefined);
  }
  await client.query(`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`).catch(() => undefined);
}

/** Indexes PostgreSQL marks INVALID (a failed CREATE INDEX CONCURRENTLY leaves one behind). */
async function invalidIndexes(client: Queryable): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    'SELECT indexrelid::regclass::text AS name FROM pg_index WHERE NOT indisvalid ORDER BY 1',
  );
  return rows.map((row) => row.name);
}

/**
 * Applies (or rolls back) one migration file through node-pg-migrate: its history row, our
 * checksum ledger and its statements in one transaction (or, for `--! no-transaction`, one by one
 * under a session lock on a direct connection). Returns `concurrent` when another migrator applied
 * it (up) meanwhile; a rollback whose migration moved meanwhile is `MIGRATION_PLAN_CHANGED`.
 */
export async function runStep(client: Queryable, file: MigrationFile, options: StepOptions): Promise<StepOutcome> {
  assertSafe(options, file);
  const section = options.direction === 'up' ? file.up : file.down;
  if (!section) throw new LlmspellError('MIGRATION_INVALID', `${file.name} has no "-- Down Migration" section`);
  const before = prologue(file, options);
  const invalidBefore = file.noTransaction ? new Set(await invalidIndexes(client)) : new Set<string>();
  // What was sent for this migration, to name the statement that failed.
  let sent = -1;
  const counting = {
    query: (text: string, values?: unknown[]) => {
      if (sent >= 0) sent++;
      return client.query(text, values);
    },
  };
  const action = (pgm: MigrationBuilder) => {
    if (file.noTransaction) pgm.noTransaction();
    options.onStart?.();
    sent = 0;
    for (const statement of before) pgm.sql(statement);
    for (const statement of section.statements) pgm.sql(statement.sql);
    pgm.sql(ledgerStatement(file, options));
  };
  try {
    const ran = await runner({
      dbClient: counting as unknown as pg.ClientBase,
      dir: resolve(options.track.dir), // absolute, like the catalog's paths
      ignorePattern: `(?!${MIGRATION_FILE.source.slice(1, -1)}$).*`,
      migrationsSchema: MIGRATIONS_SCHEMA,
      migrationsTable: historyTable(options.track.id),
      direction: options.direction,
      file: file.name,
      count: 1,
      singleTransaction: false,
      noLock: true, // the lock is the migration's own (prologue), never a session lock left behind
      checkOrder: true,
      log: () => undefined,
      migrationLoaderStrategies: [
        {
          extensions: ['.sql'],
          loader: async (paths: string[]) =>
            paths.map((path) => ({
              id: path,
              filePaths: [path],
              // Distinct functions: node-pg-migrate treats `down === up` as "infer the down migration".
              actions:
                path === file.path
                  ? { up: (pgm: MigrationBuilder) => action(pgm), down: (pgm: MigrationBuilder) => action(pgm) }
                  : { up: () => undefined, down: false as const },
            })),
        },
      ],
    });
    if (ran.length > 0) return 'applied';
    // node-pg-migrate found it already applied (up) or not applied any more (down).
    if (options.direction === 'up') return 'concurrent';
    throw planChanged(file);
  } catch (error) {
    // node-pg-migrate leaves the failed migration's transaction open: end it, so nothing of it stays.
    if (!file.noTransaction) await client.query('ROLLBACK').catch(() => undefined);
    const code = (error as { code?: unknown }).code;
    if (code === GUARD_SQLSTATE) {
      if (options.direction === 'up') return 'concurrent';
      throw planChanged(file);
    }
    if (error instanceof LlmspellError) throw error;
    // Sent: BEGIN (unless no-transaction), the prologue, then the section's statements.
    const index = sent - (file.noTransaction ? 0 : 1) - before.length;
    if (sent >= 0 && index <= 0 && code === LOCK_NOT_AVAILABLE) throw await lockHeldError(client, options.lockWaitMs);
    if (sent < 0) {
      // node-pg-migrate's own errors (loading files, its history table) can embed a whole stack: keep the first line.
      const cause = toDatabaseError(error, 'the migration history');
      throw new LlmspellError(cause.code, cause.message.split('\n')[0]!, {
        cause: error,
        ...(cause.hint ? { hint: cause.hint } : {}),
      });
    }
    const { line, text } = locateError(section, index - 1, error);
    const cleanup = file.noTransaction ? await dropNewInvalidIndexes(client, invalidBefore) : undefined;
    throw new MigrationError({
      track: options.track.id,
      file,
      direction: options.direction,
      line,
      statement: text,
      appliedBefore: options.appliedBefore,
      cause: toDatabaseError(error, file.name),
      ...(cleanup ? { cleanup } : {}),
    });
  } finally {
    if (file.noTransaction) await resetSession(client, options);
  }
}

/** After a failed no-transaction migration: drops the INVALID indexes it left, and says what was done. */
async function dropNewInvalidIndexes(client: Queryable, before: ReadonlySet<string>): Promise<NoTransactionCleanup> {
  const left = (await invalidIndexes(client).catch(() => [])).filter((name) => !before.has(name));
  const cleanup: NoTransactionCleanup = { dropped: [], remaining: [] };
  for (const name of left) {
    // The name comes from the catalog (regclass output, quoted as needed), never from input.
    const dropped = await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`).then(
      () => true,
      () => false,
    );
    (dropped ? cleanup.dropped : cleanup.remaining).push(name);
  }
  return cleanup;
}

function planChanged(file: MigrationFile): LlmspellError {
  return new LlmspellError(
    'MIGRATION_PLAN_CHANGED',
    `refusing to roll back ${file.name}: another migrator changed the database since the plan was made`,
    {
      hint: 'Nothing more was rolled back. Check `llmspell database migration-status`, then run the command again: it plans anew.',
    },
  );
}

/**
 * The statement a failure happened in, and the file line of the error within it
 * (`statementIndex`: the failing statement's position in the section).
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

/** What llmspell cleaned up after a failed `--! no-transaction` migration. */
export interface NoTransactionCleanup {
  /** INVALID indexes the failed statement left, dropped again. */
  dropped: string[];
  /** INVALID indexes it left and could not drop. */
  remaining: string[];
}

/**
 * A migration that failed: where (track, file, line, statement) and why (SQLSTATE). A
 * transactional one was rolled back entirely; a `--! no-transaction` one keeps the statements
 * that ran before the failing one, and says what was cleaned up.
 */
export class MigrationError extends LlmspellError {
  readonly track: string;
  readonly migration: string;
  readonly file: string;
  readonly line: number;
  readonly sqlstate: string | undefined;
  readonly cleanup: NoTransactionCleanup | undefined;

  constructor(failure: {
    track: string;
    file: MigrationFile;
    direction: 'up' | 'down';
    line: number;
    statement: string;
    appliedBefore: number;
    cause: LlmspellError;
    cleanup?: NoTransactionCleanup;
  }) {
    const { track, file, direction, line, statement, appliedBefore, cause, cleanup } = failure;
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
    const outcome = cleanup
      ? [
          `${name} runs outside a transaction (--! no-transaction), so it is not atomic: the statements before line ${line} were applied and stay; it is not recorded as applied.`,
          ...cleanup.dropped.map((index) => `The INVALID index ${index} the failed statement left was dropped.`),
          ...cleanup.remaining.map(
            (index) => `The failed statement left the INVALID index ${index}: DROP INDEX CONCURRENTLY ${index};`,
          ),
          `Fix ${file.path} (its statements must be safe to run again, e.g. IF NOT EXISTS) and run the command again.`,
        ].join('\n')
      : timedOut
        ? `Nothing of ${name} was applied${before}: it waited too long for a lock or ran too long. Run the command again when the database is quieter, or raise storage.postgres.${sqlstate === '55P03' ? 'migration_lock_timeout_secs' : 'migration_timeout_secs'}.`
        : `Nothing of ${name} was applied${before}; the database is at the previous version. ${serverHint ? `Once that is dealt with (in ${file.path} or on the server)` : `Fix ${file.path} and`} run the command again.`;
    super(
      'MIGRATION_FAILED',
      `migration ${name}.sql (${direction}) failed at line ${line}: ${cause.message}${statement ? `\n  ${line} | ${statement}` : ''}${where}`,
      { hint: [serverHint, outcome].filter(Boolean).join('\n'), cause },
    );
    this.track = track;
    this.migration = file.name;
    this.file = file.path;
    this.line = line;
    this.sqlstate = sqlstate;
    this.cleanup = cleanup;
  }

  override toJSON(): Record<string, unknown> {
    return {
      ...super.toJSON(),
      track: this.track,
      migration: this.migration,
      file: this.file,
      line: this.line,
      ...(this.sqlstate ? { sqlstate: this.sqlstate } : {}),
      ...(this.cleanup ? { cleanup: this.cleanup } : {}),
    };
  }
}
