import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Queryable } from '../db/types.js';
import { LlmspellError } from '../errors.js';

/** One SQL statement of a migration, and the file line it starts on. */
export interface MigrationStatement {
  sql: string;
  line: number;
}

/** One section (up or down) of a migration file. */
export interface MigrationSection {
  sql: string;
  /** 1-based line of the file where the section starts (its `-- Up/Down Migration` marker). */
  line: number;
  /** The section's statements, run one by one so a failure names its own statement and line. */
  statements: MigrationStatement[];
}

/**
 * Splits SQL into statements the way psql does (its lexer, `psqlscan.l`, follows the server's):
 * at semicolons outside quotes, quoted identifiers, comments and parentheses.
 *
 * - `'…'` strings (also `B'…'`, `X'…'`, `N'…'` and `U&'…'`) double a quote to hold one; a backslash is
 *   an ordinary character in them (`standard_conforming_strings`, on by default since PostgreSQL 9.1).
 * - `E'…'` strings (an `E` that does not end a longer identifier) also escape with a backslash, and
 *   keep doing so when continued on another line (`E'a'` newline `'b\''`).
 * - `"…"` and `U&"…"` identifiers double a `"` to hold one.
 * - `--` comments run to the end of the line; `/* … *\/` comments nest. An unterminated `/*` is kept
 *   as (part of) a statement, so that PostgreSQL reports it instead of it hiding the rest of the file.
 * - `$$ … $$` and `$tag$ … $tag$` bodies end at the first identical tag; `$1` parameters and the
 *   `$` inside identifiers (`x$y`) are not dollar quotes.
 * - Parentheses: a semicolon inside them does not split (`CREATE RULE … DO ALSO (INSERT …; UPDATE …)`).
 * - SQL-standard bodies: in a statement that begins with `CREATE [OR REPLACE] FUNCTION|PROCEDURE`,
 *   the keyword `BEGIN` (outside parentheses) opens a block, `CASE` opens one inside a block, and
 *   `END` closes one; a semicolon inside a block does not split (`BEGIN ATOMIC …; …; END`). This is
 *   psql's heuristic, with psql's limits: such a statement that has a bare `begin` outside
 *   parentheses and outside a body (a function named `begin`) runs on to a later semicolon.
 *
 * Each statement's `sql` runs from its first to its last character of code: comments and blank
 * lines before it, and comments after it, are left out. `line` is the line of its first character
 * of code (`firstLine` is the line `sql` starts on), so that it and the line count inside `sql`
 * point at the code an error names. Pieces holding only comments and white space are dropped.
 * Runs in time linear in the length of `sql`.
 */
