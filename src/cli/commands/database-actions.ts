/**
 * The `database` commands' handlers. Loaded only when a `database` command runs, so that `config`
 * commands do not pay for the database drivers and the migration engine.
 */
import { randomUUID } from 'node:crypto';
import type { ResolvedConfig } from '../../config/load.js';
import type { Settings } from '../../config/schema.js';
import type { OpenProgress } from '../../db/pglite-source.js';
import { embeddedDataDir, type OpenDatabaseOptions } from '../../db/open.js';
import { dataDirState } from '../../db/pglite-source.js';
import type { Database } from '../../db/types.js';
import { describeOrigin, LlmspellError } from '../../errors.js';
import { healthCheck, type HealthReport } from '../../health/health-check.js';
import type { PartitionChange } from '../../storage/modules/events/partitions.js';
import { maintain, type MaintenanceReport, type VectorIndexMaintenance } from '../../maintenance/maintain.js';
import type { VchordrqRebuild } from '../../storage/modules/vectors/vchordrq-indexes.js';
import { toDatabaseError } from '../../db/errors.js';
import { olderServerWarning } from '../../db/server-version.js';
import { migrationLimits, migrationSource, openMigrationDatabase } from '../../migrate/connect.js';
import {
  migrate,
  rollback,
  unknownTarget,
  type MigrationProgress,
  type MigrationRunResult,
} from '../../migrate/run.js';
import { loadTracks, migrationStatus, type MigrationStatus } from '../../migrate/status.js';
import { openStorage } from '../../storage/open-storage.js';
import type { CommandContext } from '../context.js';
import { whenInterrupted } from '../interrupt.js';
import { EXIT, exitCodeFor } from '../exit-codes.js';
import type { Output } from '../output.js';

/** `--migrations-dir` is for tests and custom builds; users run the package's own migrations. */
export interface DirOption {
  migrationsDir?: string;
}

function showOpenProgress(out: Output): (event: OpenProgress) => void {
  return (event) => {
    if (event.phase === 'initialising')
      out.progress(`Creating the embedded database in ${event.dataDir} (first run only: about 5–10 s)…`);
    else out.progress(`Embedded database created in ${(event.elapsedMs / 1000).toFixed(1)}s.`);
  };
}

/**
 * Shows each migration as it starts (on a terminal), and keeps what a Ctrl-C would mean up to date:
 * which migrations are done, and what becomes of the one under way.
 */
function showMigrationProgress(out: Output): (event: MigrationProgress) => void {
  const done: string[] = [];
  const verb = (event: MigrationProgress) => (event.direction === 'up' ? 'applied' : 'rolled back');
  return (event) => {
    if (event.phase === 'start') {
      out.progress(
        `[${event.index}/${event.total}] ${event.direction === 'up' ? 'applying' : 'rolling back'} ${shown(event)}…`,
      );
      const before = done.length > 0 ? `${done.join(', ')} ${done.length === 1 ? 'was' : 'were'} ${verb(event)}; ` : '';
      const current = event.atomic
        ? `nothing of ${shown(event)} was ${verb(event)} (its transaction ends with the connection)`
        : `${shown(event)} runs outside a transaction (--! no-transaction): the statements of it that completed stay, and it is not recorded as ${verb(event)}; run the command again`;
      whenInterrupted(() => `${before}${current}.`);
    } else if (event.phase === 'done') {
      done.push(shown(event));
      whenInterrupted(
        () => `${done.join(', ')} ${done.length === 1 ? 'was' : 'were'} ${verb(event)}; nothing else was.`,
      );
    } else {
      out.progress(`[${event.index}/${event.total}] ${shown(event)}: applied meanwhile by another migrator, skipped.`);
    }
  };
}

/**
 * Where the connection URLs were set (`LLMSPELL_STORAGE_POSTGRES_URL`, `DATABASE_URL`, a file,
 * `--set`), so that a connection error names the place to fix.
 */
