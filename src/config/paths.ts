import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';

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

/**
 * A directory as the user wrote it (in the config file, `LLMSPELL_*`, `--set`), made absolute as
 * a shell would: `~` and `~/…` are the home directory (`$HOME`), a relative path is taken from the
 * current directory. `~user/…` is refused (`CONFIG_INVALID`): llmspell does not look up other
 * users' homes, and a directory literally named `~` is never what was meant. `key` names the
 * setting in the error.
 *
 * @example
 * absoluteDir('~/pgdata', { HOME: '/home/ada' }, 'storage.embedded.path') // '/home/ada/pgdata'
 */
export function absoluteDir(path: string, env: Env, key: string): string {
  if (path === '~' || path.startsWith('~/')) return resolve(home(env), path.slice(2));
  if (path.startsWith('~')) {
    const message = `${JSON.stringify(path.slice(0, 80))} starts with ~user, which llmspell does not expand`;
    throw new ConfigError('CONFIG_INVALID', `${key}: ${message}`, {
      issues: [{ key, message }],
      hint: `Write the absolute path: llmspell config set ${key} /home/USER/${path.slice(path.indexOf('/') + 1 || path.length)}`,
    });
  }
  return resolve(path);
}
