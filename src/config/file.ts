import { readFile } from 'node:fs/promises';
import { parse, TomlError } from 'smol-toml';
import { ConfigError } from '../errors.js';
import { CONFIG_KEYS } from './keys.js';
import { printable, REDACTED, redactConnectionStringsIn, shorten } from './redact.js';

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

/** How much of a long line an excerpt shows, around the error. */
const EXCERPT_WIDTH = 160;

/** The last segment of every secret key (`url`, `migration_url`). */
const SECRET_NAMES = [...new Set(CONFIG_KEYS.filter((spec) => spec.secret).map((spec) => spec.path.at(-1)!))];
/** A line assigning a secret key, bare, quoted, dotted or in an inline table: `url =`, `"url"=`, `postgres.url =`, `{ url = `. */
const SECRET_ASSIGNMENT = new RegExp(`(?:^|[\\s.{,"'])(?:${SECRET_NAMES.join('|')})["']?[ \\t]*=`);

/** A string left open at the end of a line: `"` or `'` (broken: a TOML error), or a multi-line one. */
type OpenString = '"' | "'" | '"""' | "'''" | undefined;

/** The string state after `line`, starting in `open`: a small TOML lexer (strings, escapes, comments). */
function scanLine(line: string, open: OpenString): OpenString {
  let state = open;
  for (let i = 0; i < line.length;) {
    const c = line[i]!;
    if (state === undefined) {
      if (c === '#') break;
      if (c === '"' || c === "'") {
        state = line.startsWith(c.repeat(3), i) ? (c.repeat(3) as OpenString) : c;
        i += state!.length;
        continue;
      }
    } else if (c === '\\' && state !== "'" && state !== "'''") {
      i += 2;
      continue;
    } else if (line.startsWith(state, i)) {
      i += state.length;
      state = undefined;
      continue;
    }
    i++;
  }
  return state;
}

/** One line of the file as an excerpt shows it: its number, the text masked, and where the masked value starts. */
interface ExcerptLine {
  number: number;
  raw: string;
  text: string;
  /** For a masked secret line: how much of `text` is kept before the mask. */
  kept?: number;
}

/**
 * The lines `first` to `last` of `text`, each line that belongs to a secret key masked whole
 * after its `key =` (whatever it holds, even when it does not parse): a line assigning one, and
 * every line inside a string such a line opened — a multi-line string, or a broken one whose
 * password held a newline. Other lines have their connection strings masked. Reads the file up
 * to `last` once (the string state of a line depends on the lines above it).
 */
function excerptLines(text: string, first: number, last: number): ExcerptLine[] {
  const lines: ExcerptLine[] = [];
  let open: OpenString;
  let secretString = false;
  for (let number = 1, start = 0; number <= last && start <= text.length; number++) {
    const newline = text.indexOf('\n', start);
    const end = newline < 0 ? text.length : newline;
    const raw = text.slice(start, end > start && text[end - 1] === '\r' ? end - 1 : end);
    const assignment = SECRET_ASSIGNMENT.exec(raw);
    const inside = open !== undefined && secretString;
    if (number >= first) {
      if (raw === '') lines.push({ number, raw, text: '' });
      else if (inside) lines.push({ number, raw, text: REDACTED, kept: 0 });
      else if (assignment) {
        const key = printable(redactConnectionStringsIn(raw.slice(0, assignment.index + assignment[0].length)));
        lines.push({ number, raw, text: `${key} ${REDACTED}`, kept: key.length + 1 });
      } else lines.push({ number, raw, text: printable(redactConnectionStringsIn(raw)) });
    }
    const before = open;
    open = scanLine(raw, open);
    if (before === undefined && open !== undefined) secretString = assignment !== null;
    start = end + 1;
  }
  return lines;
}

/** Where the `^` goes in a shown line, for an error at 1-based `column` of the raw line. */
function caretIndex(line: ExcerptLine, column: number): number {
  if (line.kept !== undefined) return Math.min(column - 1, line.kept);
  return Math.min(printable(redactConnectionStringsIn(line.raw.slice(0, column - 1))).length, line.text.length);
}

/** At most {@link EXCERPT_WIDTH} characters of `text` around `at`, with `…` where it was cut; `at` moved along. */
function window(text: string, at: number): { text: string; at: number } {
  if (text.length <= EXCERPT_WIDTH) return { text, at };
  const from = Math.max(0, Math.min(at - EXCERPT_WIDTH / 2, text.length - EXCERPT_WIDTH));
  const cut = `${from > 0 ? '…' : ''}${text.slice(from, from + EXCERPT_WIDTH)}${from + EXCERPT_WIDTH < text.length ? '…' : ''}`;
  return { text: cut, at: at - from + (from > 0 ? 1 : 0) };
}

/**
 * The lines around a syntax error (as smol-toml shows them: the line before, the line, the line
 * after, with `^` under the column), every secret masked: see {@link excerptLines}. Long lines
 * are cut around the error. Linear in the length of the file.
 */
export function syntaxErrorExcerpt(text: string, line: number, column: number): string {
  const width = String(line + 1).length;
  let out = '';
  for (const shown of excerptLines(text, line - 1, line + 1)) {
    if (shown.text === '') continue;
    const caret = shown.number === line ? caretIndex(shown, column) : 0;
    const cut = window(shown.text, caret);
    out += `${String(shown.number).padEnd(width, ' ')}:  ${cut.text}\n`;
    if (shown.number === line) out += `${' '.repeat(width + 3 + cut.at)}^\n`;
  }
  return out;
}

/**
 * Parses TOML text; a syntax error becomes a `CONFIG_SYNTAX` error naming file, line and column,
 * with an excerpt of the file in its hint in which every secret is masked
 * ({@link syntaxErrorExcerpt}). smol-toml's own error is not kept as the cause: its message and
 * stack hold the raw excerpt.
 */
export function parseConfigText(text: string, path: string): Record<string, unknown> {
  try {
    return parse(text) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof TomlError) {
      const newline = error.message.indexOf('\n');
      const reason = shorten(
        redactConnectionStringsIn(newline < 0 ? error.message : error.message.slice(0, newline)),
        200,
      );
      throw new ConfigError('CONFIG_SYNTAX', `${path}:${error.line}:${error.column}: ${reason}`, {
        hint: `Fix the TOML syntax at line ${error.line}, column ${error.column}:\n${syntaxErrorExcerpt(text, error.line, error.column)}`,
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