function urlOrigins({ origins }: ResolvedConfig): { urlOrigin?: string; migrationUrlOrigin?: string } {
  const described = (key: string) => {
    const origin = origins.get(key);
    return origin && origin.kind !== 'default' ? describeOrigin(origin) : undefined;
  };
  const urlOrigin = described('storage.postgres.url');
  const migrationUrlOrigin = described('storage.postgres.migration_url');
  return { ...(urlOrigin ? { urlOrigin } : {}), ...(migrationUrlOrigin ? { migrationUrlOrigin } : {}) };
}

/**
 * The database a command ran on: its path or redacted URL, said in human output with "(not
 * created yet)" when the embedded database does not exist (as `Date` reads one way in text and
 * another in JSON), and in `--json` as the bare path, which scripts can use.
 */
class DatabaseTarget {
  constructor(
    readonly path: string,
    readonly exists: boolean,
  ) {}

  toString(): string {
    return this.exists ? this.path : `${this.path} (not created yet)`;
  }

  toJSON(): string {
    return this.path;
  }
}

/**
 * What a command does when the embedded database does not exist yet: `create` it (migrate),
 * read an empty in-memory one in its place (`substitute`: status, dry runs, rollback — it has
 * exactly nothing applied), or `refuse` (maintain). Only `create` ever writes to the disk.
 */
type WhenMissing = 'create' | 'substitute' | 'refuse';

/**
 * Opens the database for a migration command and closes it afterwards. The target printed stays
 * the real one. A directory that holds something other than a database is refused by every command.
 */
async function withMigrationDatabase<T>(
  ctx: CommandContext,
  whenMissing: WhenMissing,
  fn: (db: Database, settings: Settings, target: DatabaseTarget) => Promise<T>,
  open: Pick<OpenDatabaseOptions, 'extensions'> = {},
): Promise<T> {
  const resolved = await ctx.loadConfig();
  const { settings } = resolved;
  const dataDir = embeddedDataDir(settings, ctx.io.env);
  const missing =
    whenMissing !== 'create' && settings.storage.backend === 'embedded' && (await dataDirState(dataDir)) === 'new';
  if (missing && whenMissing === 'refuse') {
    throw new LlmspellError('DB_NOT_FOUND', `no embedded database at ${dataDir} yet`, {
      hint: 'Nothing was created. `llmspell database migrate` creates it.',
    });
  }
  const db = await openMigrationDatabase(settings, {
    env: ctx.io.env,
    ...open,
    ...urlOrigins(resolved),
    onProgress: showOpenProgress(ctx.out),
    ...(missing ? { backend: 'memory' as const } : {}),
  });
  const target = missing ? new DatabaseTarget(dataDir, false) : new DatabaseTarget(db.target, true);
  try {
    return await fn(db, settings, target);
  } finally {
    await db.close();
  }
}

/** A migration as users see it: `0003_temporal_graph`, or `vector/0001_vector_embeddings` for an optional track. */
const shown = (entry: { track: string; name: string }) =>
  entry.track === 'core' ? entry.name : `${entry.track}/${entry.name}`;

const stamp = (date: Date | null) =>
  date
    ? date
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z')
    : '';

/** Maintenance after a migration run: what it did, or why it could not. */
type MaintenanceOutcome = MaintenanceReport | { failed: LlmspellError };

