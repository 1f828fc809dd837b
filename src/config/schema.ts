import { z } from 'zod';
import { describeValue } from './redact.js';

/**
 * The one list of configuration keys, their types, defaults and documentation.
 *
 * Everything else derives from it: the key table (`keys.ts`), the environment variables
 * (`LLMSPELL_` + the key path in capitals), `config get/set` parsing and the README reference.
 * Tables are strict (unknown keys are errors) and `prefault({})` so a missing table gets the
 * defaults of its keys.
 */

/** Extra facts about a key, attached with `.meta()` and read by `keys.ts`. */
export interface KeyMeta {
  description: string;
  /** What applies when the key is unset, in words; for optional keys, which have no default to show. */
  fallback?: string;
  /** The value may hold a credential: redacted in output unless `--show-secrets`. */
  secret?: boolean;
}

const key = <T extends z.ZodType>(type: T, meta: KeyMeta): T => type.meta({ ...meta });

/** Storage backends a user may name; `sled` is the deprecated alias of `embedded`. */
export const BACKEND_NAMES = ['embedded', 'memory', 'postgres', 'sled'] as const;
/** Backends after the `sled` alias is resolved. */
export type StorageBackend = 'embedded' | 'memory' | 'postgres';
/** The warning for a backend key set to `sled`. */
export const SLED_DEPRECATED = '"sled" is deprecated and means "embedded" (PGlite on disk); set it to "embedded"';

/**
 * The longest duration a `*_secs` key accepts: 2^31 − 1 ms, the most a Node timer can wait (a
 * longer one fires at once) and the largest statement_timeout / lock_timeout PostgreSQL takes.
 */
export const MAX_TIMEOUT_SECS = Math.floor((2 ** 31 - 1) / 1000);

const backendName = z.enum(BACKEND_NAMES);
const seconds = (fallback: number) => z.int().min(1).max(MAX_TIMEOUT_SECS).default(fallback);
/** A server-side timeout, where 0 turns it off (as PostgreSQL's own settings do). */
const serverTimeout = (fallback: number) => z.int().min(0).max(MAX_TIMEOUT_SECS).default(fallback);

const componentOverride = (component: string) =>
  z
    .strictObject({
      backend: key(backendName.optional(), {
        description: `Backend for ${component}, overriding storage.backend.`,
        fallback: 'storage.backend applies',
      }),
    })
    .prefault({});

const postgresSchema = z
  .strictObject({
    url: key(z.string().min(1).optional(), {
      description:
        'Connection URL, for example postgresql://user:password@host:port/database?params. DATABASE_URL is used when unset.',
      fallback: 'required by the postgres backend; DATABASE_URL is used when set',
      secret: true,
    }),
    migration_url: key(z.string().min(1).optional(), {
      description:
        'Direct connection URL for migrations when url points at a transaction-mode pooler (PgBouncer); default url.',
      fallback: 'migrations use url',
      secret: true,
    }),
    pool_size: key(z.int().min(1).max(10_000).default(16), { description: 'Maximum connections in the pool.' }),
    pool_timeout_secs: key(seconds(30), {
      description: 'How long to wait for a connection (from the pool or a new one) before failing.',
    }),
    idle_timeout_secs: key(seconds(600), { description: 'Close connections idle for this long.' }),
    max_lifetime_secs: key(seconds(1800), { description: 'Recycle connections older than this.' }),
    statement_timeout_secs: key(serverTimeout(30), {
      description:
        'statement_timeout of every application transaction (SET LOCAL): a statement running longer is cancelled; 0 = no limit.',
    }),
    idle_in_transaction_timeout_secs: key(serverTimeout(60), {
      description:
        'idle_in_transaction_session_timeout of every application transaction (SET LOCAL): the server ends a transaction left idle this long (and its connection); 0 = no limit.',
    }),
    maintenance_lock_timeout_secs: key(seconds(2), {
      description:
        'lock_timeout of maintenance DDL (event-log partitions): writers queue behind a waiting lock for this long at most, then maintenance backs off and retries later.',
    }),
    default_tenant_id: key(z.string().min(1).default('default'), {
      description: 'Tenant used when the caller names none (single-tenant use).',
    }),
    enforce_tenant_isolation: key(z.boolean().default(true), {
      description: 'Run tenant transactions as the llmspell_app role, so row-level security applies even to the owner.',
    }),
    tenant_id_pattern: key(z.string().min(1).default('^[a-z0-9-]{3,255}$'), {
      description: 'Regular expression every tenant id must match; checked before any SQL runs.',
    }),
    auto_migrate: key(z.boolean().default(false), { description: 'Apply pending migrations when storage opens.' }),
    migration_timeout_secs: key(seconds(300), {
      description: 'How long a migration run waits for another migrator, and the statement_timeout of each migration.',
    }),
    migration_lock_timeout_secs: key(seconds(10), {
      description: 'lock_timeout of each migration: DDL gives up instead of queueing behind live traffic forever.',
    }),
    vector_embeddings: z
      .strictObject({
        enabled: key(z.boolean().default(true), {
          description:
            'Create and use the vector_embeddings tables (needs VectorChord or pgvector); enabling later and migrating creates them.',
        }),
        hnsw_m: key(z.int().min(2).max(100).default(16), {
          description: 'HNSW graph connectivity (pgvector m); higher is better recall and more memory.',
        }),
        hnsw_ef_construction: key(z.int().min(4).max(1000).default(128), {
          description: 'HNSW build-time candidate list (pgvector ef_construction); at least 2 × hnsw_m.',
        }),
      })
      .prefault({}),
    event_log: z
      .strictObject({
        partition_strategy: key(z.enum(['daily', 'weekly', 'monthly']).default('monthly'), {
          description: 'Time range of one event_log partition.',
        }),
        retention_days: key(z.int().min(1).max(36_500).default(365), {
          description: 'Partitions entirely older than this many days are dropped by maintenance.',
        }),
      })
      .prefault({}),
    artifacts: z
      .strictObject({
        compression_threshold_bytes: key(
          z
            .int()
            .min(0)
            .max(2 ** 31 - 1)
            .default(1_048_576),
          {
            description: 'Artifacts larger than this are stored compressed.',
          },
        ),
      })
      .prefault({}),
  })
  .prefault({});

