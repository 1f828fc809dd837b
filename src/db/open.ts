import type { Settings, StorageBackend } from '../config/schema.js';
import { defaultEmbeddedDataDir, type Env } from '../config/paths.js';
import { SourceDatabase } from './database.js';
import { toDatabaseError } from './errors.js';
import { LlmspellError } from '../errors.js';
import { createPgliteSource, hasDataDir, type OpenProgress } from './pglite-source.js';
import { createPostgresSource } from './postgres-source.js';
import { tenantIdValidator } from './tenant.js';
import type { Database } from './types.js';

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** Which backend to open; default `settings.storage.backend` (components may override it). */
  backend?: StorageBackend;
  /** Environment, for the default embedded data directory; default `process.env`. */
  env?: Env;
  /** Called while the embedded database initialises on first use (seconds). */
  onProgress?: (event: OpenProgress) => void;
}

/** The data directory of the embedded backend: `storage.embedded.path`, or the XDG default. */
export function embeddedDataDir(settings: Settings, env: Env = process.env): string {
  return settings.storage.embedded.path ?? defaultEmbeddedDataDir(env);
}

/** Whether the embedded database has been created (read-only commands must not create it). */
export function embeddedDatabaseExists(settings: Settings, env: Env = process.env): boolean {
  return hasDataDir(embeddedDataDir(settings, env));
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
  const tenants = {
    validate: tenantIdValidator(postgres.tenant_id_pattern),
    enforceAppRole: postgres.enforce_tenant_isolation,
  };
  switch (backend) {
    case 'postgres':
      return new SourceDatabase(createPostgresSource(postgres), tenants);
    case 'embedded':
    case 'memory': {
      const location =
        backend === 'embedded'
          ? { kind: 'embedded' as const, dataDir: embeddedDataDir(settings, options.env) }
          : { kind: 'memory' as const };
      try {
        return new SourceDatabase(
          await createPgliteSource(location, options.onProgress ? { onProgress: options.onProgress } : {}),
          tenants,
        );
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
