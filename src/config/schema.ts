import { createRequire } from 'node:module';
import type * as RedosDetector from 'redos-detector';
import { en } from 'zod/locales';
import * as z from 'zod/mini';
import { describeValue, shorten } from './redact.js';
import { postgresUrlProblem } from './urls.js';

/**
 * The one list of configuration keys, their types, defaults and documentation.
 *
 * Everything else derives from it: the key table (`keys.ts`), the environment variables
 * (`LLMSPELL_` + the key path in capitals), `config get/set` parsing and the README reference.
 * Tables are strict (unknown keys are errors) and `prefault({})` so a missing table gets the
 * defaults of its keys.
 */

/** Extra facts about a key, registered in zod's global registry and read by `keys.ts`. */
export interface KeyMeta {
  description: string;
  /** What applies when the key is unset, in words; for optional keys, which have no default to show. */
  fallback?: string;
  /** The value may hold a credential: redacted in output unless `--show-secrets`. */
  secret?: boolean;
}

// zod/mini sets no locale of its own; the full zod sets English, so issue messages stay the same.
z.config(en());

const key = <T extends z.ZodMiniType>(type: T, meta: KeyMeta): T => {
  z.globalRegistry.add(type, { ...meta });
  return type;
};

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
/** An integer from `min` to `max`, `fallback` when unset. */
const integer = (min: number, max: number, fallback: number) =>
  z._default(z.int().check(z.minimum(min), z.maximum(max)), fallback);
const seconds = (fallback: number) => integer(1, MAX_TIMEOUT_SECS, fallback);
/** A server-side timeout, where 0 turns it off (as PostgreSQL's own settings do). */
const serverTimeout = (fallback: number) => integer(0, MAX_TIMEOUT_SECS, fallback);
/** A non-empty string. */
const text = () => z.string().check(z.minLength(1));
/** A directory path: not empty, not blank (a path of spaces names a directory nobody meant). */
const directory = () =>
  z.string().check(z.refine((path) => path.trim() !== '', { message: 'must name a directory; it is empty or blank' }));

/** The longest connection URL accepted: longer is no URL, and parsing megabytes would be slow. */
export const MAX_URL_LENGTH = 65_536;

/**
 * What is wrong with a connection URL, in words that never echo its password (nor more than a
 * few hundred characters of anything), or `undefined` when it is usable.
 */
export function connectionUrlProblem(url: string): string | undefined {
  if (url.length > MAX_URL_LENGTH)
    return `is ${url.length} characters long; a connection URL has at most ${MAX_URL_LENGTH}`;
  const problem = postgresUrlProblem(url);
  return problem === undefined ? undefined : shorten(problem, 300);
}

