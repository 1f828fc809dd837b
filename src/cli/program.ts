import { Command, CommanderError, Option } from 'commander';
import { createRequire } from 'node:module';
import { registerConfigCommands } from './commands/config.js';
import { registerDatabaseCommands } from './commands/database.js';
import { commandContext, secretsToScrub, type CommandContext } from './context.js';
import { LlmspellError } from '../errors.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { Output, processIO, type CliIO } from './output.js';

/** A command handler: gets the context and the command's arguments, returns an exit status. */
export type Handler = (ctx: CommandContext, ...args: unknown[]) => Promise<number> | number;

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/**
 * Builds the `llmspell` program. Handlers record their exit status in `state`; nothing here
 * calls `process.exit`, so tests run the whole CLI in process.
 */
export function buildProgram(io: CliIO, state: { exitCode: number }, argv: readonly string[] = []): Command {
  // Usage errors are reported by commander before any handler runs: scrub and format them here.
  const early = new Output(io, { json: argv.includes('--json'), verbose: false, color: false });
  early.addSecrets(secretsToScrub(io.env, argv));
  const program = new Command('llmspell')
    .description('PostgreSQL storage for llmspell: migrations, health checks and configuration')
    .version(version, '-V, --version')
    .option(
      '-c, --config <path>',
      'config file (default: $LLMSPELL_CONFIG, then $XDG_CONFIG_HOME/llmspell/config.toml, then ~/.config/llmspell/config.toml)',
    )
    .addOption(
      new Option('--backend <name>', 'storage backend for this run (overrides storage.backend)').choices([
        'embedded',
        'memory',
        'postgres',
        'sled',
      ]),
    )
    .option('--database-url <url>', 'PostgreSQL URL for this run (overrides storage.postgres.url)')
    .option(
      '--set <key=value>',
      'override any config key for this run (repeatable)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--json', 'print the result as JSON on stdout (for scripts)')
    .option('-v, --verbose', 'print stack traces of errors')
    .option('--no-color', 'no colour (NO_COLOR is honoured too)')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: io.stdout,
      writeErr: (text) => io.stderr(early.scrub(text)),
      outputError: (text, write) => {
        if (early.options.json) early.json({ error: { code: 'USAGE', message: text.replace(/^error: /, '').trim() } });
        else write(text);
      },
    });

  const run =
    (handler: Handler) =>
    async (...args: unknown[]): Promise<void> => {
      const command = args.at(-1) as Command;
      let ctx: CommandContext | undefined;
      try {
        ctx = commandContext(command, io);
        state.exitCode = await handler(ctx, ...args.slice(0, -2), args.at(-2));
      } catch (error) {
        // A context that could not be built (a malformed --set) has no Output: `early` knows the argv's secrets.
        (ctx?.out ?? early).error(error);
        state.exitCode = exitCodeFor(error);
      }
    };

  registerDatabaseCommands(program, run);
  registerConfigCommands(program, run);
  // commander's own `help nope` prints the whole help and exits 2 without saying why.
  program.helpCommand(false);
  program
    .command('help [command...]')
    .description('display help for a command (llmspell help database migrate)')
    .action(
      run(async (ctx, words) => {
        let command: Command = program;
        for (const word of (words as string[] | undefined) ?? []) {
          const sub = command.commands.find((c) => c.name() === word || c.aliases().includes(word));
          if (!sub) {
            const known = command.commands.map((c) => c.name()).filter((name) => name !== 'help');
            const suggestion = known.find((name) => name.startsWith(word.slice(0, 3)));
            throw new LlmspellError('USAGE', `unknown command '${[...pathOf(command), word].join(' ')}'`, {
              hint: `${suggestion ? `Did you mean '${[...pathOf(command), suggestion].join(' ')}'? ` : ''}Commands here: ${known.join(', ')}.`,
            });
          }
          command = sub;
        }
        command.outputHelp();
        return EXIT.OK;
      }),
    );
  return program;
}

/** The words that name a command below the program: `['database', 'migrate']`. */
function pathOf(command: Command): string[] {
  const words: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) words.unshift(c.name());
  return words;
}

/** Runs the CLI with `argv` (without node and the script) and returns the exit status. */
export async function runCli(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  const state = { exitCode: EXIT.OK as number };
  const program = buildProgram(io, state, argv);
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT.OK;
      if (error.code === 'commander.help' && argv.includes('--json')) {
        // A command group run without its subcommand: commander printed the help on stderr.
        io.stdout(
          `${JSON.stringify({ error: { code: 'USAGE', message: 'missing command: see the help above' } }, null, 2)}\n`,
        );
      }
      // commander has already printed its message ("unknown option", "missing argument", or the help
      // of a command run without its subcommand).
      return EXIT.USAGE;
    }
    const out = new Output(io, {
      json: argv.includes('--json'),
      verbose: argv.includes('--verbose') || argv.includes('-v'),
      color: false,
    });
    out.addSecrets(secretsToScrub(io.env, argv));
    out.error(error);
    return exitCodeFor(error);
  }
  return state.exitCode;
}
