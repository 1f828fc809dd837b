import type { Settings, StorageBackend } from '../config/schema.js';
import { absoluteDir, defaultEmbeddedDataDir, type Env } from '../config/paths.js';
import { SourceDatabase, type TransactionPolicy } from './database.js';
import { toDatabaseError } from './errors.js';
import { LlmspellError } from '../errors.js';
import {
  createPgliteSource,
  type OpenProgress,
  type ExtensionSet,
  type PgliteLocation,
  type PgliteSource,
} from './pglite-source.js';
import { createPostgresSource } from './postgres-source.js';
import { tenantIdValidator } from './tenant.js';
import type { Database } from './types.js';

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** Which backend to open; default `settings.storage.backend` (components may override it). */
  backend?: StorageBackend;
  /**
   * Environment: for the default embedded data directory, and for a `postgres` connection the
   * libpq variables (`PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`, `PGPASSWORD`,
   * `PGPASSFILE`) and `HOME` (`~/.postgresql/`, `~/.pgpass`); default `process.env`.
   */
  env?: Env;
  /**
   * The configuration key the `postgres` URL came from, named in connection errors; default
   * `storage.postgres.url` ({@link openMigrationDatabase} sets `storage.postgres.migration_url`
   * when it uses that one).
   */
  urlKey?: string;
  /**
   * Where the URL's value was set, as users name it (`LLMSPELL_STORAGE_POSTGRES_URL`,
   * `DATABASE_URL`, the config file's path), named in configuration and connection errors.
   */
  urlOrigin?: string;
  /** Called while the embedded database initialises on first use (seconds). */
  onProgress?: (event: OpenProgress) => void;
  /**
   * Which extension bundles the embedded backend loads ({@link ExtensionSet}); default `all`. A
   * command that only inspects the database loads fewer, and starts sooner.
   */
  extensions?: ExtensionSet;
  /**
   * Start the `memory` backend from a snapshot taken with {@link dumpMemoryDatabase} instead of an
   * empty database (fixtures, tests: loading one takes about a second, a fresh initdb several).
   */
  memorySnapshot?: Blob;
}

/** The PGlite sources of open memory and embedded databases, for {@link dumpMemoryDatabase}. */
const pgliteSources = new WeakMap<Database, PgliteSource>();

/**
 * Dumps a PGlite database (memory or embedded) opened by {@link openDatabase} as a `dumpDataDir`
 * archive, for {@link OpenDatabaseOptions.memorySnapshot}. Throws for a `postgres` database.
 */
export function dumpMemoryDatabase(db: Database): Promise<Blob> {
  const source = pgliteSources.get(db);
  if (!source) throw new LlmspellError('USAGE', `cannot snapshot a ${db.kind} database: only PGlite databases dump`);
  return source.dump();
}

/**
 * The data directory of the embedded backend, absolute: `storage.embedded.path` (`~` expanded,
 * a relative path taken from the current directory; see {@link absoluteDir}), or the XDG default.
 */
export function embeddedDataDir(settings: Settings, env: Env = process.env): string {
  const path = settings.storage.embedded.path;
  return path === undefined ? defaultEmbeddedDataDir(env) : absoluteDir(path, env, 'storage.embedded.path');
}

/**
 * Opens the database the settings name: `embedded` (PGlite on disk, locked against other
 * processes), `memory` (PGlite in memory) or `postgres` (a `pg.Pool`). The handle is the same
 * {@link Database} interface whichever it is.
 *
 * @example
 * const { settings } = await loadSettings();
 * const db = await openDatabase(settings);
 * try { await db.withTenant('acme', (tx) => tx.query('SELECT 1')); } finally { await db.close(); }
 */
export async function openDatabase(settings: Settings, options: OpenDatabaseOptions = {}): Promise<Database> {
  const backend = options.backend ?? settings.storage.backend;
  const postgres = settings.storage.postgres;
  const tenants: TransactionPolicy = {
    validate: tenantIdValidator(postgres.tenant_id_pattern),
    enforceAppRole: postgres.enforce_tenant_isolation,
    statementTimeoutMs: postgres.statement_timeout_secs * 1000,
    idleInTransactionTimeoutMs: postgres.idle_in_transaction_timeout_secs * 1000,
  };
  switch (backend) {
    case 'postgres':
      return new SourceDatabase(
        createPostgresSource(postgres, {
          ...(options.env ? { env: options.env } : {}),
          ...(options.urlKey ? { urlKey: options.urlKey } : {}),
          ...(options.urlOrigin ? { urlOrigin: options.urlOrigin } : {}),
        }),
        tenants,
      );
    case 'embedded':
    case 'memory': {
      const location: PgliteLocation =
        backend === 'embedded'
          ? { kind: 'embedded', dataDir: embeddedDataDir(settings, options.env) }
          : { kind: 'memory', ...(options.memorySnapshot ? { snapshot: options.memorySnapshot } : {}) };
      try {
        const source = await createPgliteSource(location, {
          acquireTimeoutMs: postgres.pool_timeout_secs * 1000,
          ...(options.onProgress ? { onProgress: options.onProgress } : {}),
          ...(options.extensions ? { extensions: options.extensions } : {}),
        });
        const db = new SourceDatabase(source, tenants);
        pgliteSources.set(db, source);
        return db;
      } catch (error) {
        throw toDatabaseError(error, location.kind === 'embedded' ? location.dataDir : 'memory');
      }
    }
    default:
      // Settings that did not come through loadSettings (e.g. "sled" unresolved): refuse, never guess.
      throw new LlmspellError('CONFIG_INVALID', `unknown storage backend ${JSON.stringify(backend)}`, {
        hint: 'Use embedded, memory or postgres (loadSettings resolves the deprecated "sled" to embedded).',
      });
  }
}
