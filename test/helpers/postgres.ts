/**
 * Per-test-file PostgreSQL databases on the run's servers (started by `./global-setup.ts`, one per
 * major in `LLMSPELL_TEST_PG_MAJORS`, default 15–18; 18 unless a test asks for another).
 *
 * Every database is a `CREATE DATABASE … TEMPLATE` clone (tens of milliseconds) of one of the
 * run's templates (empty, or migrated), so test files are isolated from each other and can run in
 * parallel. Roles are cluster-wide, so role names must be unique across test files.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import type { TestServerInfo } from './global-setup.js';
import { DEFAULT_MAJOR } from './postgres-server.js';

/** The environment variable that turns the PostgreSQL server off for a run. */
export const NO_POSTGRES_ENV = 'LLMSPELL_TEST_NO_POSTGRES';

/** A database cloned for a test file, as returned by {@link createTestDatabase}. */
export interface TestDatabase {
  /** The database name, `llmspell_test_<random>`. */
  readonly name: string;
  /** Superuser URL of this database. */
  readonly url: string;
  /** Superuser URL of the server's `postgres` database (for CREATE ROLE and the like). */
  readonly adminUrl: string;
  /** The server's major version. */
  readonly major: number;
  /** Drops the database, disconnecting its remaining sessions (`WITH (FORCE)`). Idempotent. */
  drop(): Promise<void>;
}

/** Options of {@link createTestDatabase}. */
export interface CreateTestDatabaseOptions {
  /** The server to create it on, by major (one of {@link testMajors}). Default 18. */
  major?: number;
  /** The database to clone; default: the run's template (`llmspell_template`) of that server. */
  template?: string;
  /**
   * Clone the server's migrated template (`llmspell_template_migrated`: every core migration
   * applied, vector track disabled) instead of the empty one. Throws the migration error recorded
   * in global setup when that template could not be built on this major.
   */
  migrated?: boolean;
  /**
   * `CREATE DATABASE … STRATEGY` (PostgreSQL 15+); default PostgreSQL's (`WAL_LOG`). With fsync
   * off, `FILE_COPY` measured a little faster here for small templates and about the same for a
   * 40-table one.
   */
  strategy?: 'WAL_LOG' | 'FILE_COPY';
}

/** Options of {@link createLoginRole}. */
export interface LoginRoleOptions {
  /** Grant CREATEDB. Default false. */
  createdb?: boolean;
  /** Grant BYPASSRLS (the point of most test roles is not to have it). Default false. */
  bypassRls?: boolean;
  /** Roles to grant membership in (e.g. an application group role made by a migration). */
  memberOf?: readonly string[];
  /**
   * What to do when the role exists already: `'error'` (default; roles are cluster-wide, so a
   * clash usually means two test files picked the same name) or `'alter'` (reset its password and
   * attributes).
   */
  ifExists?: 'error' | 'alter';
}

/** A role made by {@link createLoginRole}. */
export interface LoginRole {
  /** The role name. */
  readonly name: string;
  /** Its password. */
  readonly password: string;
  /** The `adminUrl` passed in, with this role's credentials instead. */
  readonly url: string;
}

function noPostgres(): Error {
  return new Error(
    `no PostgreSQL server in this run: ${NO_POSTGRES_ENV}=1 is set (unset it to run tests that need PostgreSQL)`,
  );
}

/**
 * What global setup recorded about the run's server of `major`.
 * @throws when the run started without servers, or without that major.
 */
export function testServer(major: number = DEFAULT_MAJOR): TestServerInfo {
  const servers = inject('pgServers');
  if (Object.keys(servers).length === 0) throw noPostgres();
  const server = servers[String(major)];
  if (!server) {
    throw new Error(
      `no PostgreSQL ${major} server in this run: LLMSPELL_TEST_PG_MAJORS is ${inject('pgMajorsSetting')} (add ${major} to it, or start one in the test with startPostgresServer({ major: ${major} }))`,
    );
  }
  return server;
}

/** The majors whose servers this run started (`LLMSPELL_TEST_PG_MAJORS`), ascending; `[]` without PostgreSQL. */
export function testMajors(): number[] {
  return Object.values(inject('pgServers'))
    .map((server) => server.major)
    .sort((a, b) => a - b);
}

/**
 * The superuser URL of the run's server of `major` (default 18; its `postgres` database).
 * @throws when the run started without a server (`LLMSPELL_TEST_NO_POSTGRES=1`) or without that major.
 */
export function serverAdminUrl(major: number = DEFAULT_MAJOR): string {
  if (major === DEFAULT_MAJOR) {
    const url = inject('pgAdminUrl');
    if (url) return url;
  }
  return testServer(major).adminUrl;
}

/**
 * The name of the run's (empty) template database on the server of `major` (default 18).
 * @throws when the run started without a server (`LLMSPELL_TEST_NO_POSTGRES=1`) or without that major.
 */
export function templateDatabase(major: number = DEFAULT_MAJOR): string {
  return testServer(major).templateDatabase;
}

/**
 * The name of the migrated template database on the server of `major` (default 18).
 * @throws the migration error recorded in global setup when it could not be built on that major.
 */
