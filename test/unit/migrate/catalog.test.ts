import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadMigrationFiles,
  parseMigrationText,
  parseNoTransaction,
  splitStatements,
  type MigrationStatement,
} from '../../../src/migrate/catalog.js';
import { LlmspellError } from '../../../src/errors.js';

/** `[line, sql]` pairs: what the tables below expect, shorter to read than objects. */
type Expected = Array<[number, string]>;

const split = (sql: string, firstLine = 1): Expected =>
  splitStatements(sql, firstLine).map((s: MigrationStatement) => [s.line, s.sql]);

/** The LlmspellError that `run` throws. */
function errorOf(run: () => unknown): LlmspellError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(LlmspellError);
    return error as LlmspellError;
  }
  throw new Error('expected an LlmspellError, nothing was thrown');
}

/**
 * Tricky but valid SQL, each with the statements it holds. Every case is checked twice: that the
 * splitter cuts it exactly so, and (below) that PostgreSQL agrees.
 */
const CORPUS: Array<{ name: string; sql: string; expected: Expected }> = [
  {
    name: 'a doubled quote in a string',
    sql: "SELECT 'it''s; here';\nSELECT 2;",
    expected: [
      [1, "SELECT 'it''s; here'"],
      [2, 'SELECT 2'],
    ],
  },
  {
    name: 'a backslash in an ordinary string (standard_conforming_strings: not an escape)',
    sql: "SELECT 'C:\\';\nSELECT 'a;b\\';",
    expected: [
      [1, "SELECT 'C:\\'"],
      [2, "SELECT 'a;b\\'"],
    ],
  },
  {
    name: 'E-strings, whose backslash escapes',
    sql: "SELECT E'it\\'s; here', e'\\\\';\nSELECT (e'\\';');\nSELECT 3;",
    expected: [
      [1, "SELECT E'it\\'s; here', e'\\\\'"],
      [2, "SELECT (e'\\';')"],
      [3, 'SELECT 3'],
    ],
  },
  {
    name: 'an E-string continued on the next line, still with escapes',
    sql: "SELECT E'a' -- note\n  'b\\'; c' AS v;\nSELECT 2;",
    expected: [
      [1, "SELECT E'a' -- note\n  'b\\'; c' AS v"],
      [3, 'SELECT 2'],
    ],
  },
  {
    name: 'an identifier ending in e before a string (a typed literal, not an E-string)',
    sql: "CREATE DOMAIN somee AS text;\nSELECT somee'C:\\';\nSELECT 3;",
    expected: [
      [1, 'CREATE DOMAIN somee AS text'],
      [2, "SELECT somee'C:\\'"],
      [3, 'SELECT 3'],
    ],
  },
  {
    name: 'identifiers ending in e after a $ or a non-ASCII letter',
    sql: "CREATE DOMAIN t$e AS text;\nCREATE DOMAIN née AS text;\nSELECT t$e'C:\\', née'D:\\';\nSELECT 4;",
    expected: [
      [1, 'CREATE DOMAIN t$e AS text'],
      [2, 'CREATE DOMAIN née AS text'],
      [3, "SELECT t$e'C:\\', née'D:\\'"],
      [4, 'SELECT 4'],
    ],
  },
  {
    name: 'U& strings and identifiers, B, X and N strings (standard quoting)',
    sql: "SELECT U&'d\\0061t\\+000061; x', U&'it''s', B'01', X'1F', N'a;b' FROM (SELECT 1 AS \"a;b\") s WHERE U&\"a;b\" = 1;\nSELECT 2;",
    expected: [
      [
        1,
        "SELECT U&'d\\0061t\\+000061; x', U&'it''s', B'01', X'1F', N'a;b' FROM (SELECT 1 AS \"a;b\") s WHERE U&\"a;b\" = 1",
      ],
      [2, 'SELECT 2'],
    ],
  },
  {
    name: 'quoted identifiers with a doubled "',
    sql: 'CREATE TABLE "x"";y" ("a;" int);\nSELECT "a;" FROM "x"";y";',
    expected: [
      [1, 'CREATE TABLE "x"";y" ("a;" int)'],
      [2, 'SELECT "a;" FROM "x"";y"'],
    ],
  },
  {
    name: 'line comments, nested block comments, a comment at the end without newline',
    sql: "SELECT 1 -- it's; here\n;\n/* a /* b; */ c; */ SELECT 2 /* ; */;\n-- the end; really",
    expected: [
      [1, 'SELECT 1'],
      [3, 'SELECT 2'],
    ],
  },
  {
    name: 'a statement of comments only, nested',
    sql: 'SELECT 1;\n/* /* */ x; */\n-- y;\n',
    expected: [[1, 'SELECT 1']],
  },
  {
    name: 'dollar quotes without and with tags, and nested different tags',
    sql: "DO $$ BEGIN PERFORM 1; END $$;\nDO $fn$ BEGIN PERFORM 'a$$b;'; END $fn$;\nSELECT $a$ $b$ ; $b$ $a$, $x$;$ $x$;",
    expected: [
      [1, 'DO $$ BEGIN PERFORM 1; END $$'],
      [2, "DO $fn$ BEGIN PERFORM 'a$$b;'; END $fn$"],
      [3, 'SELECT $a$ $b$ ; $b$ $a$, $x$;$ $x$'],
    ],
  },
  {
    name: 'a non-ASCII dollar tag',
    sql: 'DO $ü$ BEGIN PERFORM 1; END $ü$;\nSELECT 2;',
    expected: [
      [1, 'DO $ü$ BEGIN PERFORM 1; END $ü$'],
      [2, 'SELECT 2'],
    ],
  },
  {
    name: '$1 parameters and $ inside identifiers, which are not dollar quotes',
    sql: 'PREPARE p AS SELECT $1::int + $2;\nCREATE TABLE x$y (a$$ int);\nCREATE TABLE café$$ (a int);\nDEALLOCATE p;',
    expected: [
      [1, 'PREPARE p AS SELECT $1::int + $2'],
      [2, 'CREATE TABLE x$y (a$$ int)'],
      [3, 'CREATE TABLE café$$ (a int)'],
      [4, 'DEALLOCATE p'],
    ],
  },
  {
    name: 'a SQL-standard function body (BEGIN ATOMIC … END) with a CASE … END inside',
    sql: [
      'CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql',
      'BEGIN ATOMIC',
      '  SELECT 1;',
      '  SELECT CASE WHEN a > 0 THEN 1 ELSE (CASE a WHEN 0 THEN 0 END) END;',
      'END;',
      'SELECT f(1);',
    ].join('\n'),
    expected: [
      [
        1,
        'CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT CASE WHEN a > 0 THEN 1 ELSE (CASE a WHEN 0 THEN 0 END) END;\nEND',
      ],
      [6, 'SELECT f(1)'],
    ],
  },
  {
    name: 'a procedure (CREATE OR REPLACE, lower case), a column named begin, a final END without ;',
    sql: [
      'CREATE TABLE t (begin int);',
      'create or replace procedure p() language sql begin atomic',
      '  insert into t values (1); insert into t values (2);',
      'end;',
      'CALL p();',
      'SELECT begin FROM t;',
      'CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END',
    ].join('\n'),
    expected: [
      [1, 'CREATE TABLE t (begin int)'],
      [
        2,
        'create or replace procedure p() language sql begin atomic\n  insert into t values (1); insert into t values (2);\nend',
      ],
      [5, 'CALL p()'],
      [6, 'SELECT begin FROM t'],
      [7, 'CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END'],
    ],
  },
  {
    name: 'transaction statements (BEGIN; … END;) and a dollar-quoted function, which split normally',
    sql: 'BEGIN;\nCREATE FUNCTION h() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;\nEND;\nSELECT 4;',
    expected: [
      [1, 'BEGIN'],
      [2, 'CREATE FUNCTION h() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$'],
      [3, 'END'],
      [4, 'SELECT 4'],
    ],
  },
  {
    name: 'a rule whose action is several statements in parentheses',
    sql: [
      'CREATE TABLE t (a int);',
      'CREATE TABLE log (a int);',
      'CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO log VALUES (NEW.a); UPDATE log SET a = a + 1);',
      'INSERT INTO t VALUES (1);',
    ].join('\n'),
    expected: [
      [1, 'CREATE TABLE t (a int)'],
      [2, 'CREATE TABLE log (a int)'],
      [3, 'CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO log VALUES (NEW.a); UPDATE log SET a = a + 1)'],
      [4, 'INSERT INTO t VALUES (1)'],
    ],
  },
  {
    name: 'CRLF line ends, and comments before a statement',
    sql: 'SELECT 1;\r\n\r\n-- about the next one;\r\n/* and; more */\r\n  SELECT 2\r\n;\r\n',
    expected: [
      [1, 'SELECT 1'],
      [5, 'SELECT 2'],
    ],
  },
];

