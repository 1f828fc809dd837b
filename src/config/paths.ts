import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Environment variables, as `process.env` holds them. Passed in so tests need no global state. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Where the config file path came from, highest precedence first. */
export type ConfigPathSource = '--config' | 'LLMSPELL_CONFIG' | 'XDG_CONFIG_HOME' | 'default';

/** The config file llmspell reads and `config set` writes. */
export interface ConfigFileLocation {
  path: string;
  source: ConfigPathSource;
  /** Named by the user (flag or LLMSPELL_CONFIG): a missing file is then an error, not "use defaults". */
  explicit: boolean;
}

function home(env: Env): string {
  return env.HOME && env.HOME !== '' ? env.HOME : homedir();
}

/**
 * Resolves the config file: `--config PATH` > `LLMSPELL_CONFIG` >
 * `$XDG_CONFIG_HOME/llmspell/config.toml` > `~/.config/llmspell/config.toml`.
 */
export function resolveConfigFile(env: Env, flagPath?: string): ConfigFileLocation {
  if (flagPath) return { path: resolve(flagPath), source: '--config', explicit: true };
  if (env.LLMSPELL_CONFIG) return { path: resolve(env.LLMSPELL_CONFIG), source: 'LLMSPELL_CONFIG', explicit: true };
  if (env.XDG_CONFIG_HOME) {
    return {
      path: join(resolve(env.XDG_CONFIG_HOME), 'llmspell', 'config.toml'),
      source: 'XDG_CONFIG_HOME',
      explicit: false,
    };
  }
  return { path: join(home(env), '.config', 'llmspell', 'config.toml'), source: 'default', explicit: false };
}

/** Default data directory of the embedded backend: `$XDG_DATA_HOME/llmspell/pgdata` or `~/.local/share/llmspell/pgdata`. */
export function defaultEmbeddedDataDir(env: Env): string {
  const base = env.XDG_DATA_HOME ? resolve(env.XDG_DATA_HOME) : join(home(env), '.local', 'share');
  return join(base, 'llmspell', 'pgdata');
}
