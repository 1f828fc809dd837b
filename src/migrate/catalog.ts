import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LlmspellError } from '../errors.js';

/** One section (up or down) of a migration file. */
export interface MigrationSection {
  sql: string;
  /** 1-based line of the file where the section starts (its `-- Up/Down Migration` marker). */
  line: number;
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

/** File names the catalog accepts; node-pg-migrate is told to ignore every other file. */
export const MIGRATION_FILE = /^(\d+)_[a-z0-9_]+\.sql$/;

const marker = (direction: 'up' | 'down') => new RegExp(`^\\s*--[\\s-]*${direction}\\s+migration`, 'im');

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Splits a file into its sections, the way node-pg-migrate's SQL loader does (same markers). */
export function parseMigrationText(text: string, path: string): { up: MigrationSection; down?: MigrationSection } {
  const upAt = text.search(marker('up'));
  const downAt = text.search(marker('down'));
  if (upAt < 0) {
    throw new LlmspellError('MIGRATION_INVALID', `${path} has no "-- Up Migration" section`, {
      hint: 'Start the file with a line "-- Up Migration", and put the undo SQL after a line "-- Down Migration".',
    });
  }
  const upEnd = downAt > upAt ? downAt : text.length;
  const up = { sql: text.slice(upAt, upEnd), line: lineAt(text, upAt) };
  if (downAt < 0) return { up };
  const downEnd = upAt > downAt ? upAt : text.length;
  return { up, down: { sql: text.slice(downAt, downEnd), line: lineAt(text, downAt) } };
}

/**
 * Reads every migration of a directory, ordered by version. Refuses duplicate versions and files
 * without an up section, so what runs is exactly what was listed.
 */
export async function loadMigrationFiles(dir: string = DEFAULT_MIGRATIONS_DIR): Promise<MigrationFile[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => MIGRATION_FILE.test(name));
  } catch (error) {
    throw new LlmspellError('MIGRATION_INVALID', `cannot read the migrations directory ${dir}: ${(error as Error).message}`, { cause: error });
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
      throw new LlmspellError('MIGRATION_INVALID', `two migrations have version ${files[i]!.version}: ${files[i - 1]!.name} and ${files[i]!.name}`, {
        hint: 'Give each migration file its own number.',
      });
    }
  }
  return files;
}