describe('splitStatements', () => {
  it.each(CORPUS)('splits $name', ({ sql, expected }) => {
    expect(split(sql)).toEqual(expected);
  });

  it('drops empty statements and keeps the last one without a semicolon', () => {
    expect(split(';;\n SELECT 1;;  ;\nSELECT 2')).toEqual([
      [2, 'SELECT 1'],
      [3, 'SELECT 2'],
    ]);
    expect(split('')).toEqual([]);
    expect(split('  -- nothing\n/* at all */ ;\n')).toEqual([]);
  });

  it('counts lines from firstLine, to the first line of code (not of the comments before it)', () => {
    expect(split('-- Up Migration\n-- why\nCREATE TABLE a (x int);\n\n/* b */ SELECT 1;', 10)).toEqual([
      [12, 'CREATE TABLE a (x int)'],
      [14, 'SELECT 1'],
    ]);
  });

  it('keeps comments inside a statement, and drops those after its last token', () => {
    expect(split('SELECT 1, -- one\n  2 /* two */ + 3 -- done\n;')).toEqual([
      [1, 'SELECT 1, -- one\n  2 /* two */ + 3'],
    ]);
  });

  it('ends a -- comment at a bare carriage return too, as PostgreSQL does', () => {
    expect(split('-- note\rSELECT 1;')).toEqual([[1, 'SELECT 1']]);
  });

  it('keeps an unterminated block comment as a statement, for PostgreSQL to report', () => {
    expect(split('SELECT 1;\n/* unterminated; \nCREATE TABLE x ();')).toEqual([
      [1, 'SELECT 1'],
      [2, '/* unterminated; \nCREATE TABLE x ();'],
    ]);
  });

  it('runs an unterminated string or dollar quote to the end', () => {
    expect(split("SELECT 'a; SELECT 2;")).toEqual([[1, "SELECT 'a; SELECT 2;"]]);
    expect(split('SELECT $q$ a; SELECT 2; $Q$;')).toEqual([[1, 'SELECT $q$ a; SELECT 2; $Q$;']]);
    expect(split("SELECT E'\\")).toEqual([[1, "SELECT E'\\"]]);
  });

  it('ends a dollar quote at the first identical tag, even inside a longer one', () => {
    expect(split('SELECT $a$ x $b$a$; SELECT 2;')).toEqual([
      [1, 'SELECT $a$ x $b$a$'],
      [1, 'SELECT 2'],
    ]);
  });

  it('does not count BEGIN, CASE or END outside a CREATE FUNCTION/PROCEDURE statement, or inside parentheses', () => {
    expect(split('SELECT CASE WHEN true THEN 1 END; SELECT 2;')).toEqual([
      [1, 'SELECT CASE WHEN true THEN 1 END'],
      [1, 'SELECT 2'],
    ]);
    expect(
      split('CREATE TABLE begin (x int); CREATE AGGREGATE a (int) (sfunc = int4pl, stype = int); SELECT 3;'),
    ).toEqual([
      [1, 'CREATE TABLE begin (x int)'],
      [1, 'CREATE AGGREGATE a (int) (sfunc = int4pl, stype = int)'],
      [1, 'SELECT 3'],
    ]);
    expect(split('CREATE FUNCTION f(begin int, "end" int) RETURNS int LANGUAGE sql RETURN 1; SELECT 2;')).toEqual([
      [1, 'CREATE FUNCTION f(begin int, "end" int) RETURNS int LANGUAGE sql RETURN 1'],
      [1, 'SELECT 2'],
    ]);
  });

  it('shares the limit of psql’s heuristic: a bare begin in a CREATE FUNCTION statement opens a block', () => {
    // psql reads this the same way; the statements still run (as one), only their lines merge.
    expect(split('CREATE FUNCTION begin() RETURNS int LANGUAGE sql RETURN 1; SELECT 2;')).toEqual([
      [1, 'CREATE FUNCTION begin() RETURNS int LANGUAGE sql RETURN 1; SELECT 2;'],
    ]);
  });

  it('splits 5 MB in well under a second (linear time)', () => {
    const block = (n: number) =>
      `-- comment ${n}; here\nCREATE FUNCTION f_${n}() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;\n` +
      `INSERT INTO t VALUES ('a;b', E'it\\'s', "x""y", $1, x$y) /* block ; */;\n`;
    const blocks: string[] = [];
    let size = 0;
    while (size < 5_000_000) {
      blocks.push(block(blocks.length));
      size += blocks.at(-1)!.length;
    }
    const sql = blocks.join('');
    const started = performance.now();
    const statements = splitStatements(sql);
    const elapsed = performance.now() - started;
    expect(statements).toHaveLength(2 * blocks.length);
    const last = blocks.length - 1;
    expect(statements.at(-1)).toEqual({
      sql: `INSERT INTO t VALUES ('a;b', E'it\\'s', "x""y", $1, x$y)`,
      line: 3 * last + 3,
    });
    expect(statements.at(-2)).toEqual({
      sql: `CREATE FUNCTION f_${last}() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$`,
      line: 3 * last + 2,
    });
    expect(elapsed).toBeLessThan(10_000); // quadratic splitting took 300 s; a linear one 0.2 s idle
  });
});

