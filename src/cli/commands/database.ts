import type { Command } from 'commander';
import { EXIT } from '../exit-codes.js';
import type { Handler } from '../program.js';
import type { DirOption } from './database-actions.js';

/** The handlers, imported on first use (they bring the drivers and node-pg-migrate with them). */
const actions = () => import('./database-actions.js');

/** The exit statuses a command can end with, for the end of its `--help`. */
function exitCodes(codes: Array<[keyof typeof EXIT, string]>): string {
  const width = Math.max(...codes.map(([name]) => name.length));
  const lines = codes.map(
    ([name, meaning]) => `  ${String(EXIT[name]).padStart(2)}  ${name.padEnd(width)}  ${meaning}`,
  );
  return `\nExit status:\n${lines.join('\n')}\n`;
}

const CONNECTION: Array<[keyof typeof EXIT, string]> = [
  ['USAGE', 'bad usage or configuration'],
  ['UNREACHABLE', 'no connection (refused, timed out, authentication, no such database)'],
];

/** `llmspell database …`: migrate, migration-status, rollback, maintain, forget-tenant, health-check. */
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
      .option('--to <version>', 'stop after this version')
      .addHelpText(
        'after',
        exitCodes([
          ['OK', 'applied (or nothing to apply)'],
          ['FAILURE', 'a migration failed (nothing of it applied), or the maintenance after it failed'],
          ...CONNECTION,
          ['LOCKED', 'another migrator held the lock longer than migration_timeout_secs'],
          ['DRIFT', 'an applied migration changed, or the database knows migrations this build does not'],
        ]),
      ),
  ).action(
    run(async (ctx, opts) => (await actions()).runMigrate(ctx, opts as DirOption & { dryRun?: boolean; to?: string })),
  );

  dirOption(
    database
      .command('migration-status')
      .description('list every migration and its state')
      .addHelpText(
        'after',
        exitCodes([
          ['OK', 'every migration applied and unchanged'],
          ['PENDING', 'migrations wait to be applied'],
          ['DRIFT', 'an applied migration changed, or is unknown to this build (wins over pending)'],
          ...CONNECTION,
        ]),
      ),
  ).action(run(async (ctx, opts) => (await actions()).runStatus(ctx, opts as DirOption)));

  dirOption(
    database
      .command('rollback')
      .description('roll back migrations above a version, newest first (asks first; --yes when not on a terminal)')
      .requiredOption('--to <version>', 'keep this version and everything below it (0: roll back everything)')
      .option('-y, --yes', 'do not ask for confirmation')
      .option('--dry-run', 'print what would be rolled back; change nothing')
      .addHelpText(
        'after',
        exitCodes([
          ['OK', 'rolled back (or nothing to roll back)'],
          ['FAILURE', 'a down migration failed, the plan changed meanwhile, or the answer was no'],
          ...CONNECTION,
          ['LOCKED', 'another migrator held the lock longer than migration_timeout_secs'],
          ['DRIFT', 'a migration to roll back changed since it was applied'],
        ]),
      ),
  ).action(
    run(async (ctx, opts) =>
      (await actions()).runRollback(ctx, opts as DirOption & { to: string; yes?: boolean; dryRun?: boolean }),
    ),
  );

  database
    .command('maintain')
    .description('event-log maintenance: create upcoming partitions, drop those past retention_days (run it daily)')
    .option('--dry-run', 'print what would be created and dropped; change nothing')
    .addHelpText(
      'after',
      exitCodes([
        ['OK', 'done, up to date, or skipped as busy (a warning)'],
        ['FAILURE', 'maintenance failed, or there is no event log yet'],
        ...CONNECTION,
      ]),
    )
    .action(run(async (ctx, opts) => (await actions()).runMaintain(ctx, opts as { dryRun?: boolean })));

  database
    .command('forget-tenant')
    .description('erase every row of one tenant, on every backend (asks first; --yes when not on a terminal)')
    .argument('<tenant-id>', 'the tenant to forget')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--dry-run', 'count the rows that would be deleted; change nothing')
    .option(
      '--request-id <id>',
      'who asked, for the receipt; the same id finishes a run that was stopped (default: a new UUID)',
    )
    .addHelpText(
      'after',
      exitCodes([
        ['OK', 'forgotten (or counted, with --dry-run); the receipt names the tenant only by its hash'],
        ['FAILURE', 'the erasure failed (run it again with the same --request-id), or the answer was no'],
        ...CONNECTION,
      ]),
    )
    .action(
      run(async (ctx, tenantId, opts) =>
        (await actions()).runForgetTenant(
          ctx,
          tenantId as string,
          opts as { yes?: boolean; dryRun?: boolean; requestId?: string },
        ),
      ),
    );

  dirOption(
    database
      .command('health-check')
      .description('check connection, extensions, migrations, row-level security, the application role and the pool')
      .option('--strict', 'treat warnings as failures')
      .option('--timeout <seconds>', 'bound on the whole check, connection included (default: 10)')
      .addHelpText(
        'after',
        exitCodes([
          ['OK', 'healthy (warnings allowed unless --strict)'],
          ['CHECK_FAILED', 'a check failed'],
          ...CONNECTION,
        ]),
      ),
  ).action(
    run(async (ctx, opts) =>
      (await actions()).runHealth(ctx, opts as DirOption & { strict?: boolean; timeout?: string }),
    ),
  );
}
