import type { Command } from 'commander';
import { LlmspellError } from '../../errors.js';
import type { Handler } from '../program.js';

function notYet(name: string): Handler {
  return async () => {
    throw new LlmspellError('NOT_IMPLEMENTED', `database ${name} is not implemented yet`, {
      hint: 'It arrives with the migration engine; nothing was changed.',
    });
  };
}

/** `llmspell database …`: migrate, migration-status, health-check. */
export function registerDatabaseCommands(program: Command, run: (handler: Handler) => (...args: unknown[]) => Promise<void>): void {
  const database = program.command('database').description('migrate and check the storage database');
  database.command('migrate').description('apply pending schema migrations').action(run(notYet('migrate')));
  database.command('migration-status').description('list migrations and whether each is applied').action(run(notYet('migration-status')));
  database.command('health-check').description('check connection, extensions, migrations, row-level security and the pool').action(run(notYet('health-check')));
}