/** The whole configuration document. */
export const settingsSchema = z
  .strictObject({
    storage: z
      .strictObject({
        backend: key(backendName.default('embedded'), {
          description:
            'embedded (PGlite on disk, no server), memory (PGlite in memory) or postgres. "sled" means embedded.',
        }),
        embedded: z
          .strictObject({
            path: key(z.string().min(1).optional(), {
              description: 'Data directory of the embedded database; default $XDG_DATA_HOME/llmspell/pgdata.',
              fallback: 'default: $XDG_DATA_HOME/llmspell/pgdata, or ~/.local/share/llmspell/pgdata',
            }),
          })
          .prefault({}),
        memory: componentOverride('episodic memory (vector embeddings)'),
        state: componentOverride('agent and workflow state'),
        postgres: postgresSchema,
      })
      .prefault({}),
  })
  .superRefine((doc, ctx) => {
    const pg = doc.storage.postgres;
    let pattern: RegExp | undefined;
    try {
      pattern = new RegExp(pg.tenant_id_pattern);
    } catch (error) {
      ctx.addIssue({
        code: 'custom',
        path: ['storage', 'postgres', 'tenant_id_pattern'],
        message: `not a valid regular expression (${(error as Error).message})`,
      });
    }
    if (pattern && !pattern.test(pg.default_tenant_id)) {
      ctx.addIssue({
        code: 'custom',
        path: ['storage', 'postgres', 'default_tenant_id'],
        message: `${describeValue(pg.default_tenant_id)} does not match storage.postgres.tenant_id_pattern ${pg.tenant_id_pattern}`,
      });
    }
    const vectors = pg.vector_embeddings;
    if (vectors.hnsw_ef_construction < 2 * vectors.hnsw_m) {
      ctx.addIssue({
        code: 'custom',
        path: ['storage', 'postgres', 'vector_embeddings', 'hnsw_ef_construction'],
        message: `${vectors.hnsw_ef_construction} is less than 2 × hnsw_m (2 × ${vectors.hnsw_m} = ${2 * vectors.hnsw_m}); pgvector refuses that: raise hnsw_ef_construction or lower hnsw_m`,
      });
    }
  });

/** The configuration as the schema parses it (before the `sled` alias is resolved). */
export type ParsedSettings = z.output<typeof settingsSchema>;

/** Trusted, fully defaulted settings: what every part of llmspell below the CLI receives. */
export type Settings = Omit<ParsedSettings, 'storage'> & {
  storage: Omit<ParsedSettings['storage'], 'backend'> & { backend: StorageBackend };
};