export function splitStatements(sql: string, firstLine = 1): MigrationStatement[] {
  const statements: MigrationStatement[] = [];
  const n = sql.length;
  let start = -1; // first character of code of the current statement; -1 before there is any
  let end = 0; // just past its last token
  let parens = 0;
  // psql's BEGIN … END tracking: the first letters of the statement's first four words (a space
  // for words other than create, or, replace, function, procedure), how many of those four were
  // seen, whether they make a CREATE [OR REPLACE] FUNCTION|PROCEDURE, and the block depth.
  let head = '';
  let words = 0;
  let routine = false;
  let blocks = 0;
  let line = firstLine;
  let lineAt = 0;
  const finish = () => {
    if (start >= 0) {
      line += countLines(sql, lineAt, start);
      lineAt = start;
      statements.push({ sql: sql.slice(start, end), line });
    }
    start = -1;
    parens = 0;
    head = '';
    words = 0;
    routine = false;
    blocks = 0;
  };
  const word = (from: number, to: number) => {
    // Only the first four words, and the words of a routine outside parentheses, are looked at.
    if (words >= 4 && (!routine || parens > 0)) return;
    const keyword = to - from <= 9 ? sql.slice(from, to).toLowerCase() : '';
    if (words < 4) {
      head += ROUTINE_WORDS.has(keyword) ? keyword[0] : ' ';
      routine = /^c(f|p|or[fp])/.test(head);
      words++;
    }
    if (!routine || parens > 0) return;
    if (keyword === 'begin') blocks++;
    else if (keyword === 'case' && blocks > 0) blocks++;
    else if (keyword === 'end' && blocks > 0) blocks--;
  };

  let i = 0;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    const d = sql.charCodeAt(i + 1);
    if (c === DASH && d === DASH) {
      i = lineEnd(sql, i + 2);
      continue;
    }
    if (c === SLASH && d === STAR) {
      const close = blockCommentEnd(sql, i + 2);
      if (close >= 0) {
        i = close;
        continue;
      }
    }
    if (c === SEMICOLON && parens === 0 && blocks === 0) {
      finish();
      i++;
      continue;
    }
    if (start < 0) start = i;
    if (c === SLASH && d === STAR) {
      i = n; // an unterminated comment (terminated ones were skipped above)
    } else if (c === QUOTE) {
      i = stringEnd(sql, i + 1, false);
    } else if (c === DOUBLE_QUOTE) {
      i = quotedIdentifierEnd(sql, i + 1);
    } else if (c === DOLLAR) {
      i = dollarEnd(sql, i);
    } else if (c === OPEN_PAREN) {
      parens++;
      i++;
    } else if (c === CLOSE_PAREN) {
      if (parens > 0) parens--;
      i++;
    } else if (isDigit(c)) {
      i = numberEnd(sql, i);
    } else if (isIdentStart(c)) {
      const lower = c | 0x20;
      if (d === QUOTE && lower === 0x65 /* e */) {
        i = stringEnd(sql, i + 2, true);
      } else if (d === QUOTE && (lower === 0x62 /* b */ || lower === 0x78 /* x */ || lower === 0x6e) /* n */) {
        i = stringEnd(sql, i + 2, false);
      } else if (d === AMPERSAND && lower === 0x75 /* u */) {
        const q = sql.charCodeAt(i + 2);
        if (q === QUOTE) i = stringEnd(sql, i + 3, false);
        else if (q === DOUBLE_QUOTE) i = quotedIdentifierEnd(sql, i + 3);
        else i++; // a lone `u` before an `&` operator: not a word, as in psql
      } else {
        const from = i;
        i++;
        while (i < n && isIdentCont(sql.charCodeAt(i))) i++;
        word(from, i);
      }
    } else {
      i++;
    }
    end = i;
  }
  finish();
  return statements;
}

const ROUTINE_WORDS = new Set(['create', 'or', 'replace', 'function', 'procedure']);

const DASH = 0x2d;
const SLASH = 0x2f;
const STAR = 0x2a;
const SEMICOLON = 0x3b;
const QUOTE = 0x27;
const DOUBLE_QUOTE = 0x22;
const DOLLAR = 0x24;
const OPEN_PAREN = 0x28;
const CLOSE_PAREN = 0x29;
const AMPERSAND = 0x26;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const UNDERSCORE = 0x5f;