function reportRun(
  ctx: CommandContext,
  target: DatabaseTarget,
  result: MigrationRunResult,
  maintenance?: MaintenanceOutcome,
): number {
  const { out } = ctx;
  const maintained =
    maintenance === undefined
      ? {}
      : 'failed' in maintenance
        ? { maintenance: { status: 'failed', error: maintenance.failed.toJSON() } }
        : { maintenance };
  out.json({ target, ...result, ...maintained });
  if (result.server.support === 'supported') {
    out.warn(
      olderServerWarning({ version: result.server.version, num: result.server.versionNum, support: 'supported' }),
    );
  }
  const verb = result.direction === 'up' ? 'apply' : 'roll back';
  const total = result.status.entries.filter((e) => e.state !== 'unknown').length;
  if (result.dryRun) {
    if (result.planned.length === 0) out.line(`Nothing to ${verb} on ${target} (dry run).`);
    else out.line(`Would ${verb} ${result.planned.length} migration(s) on ${target} (dry run: nothing was changed):`);
    for (const step of result.planned) out.line(`  ${shown(step)}`);
    return EXIT.OK;
  }
  if (result.done.length === 0) {
    if (result.direction === 'down') out.line(`Nothing to roll back (${target}).`);
    else if (result.status.pending > 0)
      out.line(
        `Nothing to apply up to the requested version; ${result.status.applied} of ${total} migrations applied, ${result.status.pending} pending (${target}).`,
      );
    else out.line(`Nothing to migrate: all ${total} migrations applied (${target}).`);
  } else {
    out.line(
      `${result.direction === 'up' ? 'Applied' : 'Rolled back'} ${result.done.length} migration(s) on ${target}:`,
    );
    for (const step of result.done) out.line(`  ${out.style.green('✓')} ${shown(step)} (${step.durationMs ?? 0} ms)`);
    out.line(`${result.status.applied} of ${total} migrations applied.`);
  }
  if (result.skipped.length > 0) {
    out.line(`Applied meanwhile by another migrator (skipped here): ${result.skipped.map(shown).join(', ')}.`);
  }
  if (maintenance && 'failed' in maintenance) {
    // The migrations stand: say so, then the failure (in --json mode the document above holds both).
    out.line('Event-log maintenance failed after the migrations; the migrations above are applied.');
    if (!out.options.json) out.error(maintenance.failed);
    return exitCodeFor(maintenance.failed);
  }
  if (maintenance) reportMaintenance(ctx, maintenance, 'after');
  return EXIT.OK;
}

/** Prints what maintenance did; `busy` is a warning (try again later), not a failure. */
function reportMaintenance(
  ctx: CommandContext,
  report: MaintenanceReport,
  when: 'after' | 'alone',
  dryRun = false,
): void {
  reportEventLog(ctx, report, when);
  const { vectorIndexes } = report;
  if (vectorIndexes.status === 'skipped') return;
  reportTenantIndexes(ctx, vectorIndexes, when, dryRun);
  reportRebuilds(ctx, vectorIndexes.rebuilt, dryRun);
}

function reportTenantIndexes(
  ctx: CommandContext,
  vectorIndexes: VectorIndexMaintenance,
  when: 'after' | 'alone',
  dryRun: boolean,
): void {
  if (vectorIndexes.changes.length === 0) {
    if (when === 'alone') ctx.out.line(`Tenant vector indexes are up to date (${vectorIndexes.indexes}).`);
    return;
  }
  ctx.out.line(
    dryRun ? 'Tenant vector indexes would change (dry run: nothing was changed):' : 'Tenant vector indexes:',
  );
  for (const change of vectorIndexes.changes) {
    const action = dryRun ? { created: 'would create', dropped: 'would drop' }[change.action] : change.action;
    const why = change.reason ? `, ${REASONS[change.reason]}` : '';
    ctx.out.line(
      `  ${action} ${change.index} on ${change.table} for tenant ${JSON.stringify(change.tenant)} (${change.rows} rows${why})`,
    );
  }
  ctx.out.line(
    dryRun
      ? `${vectorIndexes.indexes} tenant vector index(es) after such a run.`
      : `${vectorIndexes.indexes} tenant vector index(es) in place.`,
  );
}

/** VectorChord index rebuilds; a swap left pending is a warning (the next run finishes it). */
function reportRebuilds(ctx: CommandContext, rebuilt: readonly VchordrqRebuild[], dryRun: boolean): void {
  const lists = (value: readonly number[] | null) =>
    value === null ? 'a build left by an earlier run' : value.length === 0 ? 'no lists' : `lists [${value.join(', ')}]`;
  for (const change of rebuilt) {
    const what = `${change.index} on ${change.table} (${change.rows} rows): ${lists(change.from)} → ${lists(change.lists)}`;
    if (dryRun) ctx.out.line(`VectorChord index would be rebuilt (dry run): ${what}`);
    else if (change.status === 'rebuilt') ctx.out.line(`VectorChord index rebuilt: ${what}`);
    else {
      ctx.out.warn(
        `VectorChord index rebuilt but not yet renamed: ${what}; a lock stayed held past storage.postgres.maintenance_lock_timeout_secs. Run \`llmspell database maintain\` again to finish (the new index already serves the searches).`,
      );
    }
  }
}