export function migratedTemplateDatabase(major: number = DEFAULT_MAJOR): string {
  const server = testServer(major);
  if (server.migratedTemplateError !== null || !server.migratedTemplateDatabase) {
    throw new Error(
      `PostgreSQL ${major} (${server.version}): the migrated template could not be built in global setup, the migrations failed: ${server.migratedTemplateError ?? 'unknown error'}`,
    );
  }
  return server.migratedTemplateDatabase;
}

/** `url` pointing at `database` instead (credentials, host and options kept). */
export function databaseUrl(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/**
 * `url` with its user and password replaced (both percent-encoded as needed), e.g. to connect as
 * a non-superuser made by {@link createLoginRole}.
 */
export function roleUrl(url: string, user: string, password: string): string {
  const parsed = new URL(url);
  parsed.username = encodeURIComponent(user);
  parsed.password = encodeURIComponent(password);
  return parsed.toString();
}

/** Runs `fn` with a short-lived client connected to `url`. */
async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

const OBJECT_IN_USE = '55006';

/**
 * Creates a database `llmspell_test_<random>` on the run's server of `options.major` (default 18)
 * as a clone of its empty template, its migrated template (`migrated: true`) or
 * `options.template`. The caller drops it with `drop()` (or {@link useTestDatabase} does).
 * Retries briefly while the template has other sessions (error 55006).
 * @throws when the run started without that server (`LLMSPELL_TEST_NO_POSTGRES=1`, or a major not
 *   in `LLMSPELL_TEST_PG_MAJORS`), or with the recorded migration error when `migrated` is asked
 *   for a major whose migrated template could not be built.
 */
export async function createTestDatabase(options: CreateTestDatabaseOptions = {}): Promise<TestDatabase> {
  const major = options.major ?? DEFAULT_MAJOR;
  if (options.migrated && options.template !== undefined) {
    throw new Error('createTestDatabase: pass either template or migrated, not both');
  }
  const admin = serverAdminUrl(major);
  const template = options.template ?? (options.migrated ? migratedTemplateDatabase(major) : templateDatabase(major));
  const name = `llmspell_test_${randomBytes(6).toString('hex')}`;
  await withClient(admin, async (client) => {
    const strategy = options.strategy ? ` STRATEGY ${options.strategy === 'FILE_COPY' ? 'FILE_COPY' : 'WAL_LOG'}` : '';
    const sql = `CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(template)}${strategy}`;
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(sql);
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== OBJECT_IN_USE || attempt >= 50) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  });
  let dropped: Promise<void> | undefined;
  return {
    name,
    url: databaseUrl(admin, name),
    adminUrl: admin,
    major,
    drop: () =>
      (dropped ??= withClient(admin, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      })),
  };
}

/**
 * Registers `beforeAll`/`afterAll` hooks that create a test database for the current file (or
 * `describe` block) and drop it afterwards. Read the returned object's properties inside tests
 * or hooks, not at collection time (they throw before `beforeAll` has run).
 */
export function useTestDatabase(options: CreateTestDatabaseOptions = {}): TestDatabase {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    database = await createTestDatabase(options);
  });
  afterAll(async () => {
    await database?.drop();
  });
  const current = (): TestDatabase => {
    if (!database) throw new Error('useTestDatabase(): the database exists only once beforeAll has run');
    return database;
  };
  return {
    get name() {
      return current().name;
    },
    get url() {
      return current().url;
    },
    get adminUrl() {
      return current().adminUrl;
    },
    get major() {
      return current().major;
    },
    drop: () => current().drop(),
  };
}

/**
 * Creates a NOSUPERUSER LOGIN role (NOCREATEROLE, NOREPLICATION, NOBYPASSRLS unless asked), e.g.
 * the application role that row-level-security tests connect as: superusers bypass RLS even with
 * FORCE ROW LEVEL SECURITY. Roles are cluster-wide and live until the run's server stops; grants
 * on a test database's objects are the caller's business.
 * @param adminUrl a superuser URL (e.g. `TestDatabase.url`, whose database the returned `url` keeps)
 */
export async function createLoginRole(
  adminUrl: string,
  name: string,
  password: string,
  options: LoginRoleOptions = {},
): Promise<LoginRole> {
  const attributes = [
    'LOGIN',
    'NOSUPERUSER',
    'NOCREATEROLE',
    'NOREPLICATION',
    'INHERIT',
    options.createdb ? 'CREATEDB' : 'NOCREATEDB',
    options.bypassRls ? 'BYPASSRLS' : 'NOBYPASSRLS',
    `PASSWORD ${pg.escapeLiteral(password)}`,
  ].join(' ');
  const role = pg.escapeIdentifier(name);
  await withClient(adminUrl, async (client) => {
    try {
      await client.query(`CREATE ROLE ${role} WITH ${attributes}`);
    } catch (err) {
      const code = (err as { code?: string }).code;
      // 42710 duplicate_object; 23505 when a concurrent CREATE ROLE won the race.
      const exists = code === '42710' || code === '23505';
      if (!exists || options.ifExists !== 'alter') throw err;
      await client.query(`ALTER ROLE ${role} WITH ${attributes}`);
    }
    for (const group of options.memberOf ?? []) {
      await client.query(`GRANT ${pg.escapeIdentifier(group)} TO ${role}`);
    }
  });
  return { name, password, url: roleUrl(adminUrl, name, password) };
}