/** PostgreSQL's white space: space, \t, \n, \v, \f, \r. */
const isSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
/** A letter, `_` or any non-ASCII character (PostgreSQL's `ident_start`, also `dolq_start`). */
const isIdentStart = (c: number) =>
  (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === UNDERSCORE || c >= 0x80;
/** What may follow in an identifier (`ident_cont`): also digits and `$`. */
const isIdentCont = (c: number) => isIdentStart(c) || isDigit(c) || c === DOLLAR;

/** Where a `--` comment whose text starts at `i` ends: at the next \n or \r, or the end. */
function lineEnd(sql: string, i: number): number {
  while (i < sql.length) {
    const c = sql.charCodeAt(i);
    if (c === 0x0a || c === 0x0d) return i;
    i++;
  }
  return i;
}

/** Just past the `*\/` that closes a block comment whose text starts at `i`; -1 if none does. */
function blockCommentEnd(sql: string, i: number): number {
  let depth = 1;
  while (i < sql.length) {
    const c = sql.charCodeAt(i);
    const d = sql.charCodeAt(i + 1);
    if (c === SLASH && d === STAR) {
      depth++;
      i += 2;
    } else if (c === STAR && d === SLASH) {
      i += 2;
      if (--depth === 0) return i;
    } else {
      i++;
    }
  }
  return -1;
}

/**
 * Just past the quote closing a string whose text starts at `i` (or the end, unterminated). With
 * `escapes` (an `E'…'` string) a backslash escapes the next character, and the string goes on
 * past a continuation (white space with a newline, then a quote), still with escapes.
 */
function stringEnd(sql: string, i: number, escapes: boolean): number {
  const n = sql.length;
  for (;;) {
    for (;;) {
      if (i >= n) return n;
      const c = sql.charCodeAt(i);
      if (c === QUOTE) {
        if (sql.charCodeAt(i + 1) !== QUOTE) break;
        i += 2;
      } else {
        i += escapes && c === BACKSLASH ? 2 : 1;
      }
    }
    i++; // the closing quote
    if (!escapes) return i; // a continuation of a plain string is just another plain string
    const next = continuation(sql, i);
    if (next < 0) return i;
    i = next;
  }
}

/**
 * The scanner's `quotecontinue`: if `i` (just past a closing quote) starts white space holding a
 * newline, then a quote, returns the index just past that quote; otherwise -1. Comments (`--`) may
 * sit in the white space.
 */
function continuation(sql: string, i: number): number {
  const n = sql.length;
  // Horizontal space and comments, then a newline.
  for (;;) {
    const c = sql.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0c) i++;
    else if (c === DASH && sql.charCodeAt(i + 1) === DASH) i = lineEnd(sql, i + 2);
    else break;
  }
  if (i >= n || (sql.charCodeAt(i) !== 0x0a && sql.charCodeAt(i) !== 0x0d)) return -1;
  // Any white space, and comments followed by a newline, then a quote.
  for (;;) {
    const c = sql.charCodeAt(i);
    if (isSpace(c)) i++;
    else if (c === DASH && sql.charCodeAt(i + 1) === DASH) {
      i = lineEnd(sql, i + 2);
      if (i >= n) return -1;
    } else break;
  }
  return sql.charCodeAt(i) === QUOTE ? i + 1 : -1;
}

/** Just past the `"` closing a quoted identifier whose text starts at `i` (or the end). */
function quotedIdentifierEnd(sql: string, i: number): number {
  for (;;) {
    const close = sql.indexOf('"', i);
    if (close < 0) return sql.length;
    if (sql.charCodeAt(close + 1) !== DOUBLE_QUOTE) return close + 1;
    i = close + 2;
  }
}

/**
 * Just past what starts with the `$` at `i`: a `$1` parameter, a whole `$tag$ … $tag$` body (to the
 * end if it is not closed), or else the `$` alone (what follows is scanned again).
 */
function dollarEnd(sql: string, i: number): number {
  let j = i + 1;
  if (isDigit(sql.charCodeAt(j))) {
    while (isDigit(sql.charCodeAt(j))) j++;
    return j;
  }
  if (isIdentStart(sql.charCodeAt(j))) {
    j++;
    while (j < sql.length && (isIdentStart(sql.charCodeAt(j)) || isDigit(sql.charCodeAt(j)))) j++;
  }
  if (sql.charCodeAt(j) !== DOLLAR) return i + 1;
  const tag = sql.slice(i, j + 1);
  const close = sql.indexOf(tag, j + 1);
  return close < 0 ? sql.length : close + tag.length;
}

/**
 * Just past a number starting at `i`: digits (and `_`), a fraction, an exponent. Letters after it
 * are scanned as a word of their own, as psql does (so `1e'…'` is 1 followed by an E-string).
 */
function numberEnd(sql: string, i: number): number {
  const digits = () => {
    while (isDigit(sql.charCodeAt(i)) || sql.charCodeAt(i) === UNDERSCORE) i++;
  };
  digits();
  if (sql.charCodeAt(i) === DOT && sql.charCodeAt(i + 1) !== DOT) {
    i++;
    digits();
  }
  if ((sql.charCodeAt(i) | 0x20) === 0x65 /* e */) {
    const sign = sql.charCodeAt(i + 1) === 0x2b || sql.charCodeAt(i + 1) === DASH ? 1 : 0;
    if (isDigit(sql.charCodeAt(i + 1 + sign))) {
      i += 1 + sign;
      digits();
    }
  }
  return i;
}