const REASONS = {
  shrank: 'under half of storage.postgres.vector_embeddings.tenant_index_min_rows',
  cap: 'larger tenants fill storage.postgres.vector_embeddings.max_tenant_indexes',
  invalid: 'left invalid or unlabelled by an interrupted build; built again when still due',
} as const;

function reportEventLog(ctx: CommandContext, report: MaintenanceReport, when: 'after' | 'alone'): void {
  const { eventLog } = report;
  if (eventLog.status === 'busy') {
    ctx.out.warn(
      `Event-log maintenance skipped: busy (a lock stayed held past storage.postgres.maintenance_lock_timeout_secs in ${eventLog.attempts} attempts); nothing was changed. Run \`llmspell database maintain\` again later.`,
    );
    return;
  }
  if (eventLog.changes.length === 0) {
    if (when === 'alone') ctx.out.line('Event log partitions are up to date.');
    return;
  }
  ctx.out.line('Event log partitions:');
  reportPartitions(ctx, eventLog.changes);
}

/**
 * Checks `--migrations-dir` and `--to` against the migration files before any database is opened,
 * so that a typo costs a message rather than a first run (the embedded database is created only
 * for a command that can go ahead). A `--to` that is a number is left to the run, which also knows
 * versions that only the database has applied.
 */
async function checkMigrationArguments(ctx: CommandContext, opts: DirOption & { to?: string }): Promise<void> {
  const { settings } = await ctx.loadConfig();
  const { tracks } = migrationSource(settings, opts.migrationsDir);
  let loaded;
  try {
    loaded = await loadTracks(tracks);
  } catch (error) {
    const cause = error instanceof LlmspellError ? (error.cause as NodeJS.ErrnoException | undefined) : undefined;
    if (opts.migrationsDir === undefined || cause?.code === undefined) throw error;
    throw new LlmspellError('USAGE', `--migrations-dir ${opts.migrationsDir}: cannot read it (${cause.code})`, {
      hint: 'Name a directory of NNNN_name.sql files, or leave the option out for the migrations llmspell ships.',
    });
  }
  const core = loaded[0]?.files ?? [];
  if (opts.migrationsDir !== undefined && core.length === 0) {
    ctx.out.warn(`--migrations-dir ${opts.migrationsDir} holds no migration files (NNNN_name.sql): nothing to run`);
  }
  const text = opts.to?.trim();
  if (text === undefined || /^\d+$/.test(text) || core.some((f) => f.name === text || `${f.name}.sql` === text)) return;
  throw unknownTarget(text, core);
}

export async function runMigrate(
  ctx: CommandContext,
  opts: DirOption & { dryRun?: boolean; to?: string },
): Promise<number> {
  whenInterrupted(() => 'nothing was migrated.');
  await checkMigrationArguments(ctx, opts);
  return withMigrationDatabase(ctx, opts.dryRun === true ? 'substitute' : 'create', async (db, settings, target) => {
    const result = await migrate(db, {
      ...migrationLimits(settings),
      ...migrationSource(settings, opts.migrationsDir),
      ...(opts.to !== undefined ? { to: opts.to } : {}),
      dryRun: opts.dryRun === true,
      onProgress: showMigrationProgress(ctx.out),
    });
    if (result.dryRun) return reportRun(ctx, target, result);
    // Keep the event-log partitions current after every real run; one report (one JSON document) for
    // both, and a failed maintenance never hides the migrations that were applied.
    const maintenance: MaintenanceOutcome = await maintain(db, settings).catch((error: unknown) => ({
      failed: toDatabaseError(error, target.path),
    }));
    return reportRun(ctx, target, result, maintenance);
  });
}