/** A connection URL key's type: a non-empty string that {@link connectionUrlProblem} accepts. */
const connectionUrl = () =>
  text().check(
    z.superRefine((url, ctx) => {
      const problem = url === '' ? undefined : connectionUrlProblem(url);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  );

/** The default of `storage.postgres.tenant_id_pattern`. */
export const DEFAULT_TENANT_ID_PATTERN = '^[a-z0-9-]{3,255}$';
/** The longest tenant id, in UTF-8 bytes, whatever the pattern allows: checked before the pattern runs. */
export const MAX_TENANT_ID_BYTES = 255;
/** The longest `tenant_id_pattern` accepted. */
export const MAX_TENANT_ID_PATTERN_LENGTH = 1000;
/** How long the backtracking analysis of a pattern may take before the pattern is refused as too complex. */
const PATTERN_CHECK_MS = 250;
/** Patterns known to pass the analysis (test/unit/config/limits.test.ts checks): not analysed again at every start. */
const KNOWN_SAFE_PATTERNS = new Set([DEFAULT_TENANT_ID_PATTERN]);
const patternProblems = new Map<string, string | undefined>();
/**
 * Loads redos-detector when a pattern first needs the analysis: the default never does, so most
 * commands skip its 75 KB. By `require`, so that the check stays synchronous.
 */
const loadRedosDetector = () => createRequire(import.meta.url)('redos-detector') as typeof RedosDetector;

const FIX_PATTERN = `write it so that each character can be matched one way only (e.g. ^[a-z0-9]+(-[a-z0-9]+)*$, not ^([a-z0-9]+-?)+$), or bound it like the default ${DEFAULT_TENANT_ID_PATTERN}`;

/** The analysis itself ({@link tenantIdPatternProblem} memoises it). */
function analysePattern(pattern: string): string | undefined {
  if (pattern.length > MAX_TENANT_ID_PATTERN_LENGTH) {
    return `is ${pattern.length} characters long; a tenant id pattern has at most ${MAX_TENANT_ID_PATTERN_LENGTH}`;
  }
  let regex: RegExp;
  try {
    regex = new RegExp(pattern);
  } catch (error) {
    const message = (error as Error).message;
    return `not a valid regular expression (${message.slice(message.lastIndexOf(': ') + 2)})`;
  }
  if (!KNOWN_SAFE_PATTERNS.has(pattern)) {
    const { isSafePattern } = loadRedosDetector();
    let result: ReturnType<typeof isSafePattern>;
    try {
      result = isSafePattern(pattern, { timeout: PATTERN_CHECK_MS, maxSteps: 20_000 });
    } catch (error) {
      const reason = shorten((error as Error).message.split('\n')[0] ?? '');
      return `cannot be checked for catastrophic backtracking (the checker does not understand it: ${reason}); use plain groups (…) and no newer syntax such as named groups`;
    }
    if (result.error === 'timedOut' || result.error === 'hitMaxSteps') {
      return `is too complex to be checked for catastrophic backtracking (the check gave up); ${FIX_PATTERN}`;
    }
    if (!result.safe) {
      return `can backtrack catastrophically: the same text can be matched in many ways (as in (a+)+ or (a|aa)+), so some tenant ids would make every check take minutes; ${FIX_PATTERN}`;
    }
  }
  // Only now is it safe to run.
  if (regex.test('')) return `matches the empty string, so it asks nothing of a tenant id; ${FIX_PATTERN}`;
  return undefined;
}

/**
 * What is wrong with a `tenant_id_pattern`, or `undefined` when it may be used: at most
 * {@link MAX_TENANT_ID_PATTERN_LENGTH} characters, a valid regular expression, free of
 * catastrophic backtracking by `redos-detector`'s analysis (bounded to {@link PATTERN_CHECK_MS} ms:
 * a pattern too complex to analyse in that time is refused too), and not matching the empty
 * string. Never runs the pattern before it passed the analysis. Memoised.
 */
export function tenantIdPatternProblem(pattern: string): string | undefined {
  if (!patternProblems.has(pattern)) {
    if (patternProblems.size >= 64) patternProblems.clear();
    patternProblems.set(pattern, analysePattern(pattern));
  }
  return patternProblems.get(pattern);
}

/**
 * What is wrong with a tenant id under a pattern that passed {@link tenantIdPatternProblem}, as a
 * predicate that does not echo the id (`is longer than 255 bytes`), or `undefined`. The length is
 * checked before the pattern runs. `patternName` names the pattern in the message.
 */
export function tenantIdProblem(
  tenantId: string,
  pattern: RegExp,
  patternName = shorten(pattern.source),
): string | undefined {
  if (tenantId.length > MAX_TENANT_ID_BYTES || Buffer.byteLength(tenantId) > MAX_TENANT_ID_BYTES) {
    return `is longer than ${MAX_TENANT_ID_BYTES} bytes (UTF-8)`;
  }
  if (tenantId.includes('\0')) return 'contains a NUL character';
  return pattern.test(tenantId) ? undefined : `does not match ${patternName}`;
}

const componentOverride = (component: string) =>
  z.prefault(
    z.strictObject({
      backend: key(z.optional(backendName), {
        description: `Backend for ${component}, overriding storage.backend.`,
        fallback: 'storage.backend applies',
      }),
    }),
    {},
  );

const postgresSchema = z.prefault(
  z.strictObject({
    url: key(z.optional(connectionUrl()), {
      description:
        'Connection URL, for example postgresql://user:password@host:port/database?params. DATABASE_URL is used when unset.',
      fallback: 'required by the postgres backend; DATABASE_URL is used when set',
      secret: true,
    }),
    migration_url: key(z.optional(connectionUrl()), {
      description:
        'Direct connection URL for migrations when url points at a transaction-mode pooler (PgBouncer); default url.',
      fallback: 'migrations use url',
      secret: true,
    }),
    pool_size: key(integer(1, 10_000, 16), { description: 'Maximum connections in the pool.' }),
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
    default_tenant_id: key(z._default(text(), 'default'), {
      description: 'Tenant used when the caller names none (single-tenant use).',
    }),
    enforce_tenant_isolation: key(z._default(z.boolean(), true), {
      description: 'Run tenant transactions as the llmspell_app role, so row-level security applies even to the owner.',
    }),
    tenant_id_pattern: key(z._default(text(), DEFAULT_TENANT_ID_PATTERN), {
      description: 'Regular expression every tenant id must match; checked before any SQL runs.',
    }),
    max_document_bytes: key(integer(1024, 268_435_455, 1_048_576), {
      description:
        'The largest value one storage call accepts, in bytes: a JSON document (agent state, workflow context, metadata) as JSON text, a text or a binary value. Larger is refused with INVALID_INPUT and nothing is written.',
    }),
    auto_migrate: key(z._default(z.boolean(), false), { description: 'Apply pending migrations when storage opens.' }),
    migration_timeout_secs: key(seconds(300), {
      description: 'How long a migration run waits for another migrator, and the statement_timeout of each migration.',
    }),
    migration_lock_timeout_secs: key(seconds(10), {
      description: 'lock_timeout of each migration: DDL gives up instead of queueing behind live traffic forever.',
    }),
    vector_embeddings: z.prefault(
      z.strictObject({
        enabled: key(z._default(z.boolean(), true), {
          description:
            'Create and use the vector_embeddings tables (needs VectorChord or pgvector); enabling later and migrating creates them.',
        }),
        hnsw_m: key(integer(2, 100, 16), {
          description: 'HNSW graph connectivity (pgvector m); higher is better recall and more memory.',
        }),
        hnsw_ef_construction: key(integer(4, 1000, 128), {
          description: 'HNSW build-time candidate list (pgvector ef_construction); at least 2 × hnsw_m.',
        }),
        exact_search_max_rows: key(integer(0, 2 ** 31 - 1, 1000), {
          description:
            'A search in a tenant with at most this many rows of the vector’s length (in the scope, when given) scans them exactly through the tenant’s btree, filter applied (recall 1); a larger tenant walks the approximate index. 0 = always the index.',
        }),
        ef_search: key(integer(1, 1000, 40), {
          description:
            'hnsw.ef_search of an index search (SET LOCAL per transaction; raised to k when k is larger): higher is better recall and slower.',
        }),
        iterative_scan: key(z._default(z.enum(['relaxed_order', 'strict_order']), 'relaxed_order'), {
          description:
            'hnsw.iterative_scan of an index search: the scan goes on until k rows pass the tenant, scope and filter (relaxed_order is faster; hits are re-sorted either way).',
        }),
        max_scan_tuples: key(integer(1, 2 ** 31 - 1, 20_000), {
          description:
            'hnsw.max_scan_tuples of an index search: how many index tuples an iterative scan visits at most; a search that comes back short of k then scans exactly.',
        }),
        vchordrq_probes_percent: key(integer(1, 100, 10), {
          description:
            'On VectorChord, the share of the index’s lists a search probes (vchordrq.probes, set per transaction from the index’s own lists, which maintenance makes follow the table’s size): higher is better recall and slower.',
        }),
        tenant_index_min_rows: key(integer(1, 2 ** 31 - 1, 10_000), {
          description:
            'Maintenance gives a tenant with at least this many embeddings of one length a partial HNSW index of its own, and drops it when the tenant falls under half of it.',
        }),
        max_tenant_indexes: key(integer(0, 10_000, 100), {
          description:
            'The most per-tenant partial vector indexes maintenance keeps, over all four tables (the largest tenants get them); 0 = none.',
        }),
      }),
      {},
    ),
    event_log: z.prefault(
      z.strictObject({
        partition_strategy: key(z._default(z.enum(['daily', 'weekly', 'monthly']), 'monthly'), {
          description: 'Time range of one event_log partition.',
        }),
        retention_days: key(integer(1, 36_500, 365), {
          description: 'Partitions entirely older than this many days are dropped by maintenance.',
        }),
      }),
      {},
    ),
    artifacts: z.prefault(
      z.strictObject({
        compression_threshold_bytes: key(integer(0, 2 ** 31 - 1, 1_048_576), {
          description: 'Artifacts larger than this are stored compressed.',
        }),
      }),
      {},
    ),
  }),
  {},
);

/** The whole configuration document. */
export const settingsSchema = z
  .strictObject({
    storage: z.prefault(
      z.strictObject({
        backend: key(z._default(backendName, 'embedded'), {
          description:
            'embedded (PGlite on disk, no server), memory (PGlite in memory) or postgres. "sled" means embedded.',
        }),
        embedded: z.prefault(
          z.strictObject({
            path: key(z.optional(directory()), {
              description:
                'Data directory of the embedded database; default $XDG_DATA_HOME/llmspell/pgdata. ~ is the home directory; a relative path in the config file is taken from the file’s directory.',
              fallback: 'default: $XDG_DATA_HOME/llmspell/pgdata, or ~/.local/share/llmspell/pgdata',
            }),
          }),
          {},
        ),
        memory: componentOverride('the memory components (vector embeddings, temporal graph, procedural memory)'),
        state: componentOverride('the state components (agent state, workflows, sessions)'),
        postgres: postgresSchema,
      }),
      {},
    ),
  })
  .check(
    z.superRefine((doc, ctx) => {
      const pg = doc.storage.postgres;
      // The pattern is checked before it runs: a catastrophic one would hang every command.
      const patternProblem = tenantIdPatternProblem(pg.tenant_id_pattern);
      if (patternProblem) {
        ctx.addIssue({ code: 'custom', path: ['storage', 'postgres', 'tenant_id_pattern'], message: patternProblem });
      } else {
        const pattern = new RegExp(pg.tenant_id_pattern);
        const name = `storage.postgres.tenant_id_pattern ${shorten(pg.tenant_id_pattern)}`;
        const idProblem = tenantIdProblem(pg.default_tenant_id, pattern, name);
        if (idProblem) {
          ctx.addIssue({
            code: 'custom',
            path: ['storage', 'postgres', 'default_tenant_id'],
            message: `${describeValue(pg.default_tenant_id)} ${idProblem}`,
          });
        }
      }
      const vectors = pg.vector_embeddings;
      if (vectors.hnsw_ef_construction < 2 * vectors.hnsw_m) {
        ctx.addIssue({
          code: 'custom',
          path: ['storage', 'postgres', 'vector_embeddings', 'hnsw_ef_construction'],
          message: `${vectors.hnsw_ef_construction} is less than 2 × hnsw_m (2 × ${vectors.hnsw_m} = ${2 * vectors.hnsw_m}); pgvector refuses that: raise hnsw_ef_construction or lower hnsw_m`,
        });
      }
    }),
  );

/** The configuration as the schema parses it (before the `sled` alias is resolved). */
export type ParsedSettings = z.output<typeof settingsSchema>;

/** Trusted, fully defaulted settings: what every part of llmspell below the CLI receives. */
export type Settings = Omit<ParsedSettings, 'storage'> & {
  storage: Omit<ParsedSettings['storage'], 'backend'> & { backend: StorageBackend };
};