function countLines(text: string, from: number, to: number): number {
  let lines = 0;
  for (let i = from; i < to; i++) if (text.charCodeAt(i) === 10) lines++;
  return lines;
}

/** A migration file: `NNNN_name.sql` with `-- Up Migration` and (optionally) `-- Down Migration` sections. */
export interface MigrationFile {
  /** The number before the first `_`: 1 for `0001_init.sql`. */
  version: number;
  /** The file name without `.sql`; what the history table records. */
  name: string;
  path: string;
  /** sha256 of the file's bytes, hex. */
  checksum: string;
  up: MigrationSection;
  down?: MigrationSection;
  /**
   * The file's first line is `--! no-transaction` (graphile-migrate's marker): the migration, up
   * and down, runs outside a transaction, for statements that refuse one (`CREATE INDEX
   * CONCURRENTLY`). Its statements then run one by one in autocommit, so it is not atomic: a
   * failure leaves the statements before it applied. Write them to be re-runnable, e.g. `CREATE
   * INDEX CONCURRENTLY IF NOT EXISTS` (and, since a failed concurrent build leaves an invalid
   * index behind that `IF NOT EXISTS` would keep, `DROP INDEX CONCURRENTLY IF EXISTS` first).
   */
  noTransaction: boolean;
}

/** Where the package's own migrations live (next to `dist/` and `src/`). */
export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

/**
 * A sequence of migrations with its own history: `core` (always), and optional parts such as
 * `vector`, which can be enabled later and then migrated without touching the core history.
 */
export interface MigrationTrack {
  id: string;
  dir: string;
  /**
   * Checked before anything of any track is applied, when this track has pending migrations:
   * throws if the server cannot take them (e.g. no vector extension).
   */
  preflight?: (client: Queryable) => Promise<void>;
}

/** File names the catalog accepts; node-pg-migrate is told to ignore every other file. */
export const MIGRATION_FILE = /^(\d+)_[a-z0-9_]+\.sql$/;

const marker = (direction: 'up' | 'down') => new RegExp(`^\\s*--[\\s-]*${direction}\\s+migration`, 'im');

/** The first line that makes a migration run outside a transaction; see {@link MigrationFile.noTransaction}. */
export const NO_TRANSACTION_MARKER = '--! no-transaction';

/**
 * Lines meant as a `--!` directive: one starting with `--!`, or a comment that says nothing but
 * "no transaction" (`-- no-transaction`, `-- ! no_transaction`, …). A comment that merely mentions
 * no-transaction among other words is an ordinary comment.
 */
const DIRECTIVE = /^[ \t]*--!/;
const MARKER_LOOKALIKE = /^[ \t]*--[ \t!]*no[ \t_-]*transactions?[ \t]*$/i;

/**
 * Whether `text` starts with the `--! no-transaction` line (alone on the first line; trailing
 * white space, CRLF and a byte order mark are allowed). Refuses, as `MIGRATION_INVALID`, any
 * other line that looks meant as a directive, checked line by line over the whole file: the
 * marker anywhere else, a misspelled marker, an unknown `--!` directive. Ignoring one would run
 * the migration in a transaction after all, and `CREATE INDEX CONCURRENTLY` would fail only at
 * migrate time.
 */
