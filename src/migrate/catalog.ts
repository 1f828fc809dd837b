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
 * Splits SQL into statements at top-level semicolons, skipping those inside quotes, quoted
 * identifiers, comments (nested block comments too) and dollar-quoted bodies. Pieces holding
 * only comments and white space are dropped. `firstLine` is the line `sql` starts on.
 *
 * A SQL-standard function body (`BEGIN ATOMIC … END`) holds semicolons outside any quotes and
 * would be cut apart: write such functions with a dollar-quoted body (`AS $$ … $$`) instead.
 */
export function splitStatements(sql: string, firstLine = 1): MigrationStatement[] {
  const statements: MigrationStatement[] = [];
  let start = 0;
  let i = 0;
  const push = (end: number) => {
    const text = sql.slice(start, end);
    const code = text.replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, '').trim();
    if (code !== '') {
      const lead = text.length - text.trimStart().length;
      statements.push({ sql: text.trim(), line: firstLine + countLines(sql, 0, start + lead) });
    }
    start = end + 1;
  };
  while (i < sql.length) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end + 1;
    } else if (c === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < sql.length && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
        } else {
          i++;
        }
      }
    } else if (c === "'" || c === '"') {
      const escapes = c === "'" && /[eE]/.test(sql[i - 1] ?? '') && !/[A-Za-z0-9_]/.test(sql[i - 2] ?? '');
      i++;
      while (i < sql.length) {
        if (escapes && sql[i] === '\\') i += 2;
        else if (sql[i] === c && sql[i + 1] === c) i += 2;
        else if (sql[i] === c) break;
        else i++;
      }
      i++;
    } else if (c === '$' && !/[A-Za-z0-9_$]/.test(sql[i - 1] ?? '')) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i))?.[0];
      if (tag) {
        const end = sql.indexOf(tag, i + tag.length);
        i = end < 0 ? sql.length : end + tag.length;
      } else {
        i++;
      }
    } else if (c === ';') {
      push(i);
      i++;
    } else {
      i++;
    }
  }
  push(sql.length);
  return statements;
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

/** Splits a file into its sections, the way node-pg-migrate's SQL loader does (same markers). */
export function parseMigrationText(text: string, path: string): { up: MigrationSection; down?: MigrationSection } {
  const upAt = text.search(marker('up'));
  const downAt = text.search(marker('down'));
  if (upAt < 0) {
    throw new LlmspellError('MIGRATION_INVALID', `${path} has no "-- Up Migration" section`, {
      hint: 'Start the file with a line "-- Up Migration", and put the undo SQL after a line "-- Down Migration".',
    });
  }
  const section = (from: number, to: number): MigrationSection => {
    const sql = text.slice(from, to);
    const line = 1 + countLines(text, 0, from);
    return { sql, line, statements: splitStatements(sql, line) };
  };
  const up = section(upAt, downAt > upAt ? downAt : text.length);
  return downAt < 0 ? { up } : { up, down: section(downAt, upAt > downAt ? upAt : text.length) };
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
