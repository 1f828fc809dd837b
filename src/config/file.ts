import { readFile } from 'node:fs/promises';
import { parse, TomlError } from 'smol-toml';
import { ConfigError } from '../errors.js';

/** A config file as read from disk. */
export type ConfigFile =
  | { exists: false; path: string }
  | { exists: true; path: string; text: string; data: Record<string, unknown> };

/**
 * Parses TOML text; a syntax error becomes a `CONFIG_SYNTAX` error naming file, line and column.
 */
export function parseConfigText(text: string, path: string): Record<string, unknown> {
  try {
    return parse(text) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof TomlError) {
      const reason = error.message.split('\n')[0] ?? 'invalid TOML';
      throw new ConfigError('CONFIG_SYNTAX', `${path}:${error.line}:${error.column}: ${reason}`, {
        hint: `Fix the TOML syntax at line ${error.line}, column ${error.column}:\n${error.codeblock}`,
        cause: error,
      });
    }
    throw error;
  }
}

/** Reads and parses the config file; a missing file is `{ exists: false }`, never an error here. */
export async function readConfigFile(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { exists: false, path };
    const reason = code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new ConfigError('CONFIG_INVALID', `cannot read config file ${path}: ${reason}`, {
      hint: 'Point --config or LLMSPELL_CONFIG at a readable TOML file.',
      cause: error,
    });
  }
  return { exists: true, path, text, data: parseConfigText(text, path) };
}