export function parseNoTransaction(text: string, path: string): boolean {
  let noTransaction = false;
  for (let from = 0, number = 1; from <= text.length; number++) {
    const newline = text.indexOf('\n', from);
    const to = newline < 0 ? text.length : newline;
    let line = text.slice(from, to).trimEnd(); // also drops the \r of a CRLF
    if (number === 1 && line.startsWith('\uFEFF')) line = line.slice(1);
    from = to + 1;
    const directive = DIRECTIVE.test(line);
    if (!directive && !MARKER_LOOKALIKE.test(line)) continue;
    if (number === 1 && line === NO_TRANSACTION_MARKER) {
      noTransaction = true;
      continue;
    }
    const where = `${path} line ${number}`;
    const shown = JSON.stringify(line.trim().length > 80 ? `${line.trim().slice(0, 77)}...` : line.trim());
    const place = 'alone on the first line of the file (before "-- Up Migration")';
    if (line.trim() === NO_TRANSACTION_MARKER) {
      throw new LlmspellError('MIGRATION_INVALID', `${where}: "${NO_TRANSACTION_MARKER}" counts only ${place}`, {
        hint: `Move "${NO_TRANSACTION_MARKER}" to the start of the first line of the file to run this migration outside a transaction, or delete it.`,
      });
    }
    if (!directive || /no[ \t_-]*transaction/i.test(line)) {
      throw new LlmspellError(
        'MIGRATION_INVALID',
        `${where}: ${shown} looks like a misspelled "${NO_TRANSACTION_MARKER}"`,
        {
          hint: `To run this migration outside a transaction, write exactly "${NO_TRANSACTION_MARKER}" ${place}; otherwise reword the comment.`,
        },
      );
    }
    throw new LlmspellError('MIGRATION_INVALID', `${where}: unknown directive ${shown}`, {
      hint: `The only "--!" directive is "${NO_TRANSACTION_MARKER}", ${place}. Write ordinary comments as "-- ...".`,
    });
  }
  return noTransaction;
}

/**
 * Splits a file into its sections, the way node-pg-migrate's SQL loader does (same markers), and
 * reads the `--! no-transaction` marker ({@link parseNoTransaction}).
 */
export function parseMigrationText(
  text: string,
  path: string,
): { up: MigrationSection; down?: MigrationSection; noTransaction: boolean } {
  const upAt = text.search(marker('up'));
  const downAt = text.search(marker('down'));
  if (upAt < 0) {
    throw new LlmspellError('MIGRATION_INVALID', `${path} has no "-- Up Migration" section`, {
      hint: 'Start the file with a line "-- Up Migration", and put the undo SQL after a line "-- Down Migration".',
    });
  }
  const noTransaction = parseNoTransaction(text, path);
  const section = (from: number, to: number): MigrationSection => {
    const sql = text.slice(from, to);
    // The match may start with blank lines before the marker: the section's line is the marker's.
    const line = 1 + countLines(text, 0, text.indexOf('--', from));
    return { sql, line, statements: splitStatements(sql, 1 + countLines(text, 0, from)) };
  };
  const up = section(upAt, downAt > upAt ? downAt : text.length);
  return downAt < 0
    ? { up, noTransaction }
    : { up, down: section(downAt, upAt > downAt ? upAt : text.length), noTransaction };
}

/**
 * Reads every migration of a directory, ordered by version. Refuses duplicate versions and files
 * without an up section, so what runs is exactly what was listed.
 */
export async function loadMigrationFiles(directory: string = DEFAULT_MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const dir = resolve(directory);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => MIGRATION_FILE.test(name));
  } catch (error) {
    throw new LlmspellError(
      'MIGRATION_INVALID',
      `cannot read the migrations directory ${dir}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const files = await Promise.all(
    names.map(async (file): Promise<MigrationFile> => {
      const path = join(dir, file);
      const bytes = await readFile(path);
      const text = bytes.toString('utf8');
      return {
        version: Number(MIGRATION_FILE.exec(file)![1]),
        name: file.slice(0, -'.sql'.length),
        path,
        checksum: createHash('sha256').update(bytes).digest('hex'),
        ...parseMigrationText(text, path),
      };
    }),
  );
  files.sort((a, b) => a.version - b.version);
  for (let i = 1; i < files.length; i++) {
    if (files[i]!.version === files[i - 1]!.version) {
      throw new LlmspellError(
        'MIGRATION_INVALID',
        `two migrations have version ${files[i]!.version}: ${files[i - 1]!.name} and ${files[i]!.name}`,
        {
          hint: 'Give each migration file its own number.',
        },
      );
    }
  }
  return files;
}
