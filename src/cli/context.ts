import type { Command } from 'commander';
import { loadSettings, type KeyOverride, type ResolvedConfig } from '../config/load.js';
import { CONFIG_KEYS, valueAtPath } from '../config/keys.js';
import { describeValue, passwordsIn, shorten } from '../config/redact.js';
import { ConfigError } from '../errors.js';
import { Output, type CliIO } from './output.js';

/** The global options, as commander parses them. */
export interface GlobalOptions {
  config?: string;
  json?: boolean;
  verbose?: boolean;
  color?: boolean;
  backend?: string;
  databaseUrl?: string;
  set?: string[];
}

/** What a command handler receives: output, the environment, and config loading with the flags applied. */
export interface CommandContext {
  out: Output;
  io: CliIO;
  globals: GlobalOptions;
  /** Loads the settings (file < env < flags); cached for the command's lifetime. */
  loadConfig(options?: { allowMissingFile?: boolean }): Promise<ResolvedConfig>;
  /** The flag layer, for library calls that load config themselves. */
  overrides: KeyOverride[];
}

const SECRET_KEYS = CONFIG_KEYS.filter((spec) => spec.secret);

/**
 * The passwords the CLI must not print: those of every secret key's environment variable and of
 * `DATABASE_URL`, plus those in `values` (command-line arguments), and, once loaded, those of the
 * settings' secret keys.
 */
export function secretsToScrub(
  env: CliIO['env'],
  values: ReadonlyArray<string | undefined>,
  settings?: unknown,
): string[] {
  const fromSettings = settings === undefined ? [] : SECRET_KEYS.map((spec) => valueAtPath(settings, spec.path));
  const strings = fromSettings.filter((value): value is string => typeof value === 'string');
  return passwordsIn([...SECRET_KEYS.map((spec) => env[spec.env]), env.DATABASE_URL, ...values, ...strings]);
}

function parseSetFlags(values: readonly string[]): KeyOverride[] {
  return values.map((item) => {
    const eq = item.indexOf('=');
    if (eq <= 0) {
      throw new ConfigError('USAGE', `--set expects KEY=VALUE, got ${describeValue(item)}`, {
        hint: 'Example: --set storage.postgres.pool_size=8',
      });
    }
    const key = item.slice(0, eq).trim();
    return { key, value: item.slice(eq + 1), flag: `--set ${shorten(key)}` };
  });
}

/** Builds the context of the command being run. */
export function commandContext(command: Command, io: CliIO): CommandContext {
  const globals = command.optsWithGlobals<GlobalOptions>();
  const out = new Output(io, {
    json: globals.json === true,
    verbose: globals.verbose === true,
    color: globals.color !== false,
  });
  out.addSecrets(secretsToScrub(io.env, [globals.databaseUrl, ...(globals.set ?? [])]));
  const overrides: KeyOverride[] = [];
  if (globals.backend !== undefined)
    overrides.push({ key: 'storage.backend', value: globals.backend, flag: '--backend' });
  if (globals.databaseUrl !== undefined)
    overrides.push({ key: 'storage.postgres.url', value: globals.databaseUrl, flag: '--database-url' });
  overrides.push(...parseSetFlags(globals.set ?? []));
  if (globals.config !== undefined && globals.config.trim() === '') {
    throw new ConfigError('USAGE', '--config needs the path of a config file, and it was empty', {
      hint: 'Leave --config out for the default file (`llmspell config path` shows which).',
    });
  }
  let cached: Promise<ResolvedConfig> | undefined;
  return {
    out,
    io,
    globals,
    overrides,
    loadConfig(options = {}) {
      cached ??= loadSettings({
        env: io.env,
        overrides,
        ...(globals.config ? { configPath: globals.config } : {}),
        ...(options.allowMissingFile ? { allowMissingFile: true } : {}),
      }).then((resolved) => {
        out.addSecrets(secretsToScrub(io.env, [], resolved.settings));
        for (const warning of resolved.warnings) out.warn(warning);
        return resolved;
      });
      return cached;
    },
  };
}