describe('PostgreSQL agrees with the splitter', () => {
  let db: PGlite;
  beforeAll(async () => {
    db = await PGlite.create();
  }, 120_000);
  afterAll(async () => {
    await db?.close();
  });

  // PostgreSQL counts the statements of the whole text (one result each), and runs each piece on
  // its own through the extended protocol, which refuses more than one statement.
  it.each(CORPUS)('on $name', async ({ sql }) => {
    const pieces = splitStatements(sql).map((s) => s.sql);
    await db.exec('DROP SCHEMA IF EXISTS whole, pieces CASCADE; CREATE SCHEMA whole; CREATE SCHEMA pieces');
    await db.exec('SET search_path = whole');
    expect(await db.exec(sql)).toHaveLength(pieces.length);
    await db.exec('SET search_path = pieces');
    for (const piece of pieces) await db.query(piece);
  });
});

describe('parseNoTransaction', () => {
  it.each([
    ['alone on the first line', '--! no-transaction\n-- Up Migration\nSELECT 1;'],
    ['with trailing white space', '--! no-transaction \t\n-- Up Migration\n'],
    ['with CRLF', '--! no-transaction\r\n-- Up Migration\r\n'],
    ['after a byte order mark', '\uFEFF--! no-transaction\n-- Up Migration\n'],
    ['as the whole file', '--! no-transaction'],
  ])('reads the marker %s', (_name, text) => {
    expect(parseNoTransaction(text, 'm.sql')).toBe(true);
  });

  it.each([
    ['no marker', '-- Up Migration\nSELECT 1;'],
    ['prose about no-transaction', '-- this needs no-transaction: CREATE INDEX CONCURRENTLY\n-- Up Migration\n'],
    ['a comment saying no transaction among other words', '-- Up Migration\n-- no transaction needed here\n'],
    ['an ordinary comment with a !', '-- ! important\n-- Up Migration\n'],
    ['the words in SQL', "-- Up Migration\nSELECT 'no-transaction';"],
  ])('reads %s as a transactional migration', (_name, text) => {
    expect(parseNoTransaction(text, 'm.sql')).toBe(false);
  });

  it.each([
    ['on the second line', '\n--! no-transaction\n-- Up Migration\n', 2, 'counts only alone on the first line'],
    ['after the Up marker', '-- Up Migration\n--! no-transaction\nSELECT 1;', 2, 'counts only alone on the first line'],
    ['indented', '  --! no-transaction\n-- Up Migration\n', 1, 'counts only alone on the first line'],
    ['twice', '--! no-transaction\n-- Up Migration\n--! no-transaction\n', 3, 'counts only alone on the first line'],
    ['without the space', '--!no-transaction\n-- Up Migration\n', 1, 'looks like a misspelled'],
    ['with a spaced-out !', '-- ! no-transaction\n-- Up Migration\n', 1, 'looks like a misspelled'],
    ['without the !', '-- no-transaction\n-- Up Migration\n', 1, 'looks like a misspelled'],
    ['with an underscore', '--! no_transaction\n-- Up Migration\n', 1, 'looks like a misspelled'],
    ['in capitals', '--! No-Transaction\r\n-- Up Migration\r\n', 1, 'looks like a misspelled'],
    ['with more after it', '--! no-transaction -- for the index\n-- Up Migration\n', 1, 'looks like a misspelled'],
    ['an unknown directive', '--! Previous: sha1:0123\n-- Up Migration\n', 1, 'unknown directive'],
  ])('refuses the marker %s', (_name, text, line, message) => {
    const error = errorOf(() => parseNoTransaction(text, '/m/0002_x.sql'));
    expect(error.code).toBe('MIGRATION_INVALID');
    expect(error.message).toContain(`/m/0002_x.sql line ${line}: `);
    expect(error.message).toContain(message);
    expect(error.hint).toContain('"--! no-transaction"');
    expect(error.hint).toContain('first line of the file');
  });
});

