import type { Command } from 'commander';
import { EXIT } from '../exit-codes.js';
import type { Handler } from '../program.js';
import type { DirOption } from './database-actions.js';

/** The handlers, imported on first use (they bring the drivers and node-pg-migrate with them). */
const actions = () => import('./database-actions.js');

/** `llmspell database …`: migrate, migration-status, rollback, health-check. */
export function registerDatabaseCommands(
  program: Command,
  run: (handler: Handler) => (...args: unknown[]) => Promise<void>,
): void {
  const database = program.command('database').description('migrate and check the storage database');
  const dirOption = (command: Command) =>
    command.option('--migrations-dir <dir>', "migrations directory (default: the package's migrations/)");

  dirOption(
    database
      .command('migrate')
      .description('apply pending schema migrations (one transaction each, under a lock)')
      .option('--dry-run', 'print what would be applied; change nothing')
      .option('--to <version>', 'stop after this version'),
  ).action(
    run(async (ctx, opts) => (await actions()).runMigrate(ctx, opts as DirOption & { dryRun?: boolean; to?: string })),
  );

  dirOption(
    database
      .command('migration-status')
      .description(
        `list every migration and its state (exit ${EXIT.OK}: all applied, ${EXIT.PENDING}: pending, ${EXIT.DRIFT}: drift)`,
      ),
  ).action(run(async (ctx, opts) => (await actions()).runStatus(ctx, opts as DirOption)));

  dirOption(
    database
      .command('rollback')
      .description('roll back migrations above a version, newest first (asks first; --yes when not on a terminal)')
      .option('--to <version>', 'keep this version and everything below it (0: roll back everything)')
      .option('-y, --yes', 'do not ask for confirmation')
      .option('--dry-run', 'print what would be rolled back; change nothing'),
  ).action(
    run(async (ctx, opts) =>
      (await actions()).runRollback(ctx, opts as DirOption & { to?: string; yes?: boolean; dryRun?: boolean }),
    ),
  );

  database
    .command('maintain')
    .description('event-log maintenance: create upcoming partitions, drop those past retention_days (run it daily)')
    .action(run(async (ctx) => (await actions()).runMaintain(ctx)));

  dirOption(
    database
      .command('health-check')
      .description(
        `check connection, extensions, migrations, row-level security, the application role and the pool (exit ${EXIT.OK} healthy, ${EXIT.CHECK_FAILED} unhealthy, ${EXIT.UNREACHABLE} unreachable)`,
      )
      .option('--strict', 'treat warnings as failures')
      .option('--timeout <seconds>', 'bound on the whole check', '10'),
  ).action(
    run(async (ctx, opts) =>
      (await actions()).runHealth(ctx, opts as DirOption & { strict?: boolean; timeout: string }),
    ),
  );
}