function reportPartitions(ctx: CommandContext, changes: readonly PartitionChange[]): void {
  for (const change of changes) {
    const range =
      change.rangeStart && change.rangeEnd ? ` [${stamp(change.rangeStart)} .. ${stamp(change.rangeEnd)})` : '';
    const rows =
      change.rows > 0
        ? ` (${change.rows} rows ${change.action === 'purged' ? 'purged' : 'moved from the default partition'})`
        : '';
    ctx.out.line(`  ${change.action} ${change.partition}${range}${rows}`);
  }
}

export async function runMaintain(ctx: CommandContext, opts: { dryRun?: boolean } = {}): Promise<number> {
  return withMigrationDatabase(ctx, 'refuse', async (db, settings, target) => {
    const dryRun = opts.dryRun === true;
    const report = await maintain(db, settings, { dryRun });
    if (report.eventLog.status === 'skipped') {
      throw new LlmspellError('MIGRATION_PENDING', `no event log in ${target} yet`, {
        hint: 'Run `llmspell database migrate` first.',
      });
    }
    ctx.out.json({ target, dryRun, ...report });
    if (report.eventLog.status === 'done' && report.eventLog.changes.length > 0) {
      ctx.out.line(
        dryRun
          ? `Event log maintenance would change on ${target} (dry run: nothing was changed):`
          : `Event log maintenance on ${target}:`,
      );
    }
    reportMaintenance(ctx, report, 'alone', dryRun);
    return EXIT.OK;
  });
}

function statusExit(status: MigrationStatus): number {
  // Out-of-order pending migrations are refused by migrate as drift, so they are drift here too.
  if (status.drift.length > 0 || status.outOfOrder.length > 0) return EXIT.DRIFT;
  return status.pending > 0 ? EXIT.PENDING : EXIT.OK;
}

export async function runStatus(ctx: CommandContext, opts: DirOption): Promise<number> {
  // The history is llmspell's own tables: no extension is needed to read it.
  return withMigrationDatabase(
    ctx,
    'substitute',
    async (db, settings, target) => {
      const { tracks } = migrationSource(settings, opts.migrationsDir);
      const status = await db.withClient((client) => migrationStatus(client, tracks));
      const { out } = ctx;
      out.json({ target, ...status });
      const width = Math.max(4, ...status.entries.map((e) => shown(e).length));
      const colour = {
        applied: out.style.green,
        pending: out.style.yellow,
        changed: out.style.red,
        unknown: out.style.red,
      };
      out.line(`${'version'.padStart(7)}  ${'name'.padEnd(width)}  ${'state'.padEnd(7)}  applied on`);
      for (const e of status.entries) {
        out.line(
          `${String(e.version).padStart(7)}  ${shown(e).padEnd(width)}  ${colour[e.state](e.state.padEnd(7))}  ${stamp(e.appliedOn)}`,
        );
      }
      const total = status.entries.filter((e) => e.state !== 'unknown').length;
      const drift =
        status.drift.length > 0
          ? `, ${status.drift.length} drifted (changed after applying, or unknown to this build)`
          : '';
      out.line(`${total} migrations: ${status.applied} applied, ${status.pending} pending${drift} (${target}).`);
      return statusExit(status);
    },
    { extensions: 'none' },
  );
}