describe('parseMigrationText', () => {
  it('splits the up and down sections, with the lines of their markers and statements', () => {
    const text = [
      '-- a header',
      '',
      '-- Up Migration',
      'CREATE TABLE a (x int);',
      '-- b is next',
      'CREATE TABLE b (y int);',
      '',
      '-- Down Migration',
      'DROP TABLE b;',
      'DROP TABLE a;',
      '',
    ].join('\n');
    const parsed = parseMigrationText(text, 'm.sql');
    expect(parsed.noTransaction).toBe(false);
    expect(parsed.up.line).toBe(3);
    expect(parsed.up.sql).toBe(text.slice(text.indexOf('\n-- Up'), text.indexOf('\n-- Down')));
    expect(parsed.up.statements).toEqual([
      { sql: 'CREATE TABLE a (x int)', line: 4 },
      { sql: 'CREATE TABLE b (y int)', line: 6 },
    ]);
    expect(parsed.down?.line).toBe(8);
    expect(parsed.down?.statements).toEqual([
      { sql: 'DROP TABLE b', line: 9 },
      { sql: 'DROP TABLE a', line: 10 },
    ]);
  });

  it('takes the markers the way node-pg-migrate does: any case and dashes, down before up', () => {
    const parsed = parseMigrationText(
      '--- down migration\nDROP TABLE a;\n-- UP MIGRATION\nCREATE TABLE a ();\n',
      'm.sql',
    );
    expect(parsed.up).toMatchObject({ line: 3, statements: [{ sql: 'CREATE TABLE a ()', line: 4 }] });
    expect(parsed.down).toMatchObject({ line: 1, statements: [{ sql: 'DROP TABLE a', line: 2 }] });
  });

  it('reads a CRLF file, and one without a down section', () => {
    const parsed = parseMigrationText(
      '--! no-transaction\r\n-- Up Migration\r\nCREATE INDEX CONCURRENTLY i ON t (a);\r\n',
      'm.sql',
    );
    expect(parsed).toEqual({
      up: {
        // As node-pg-migrate slices it: the marker regex's ^ matches between \r and \n.
        sql: '\n-- Up Migration\r\nCREATE INDEX CONCURRENTLY i ON t (a);\r\n',
        line: 2,
        statements: [{ sql: 'CREATE INDEX CONCURRENTLY i ON t (a)', line: 3 }],
      },
      noTransaction: true,
    });
  });

  it('refuses a file without an Up section', () => {
    const error = errorOf(() => parseMigrationText('-- Down Migration\nDROP TABLE a;\n', '/m/0001_a.sql'));
    expect(error.code).toBe('MIGRATION_INVALID');
    expect(error.message).toBe('/m/0001_a.sql has no "-- Up Migration" section');
  });

  it('refuses a misplaced no-transaction marker', () => {
    const error = errorOf(() => parseMigrationText('-- Up Migration\n--! no-transaction\nSELECT 1;\n', 'm.sql'));
    expect(error.code).toBe('MIGRATION_INVALID');
  });
});

