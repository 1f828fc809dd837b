import { readFile } from 'node:fs/promises';
import { parse, TomlError } from 'smol-toml';
import { ConfigError } from '../errors.js';
import { redactConnectionStringsIn } from './redact.js';

/** A config file as read from disk. */
export type ConfigFile =
  { exists: false; path: string } | { exists: true; path: string; text: string; data: Record<string, unknown> };

/**
 * A TOML literal for a value: strings as basic strings, which accept JSON's escapes, plus DEL,
 * which TOML forbids raw; numbers and booleans as they are.
 *
 * @example
 * tomlLiteral('a"b') // '"a\\"b"'
 * tomlLiteral(16) // '16'
 */
export function tomlLiteral(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value).replace(/\x7f/g, '\\u007f') : String(value);
}

/**
 * smol-toml's excerpt of the lines around a syntax error, with connection-string passwords masked
 * and the `^` under the error moved by what the masking removed before it.
 */
function redactCodeblock(codeblock: string): string {
  const lines = codeblock.split('\n');
  return lines
    .map((line, i) => {
      const caret = /^( *)\^$/.exec(line);
      const above = lines[i - 1];
      if (!caret || above === undefined) return redactConnectionStringsIn(line);
      const column = redactConnectionStringsIn(above.slice(0, caret[1]!.length)).length;
      return `${' '.repeat(Math.min(column, redactConnectionStringsIn(above).length))}^`;
    })
    .join('\n');
}

/**
 * Parses TOML text; a syntax error becomes a `CONFIG_SYNTAX` error naming file, line and column.
 * The excerpt of the file in its hint has connection-string passwords masked.
 */
export function parseConfigText(text: string, path: string): Record<string, unknown> {
  try {
    return parse(text) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof TomlError) {
      const reason = redactConnectionStringsIn(error.message.split('\n')[0] ?? 'invalid TOML');
      throw new ConfigError('CONFIG_SYNTAX', `${path}:${error.line}:${error.column}: ${reason}`, {
        hint: `Fix the TOML syntax at line ${error.line}, column ${error.column}:\n${redactCodeblock(error.codeblock)}`,
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
    const reason =
      code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new ConfigError('CONFIG_INVALID', `cannot read config file ${path}: ${reason}`, {
      hint: 'Point --config or LLMSPELL_CONFIG at a readable TOML file.',
      cause: error,
    });
  }
  return { exists: true, path, text, data: parseConfigText(text, path) };
}