export async function runRollback(
  ctx: CommandContext,
  opts: DirOption & { to?: string; yes?: boolean; dryRun?: boolean },
): Promise<number> {
  whenInterrupted(() => 'nothing was rolled back.');
  if (opts.to === undefined) {
    throw new LlmspellError('USAGE', 'rollback needs --to VERSION (0 rolls back everything)', {
      hint: 'See `llmspell database migration-status` for versions.',
    });
  }
  await checkMigrationArguments(ctx, opts);
  return withMigrationDatabase(ctx, 'substitute', async (db, settings, target) => {
    const base = {
      ...migrationLimits(settings),
      ...migrationSource(settings, opts.migrationsDir),
      to: opts.to!,
      onProgress: showMigrationProgress(ctx.out),
    };
    let confirmed: MigrationRunResult['planned'] | undefined;
    if (!opts.dryRun && !opts.yes) {
      const preview = await rollback(db, { ...base, dryRun: true });
      // Nothing to do: said as what was asked (a rollback), not as the dry run it was planned by.
      if (preview.planned.length === 0) return reportRun(ctx, target, { ...preview, dryRun: false });
      const list = preview.planned.map(shown).join(', ');
      if (!ctx.io.confirm) {
        throw new LlmspellError(
          'USAGE',
          `refusing to roll back ${preview.planned.length} migration(s) (${list}) without --yes: not on a terminal`,
          {
            hint: 'Rolling back drops tables and their data. Add --yes to confirm, or --dry-run to see the plan.',
          },
        );
      }
      if (
        !(await ctx.io.confirm(
          `Roll back ${preview.planned.length} migration(s) on ${target}: ${list}? This drops their tables and data. [y/N] `,
        ))
      ) {
        ctx.out.json({ target: target, cancelled: true, planned: preview.planned });
        ctx.out.line('Nothing was changed.');
        return EXIT.FAILURE;
      }
      confirmed = preview.planned; // what was confirmed is what runs, or nothing does
    }
    return reportRun(
      ctx,
      target,
      await rollback(db, { ...base, dryRun: opts.dryRun === true, ...(confirmed ? { expect: confirmed } : {}) }),
    );
  });
}

const MARK = { ok: '✓', warn: '⚠', fail: '✗', skip: '–' } as const;

/** A check's failure for `--json --verbose`: what the error says, and its stack. */
function failureJSON(error: unknown): Record<string, unknown> {
  const known = error instanceof LlmspellError ? error.toJSON() : {};
  const raw = error as { code?: unknown; message?: unknown; stack?: unknown };
  return {
    message: String(raw?.message ?? error),
    ...(typeof raw?.code === 'string' ? { code: raw.code } : {}),
    ...known,
    stack: String(raw?.stack ?? ''),
  };
}

function reportHealth(ctx: CommandContext, report: HealthReport, strict: boolean): number {
  const { out } = ctx;
  out.json({
    status: report.status,
    target: report.target,
    checks: report.checks.map(({ error, ...check }) =>
      error !== undefined && out.options.verbose ? { ...check, error: failureJSON(error) } : check,
    ),
    ...(report.error ? { error: report.error.toJSON() } : {}),
  });
  const colour = { ok: out.style.green, warn: out.style.yellow, fail: out.style.red, skip: out.style.dim };
  for (const check of report.checks) {
    out.line(`${colour[check.status](MARK[check.status])} ${check.summary}`);
    if (check.error !== undefined) out.details(check.error);
    if (check.hint && check.status !== 'ok')
      out.line(
        out.style.dim(
          check.hint
            .split('\n')
            .map((l) => `    ${l}`)
            .join('\n'),
        ),
      );
  }
  if (report.error) out.details(report.error);
  const warnings = report.checks.filter((c) => c.status === 'warn').length;
  const verdict = report.status === 'healthy' ? out.style.green('healthy') : out.style.red(report.status);
  out.line(`${verdict} (${report.target})${warnings > 0 && !strict ? `, ${warnings} warning(s)` : ''}`);
  if (report.status === 'unreachable') return report.error ? exitCodeFor(report.error) : EXIT.UNREACHABLE;
  return report.status === 'healthy' ? EXIT.OK : EXIT.CHECK_FAILED;
}