describe('loadMigrationFiles', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llmspell-catalog-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A fresh subdirectory of `dir` holding `files`. */
  async function directory(name: string, files: Record<string, string | Buffer>): Promise<string> {
    const path = await mkdtemp(join(dir, `${name}-`));
    for (const [file, content] of Object.entries(files)) await writeFile(join(path, file), content);
    return path;
  }

  it('reads the migrations in version order, with checksums, sections and the no-transaction marker', async () => {
    const index = Buffer.from(
      '--! no-transaction\r\n-- Up Migration\r\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (é);\r\n',
    );
    const path = await directory('ok', {
      '0010_index.sql': index,
      '0002_table.sql': '-- Up Migration\nCREATE TABLE t (é int);\n-- Down Migration\nDROP TABLE t;\n',
      'README.md': '# not a migration',
      '0003-dash.sql': '-- Up Migration\nSELECT 1;',
      '0004_Upper.sql': '-- Up Migration\nSELECT 1;',
      'notes.sql': '-- Up Migration\nSELECT 1;',
      '0005_x.sql.bak': '-- Up Migration\nSELECT 1;',
    });
    const files = await loadMigrationFiles(path);
    expect(files.map((f) => [f.version, f.name, f.noTransaction])).toEqual([
      [2, '0002_table', false],
      [10, '0010_index', true],
    ]);
    expect(files[1]!.path).toBe(join(path, '0010_index.sql'));
    expect(files[1]!.checksum).toBe(createHash('sha256').update(index).digest('hex'));
    expect(files[1]!.up.statements).toEqual([{ sql: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (é)', line: 3 }]);
    expect(files[1]!.down).toBeUndefined();
    expect(files[0]!.down?.statements).toEqual([{ sql: 'DROP TABLE t', line: 4 }]);
  });

  it('refuses two files with the same version', async () => {
    const path = await directory('dup', {
      '0001_a.sql': '-- Up Migration\nSELECT 1;',
      '001_b.sql': '-- Up Migration\nSELECT 2;',
    });
    await expect(loadMigrationFiles(path)).rejects.toMatchObject({
      code: 'MIGRATION_INVALID',
      message: expect.stringMatching(/^two migrations have version 1: (001_b and 0001_a|0001_a and 001_b)$/),
    });
  });

  it('refuses a file with a misplaced marker, naming it', async () => {
    const path = await directory('marker', { '0001_a.sql': '-- Up Migration\n--!no-transaction\nSELECT 1;' });
    await expect(loadMigrationFiles(path)).rejects.toMatchObject({
      code: 'MIGRATION_INVALID',
      message: expect.stringContaining(`${join(path, '0001_a.sql')} line 2: `),
    });
  });

  it('refuses a directory it cannot read', async () => {
    await expect(loadMigrationFiles(join(dir, 'missing'))).rejects.toMatchObject({ code: 'MIGRATION_INVALID' });
  });
});