export async function runHealth(
  ctx: CommandContext,
  opts: DirOption & { strict?: boolean; timeout?: string },
): Promise<number> {
  const timeout = opts.timeout === undefined ? 10 : Number(opts.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 2_147_483) {
    throw new LlmspellError(
      'USAGE',
      `--timeout expects a number of seconds greater than 0 and at most 2147483, got ${JSON.stringify(opts.timeout)}`,
      { hint: 'For example --timeout 30 (the default is 10).' },
    );
  }
  const resolved = await ctx.loadConfig();
  const { urlOrigin } = urlOrigins(resolved);
  const report = await healthCheck(resolved.settings, {
    timeoutMs: timeout * 1000,
    extensions: 'vector', // what the checks inspect; the others only cost start-up time
    ...(urlOrigin ? { urlOrigin } : {}),
    strict: opts.strict === true,
    env: ctx.io.env,
    onProgress: showOpenProgress(ctx.out),
    ...(opts.migrationsDir ? { migrationsDir: opts.migrationsDir } : {}),
  });
  return reportHealth(ctx, report, opts.strict === true);
}

/**
 * `database forget-tenant ID`: every row of one tenant erased on every backend it lives on (see
 * `storage.forgetTenant`). Counts first and asks on a terminal; without one it needs `--yes`.
 */
export async function runForgetTenant(
  ctx: CommandContext,
  tenantId: string,
  opts: { yes?: boolean; dryRun?: boolean; requestId?: string },
): Promise<number> {
  const requestId = opts.requestId ?? randomUUID();
  whenInterrupted(
    () =>
      `the erasure stopped between batches: the tenant stays marked (its writes refused); run the same command with --request-id ${requestId} to finish it.`,
  );
  const resolved = await ctx.loadConfig();
  const { settings } = resolved;
  const dataDir = embeddedDataDir(settings, ctx.io.env);
  if (settings.storage.backend === 'embedded' && (await dataDirState(dataDir)) === 'new') {
    throw new LlmspellError('DB_NOT_FOUND', `no embedded database at ${dataDir}: there is no tenant to forget`, {
      hint: 'Nothing was created or changed.',
    });
  }
  const { urlOrigin, migrationUrlOrigin } = urlOrigins(resolved);
  const storage = await openStorage(settings, {
    env: ctx.io.env,
    ...(urlOrigin ? { urlOrigin } : {}),
    ...(migrationUrlOrigin ? { migrationUrlOrigin } : {}),
    onProgress: showOpenProgress(ctx.out),
  });
  try {
    if (!opts.dryRun && !opts.yes) {
      const preview = await storage.forgetTenant(tenantId, { requestId, dryRun: true });
      const rows = preview.tables.reduce((sum, table) => sum + table.rows, 0);
      if (!ctx.io.confirm) {
        throw new LlmspellError(
          'USAGE',
          `refusing to forget a tenant (${rows} rows in ${preview.tables.length} tables) without --yes: not on a terminal`,
          {
            hint: 'Forgetting a tenant deletes all of its rows for good. Add --yes to confirm, or --dry-run to count them.',
          },
        );
      }
      if (
        !(await ctx.io.confirm(`Forget tenant ${JSON.stringify(tenantId)}: delete its ${rows} rows for good? [y/N] `))
      ) {
        ctx.out.json({ cancelled: true, ...preview });
        ctx.out.line('Nothing was changed.');
        return EXIT.FAILURE;
      }
    }
    if (!opts.dryRun) ctx.out.progress(`Forgetting the tenant (request ${requestId})…`);
    const receipt = await storage.forgetTenant(tenantId, { requestId, dryRun: opts.dryRun === true });
    ctx.out.json(receipt);
    const total = receipt.tables.reduce((sum, table) => sum + table.rows, 0);
    ctx.out.line(
      receipt.dryRun
        ? `Forgetting the tenant would delete ${total} rows (dry run: nothing was changed):`
        : `Forgot the tenant: ${total} rows deleted (request ${receipt.requestId}, tenant ${receipt.tenantHash}).`,
    );
    const width = Math.max(5, ...receipt.tables.map((table) => `${table.module}.${table.table}`.length));
    for (const table of receipt.tables) {
      ctx.out.line(
        `  ${`${table.module}.${table.table}`.padEnd(width)}  ${String(table.rows).padStart(9)}  (${table.backend})`,
      );
    }
    return EXIT.OK;
  } finally {
    await storage.close();
  }
}
