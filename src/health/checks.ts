import { olderServerWarning, serverVersion } from '../db/server-version.js';
import { APP_ROLE } from '../db/tenant.js';
import type { Queryable } from '../db/types.js';
import { migrationStatus } from '../migrate/status.js';
import { MODULES } from '../storage/registry.js';
import { check, VECTORS_DISABLED, type Check } from './check.js';

export type { Check, CheckContext, CheckResult, CheckStatus } from './check.js';

/** pgvector releases before this can corrupt HNSW indexes during VACUUM. */
export const PGVECTOR_MIN_SAFE = '0.8.4';
/** The schema every tenant table lives in. */
export const APP_SCHEMA = 'llmspell';

/** Compares dotted version strings numerically: -1, 0 or 1. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((n) => Number.parseInt(n, 10) || 0);
  const pb = b.split('.').map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The server answers, and runs a supported PostgreSQL (15 or later; below 18 a warning). */
export const connectionCheck = check('connection', async ({ client, db }) => {
  const server = await serverVersion(client);
  const { rows } = await client.query<{ db: string; user: string }>(
    'SELECT current_database() AS db, session_user AS user',
  );
  const row = rows[0]!;
  const data = {
    serverVersion: server.version,
    serverVersionNum: server.num,
    database: row.db,
    user: row.user,
    backend: db.kind,
  };
  const healthy = `PostgreSQL connection healthy (PostgreSQL ${server.version}, database ${row.db}, user ${row.user})`;
  if (server.support === 'unsupported') {
    return {
      id: 'connection',
      status: 'fail',
      summary: `PostgreSQL ${server.version} is not supported: llmspell needs PostgreSQL 15 or later`,
      hint: 'Upgrade the server to PostgreSQL 15–18 (18 recommended).',
      data,
    };
  }
  if (server.support === 'supported') {
    return {
      id: 'connection',
      status: 'warn',
      summary: `${healthy}; 18 recommended`,
      hint: olderServerWarning(server),
      data,
    };
  }
  return { id: 'connection', status: 'ok', summary: healthy, data };
});

async function extension(client: Queryable, name: string): Promise<{ installed?: string; available?: string }> {
  const { rows } = await client.query<{ installed: string | null; available: string | null }>(
    `SELECT (SELECT extversion FROM pg_extension WHERE extname = $1) AS installed,
            (SELECT default_version FROM pg_available_extensions WHERE name = $1) AS available`,
    [name],
  );
  const row = rows[0];
  return {
    ...(row?.installed ? { installed: row.installed } : {}),
    ...(row?.available ? { available: row.available } : {}),
  };
}

/** VectorChord is installed (its version), or why not. */
export const vectorchordCheck = check('vectorchord', async ({ client, settings, db }) => {
  if (!settings.storage.postgres.vector_embeddings.enabled) return { ...VECTORS_DISABLED, id: 'vectorchord' };
  if (db.kind !== 'postgres') {
    return {
      id: 'vectorchord',
      status: 'skip',
      summary: `VectorChord does not exist for PGlite (the ${db.kind} backend indexes with pgvector HNSW)`,
    };
  }
  const ext = await extension(client, 'vchord');
  if (ext.installed)
    return {
      id: 'vectorchord',
      status: 'ok',
      summary: `VectorChord extension available (v${ext.installed})`,
      data: { version: ext.installed },
    };
  if (ext.available) {
    return {
      id: 'vectorchord',
      status: 'warn',
      summary: `VectorChord extension available (v${ext.available}) but not installed in this database`,
      hint: "Run `llmspell database migrate`, or CREATE EXTENSION vchord CASCADE (needs shared_preload_libraries = 'vchord').",
      data: { available: ext.available },
    };
  }
  return {
    id: 'vectorchord',
    status: 'warn',
    summary: 'VectorChord extension not available (vector indexes use pgvector HNSW)',
    hint: 'For production, use the image ghcr.io/tensorchord/vchord-postgres:pg18-v0.5.3.',
    data: {},
  };
});

/** pgvector is installed, at 0.8.4 or later (earlier releases can corrupt HNSW indexes during VACUUM). */
export const pgvectorCheck = check('pgvector', async ({ client, settings }) => {
  if (!settings.storage.postgres.vector_embeddings.enabled)
    return { ...VECTORS_DISABLED, id: 'pgvector', summary: 'pgvector not needed: vector embeddings are disabled' };
  const ext = await extension(client, 'vector');
  if (ext.installed) {
    const data = { version: ext.installed };
    if (compareVersions(ext.installed, PGVECTOR_MIN_SAFE) < 0) {
      return {
        id: 'pgvector',
        status: 'warn',
        summary: `pgvector extension v${ext.installed} is older than ${PGVECTOR_MIN_SAFE}`,
        hint: `pgvector before ${PGVECTOR_MIN_SAFE} can corrupt HNSW indexes during VACUUM: upgrade it (ALTER EXTENSION vector UPDATE after installing the new version).`,
        data,
      };
    }
    return { id: 'pgvector', status: 'ok', summary: `pgvector extension available (v${ext.installed})`, data };
  }
  if (ext.available) {
    return {
      id: 'pgvector',
      status: 'warn',
      summary: `pgvector extension available (v${ext.available}) but not installed in this database`,
      hint: 'Run `llmspell database migrate`.',
      data: { available: ext.available },
    };
  }
  return {
    id: 'pgvector',
    status: 'fail',
    summary: 'pgvector extension not available',
    hint: 'Install pgvector 0.8.4 or later (or use the image ghcr.io/tensorchord/vchord-postgres:pg18-v0.5.3), or run without vector storage: llmspell config set storage.postgres.vector_embeddings.enabled false.',
    data: {},
  };
});

/** Every migration of the configured tracks is applied and unchanged. */
export const migrationsCheck = check('migrations', async ({ client, tracks }) => {
  const status = await migrationStatus(client, tracks);
  const total = status.entries.filter((e) => e.state !== 'unknown').length;
  const data = {
    total,
    applied: status.applied,
    pending: status.pending,
    drift: status.drift.map((e) => ({ name: e.name, state: e.state })),
  };
  if (status.drift.length > 0) {
    return {
      id: 'migrations',
      status: 'fail',
      summary: `Migration drift: ${status.drift.map((e) => `${e.name} (${e.state})`).join(', ')}`,
      hint: 'Run `llmspell database migration-status` for details.',
      data,
    };
  }
  if (status.pending > 0) {
    // The vector track cannot migrate on a server without pgvector or VectorChord: say what can help.
    const vectorPending = status.entries.some((e) => e.state === 'pending' && e.track === 'vector');
    const noVectors =
      vectorPending && !(await extension(client, 'vector')).available && !(await extension(client, 'vchord')).available;
    return {
      id: 'migrations',
      status: 'fail',
      summary: `${status.pending} of ${total} migrations pending`,
      hint: noVectors
        ? 'The vector migrations need pgvector (or VectorChord), which this server does not have: install pgvector 0.8.4 or later, or disable vector storage (llmspell config set storage.postgres.vector_embeddings.enabled false); then run `llmspell database migrate`.'
        : 'Run `llmspell database migrate`.',
      data,
    };
  }
  return { id: 'migrations', status: 'ok', summary: `All ${total} migrations applied`, data };
});

/** `tenant_id = current_setting('app.current_tenant_id', true)` as pg_get_expr prints it, either way round, and nothing else. */
const SETTING = String.raw`current_setting\('app\.current_tenant_id'::text, true\)`;
const TENANT_PREDICATE = new RegExp(String.raw`^\((?:tenant_id = ${SETTING}|${SETTING} = tenant_id)\)$`);

/**
 * Every table of `llmspell` with a `tenant_id` column: RLS enabled and forced, policies covering
 * every command, and every permissive policy that binds the application role saying exactly the
 * tenant comparison. Permissive policies are OR-ed, so a single `USING (true)` added by hand would
 * open the table to every tenant: counting policies is not enough, their expressions are read.
 */
export const rlsCheck = check('rls', async ({ client }) => {
  const { rows } = await client.query<{
    table: string;
    enabled: boolean;
    forced: boolean;
    policies: Array<{
      name: string;
      cmd: string;
      permissive: boolean;
      binds: boolean;
      using: string | null;
      check: string | null;
    }>;
  }>(
    `SELECT c.relname AS table, c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced,
            coalesce(json_agg(json_build_object(
              'name', p.polname, 'cmd', p.polcmd::text, 'permissive', p.polpermissive,
              'binds', (0::oid = ANY (p.polroles) OR to_regrole($2) = ANY (p.polroles)),
              'using', pg_get_expr(p.polqual, p.polrelid), 'check', pg_get_expr(p.polwithcheck, p.polrelid))
              ORDER BY p.polname) FILTER (WHERE p.oid IS NOT NULL), '[]') AS policies
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
       LEFT JOIN pg_policy p ON p.polrelid = c.oid
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      GROUP BY c.relname, c.relrowsecurity, c.relforcerowsecurity
      ORDER BY c.relname`,
    [APP_SCHEMA, APP_ROLE],
  );
  if (rows.length === 0) {
    return {
      id: 'rls',
      status: 'warn',
      summary: `No tenant tables in schema ${APP_SCHEMA}`,
      hint: 'Run `llmspell database migrate`.',
      data: { tables: 0 },
    };
  }
  // pg_policy.polcmd: r = SELECT, a = INSERT, w = UPDATE, d = DELETE, * = ALL.
  const needed: Array<[string, string]> = [
    ['r', 'SELECT'],
    ['a', 'INSERT'],
    ['w', 'UPDATE'],
    ['d', 'DELETE'],
  ];
  const problems: string[] = [];
  for (const row of rows) {
    const binding = row.policies.filter((p) => p.permissive && p.binds);
    const commands = new Set(binding.map((p) => p.cmd));
    const missing = commands.has('*') ? [] : needed.filter(([cmd]) => !commands.has(cmd)).map(([, name]) => name);
    const widened = binding.flatMap((p) =>
      [p.using, p.check]
        .filter((expression): expression is string => expression !== null && !TENANT_PREDICATE.test(expression))
        .map((expression) => `policy ${p.name} allows ${expression}`),
    );
    const reasons = [
      ...(!row.enabled ? ['RLS disabled'] : []),
      ...(!row.forced ? ['RLS not forced'] : []),
      ...(missing.length > 0 ? [`no policy for ${missing.join('/')}`] : []),
      ...widened,
    ];
    if (reasons.length > 0) problems.push(`${row.table} (${reasons.join(', ')})`);
  }
  const data = { tables: rows.length, failing: problems };
  if (problems.length > 0) {
    return {
      id: 'rls',
      status: 'fail',
      summary: `RLS not in force on ${plural(problems.length, 'table')}: ${problems.join('; ')}`,
      hint: "Tenant isolation is broken for these tables: a permissive policy other than tenant_id = current_setting('app.current_tenant_id', true) opens rows to every tenant (policies are OR-ed). Drop the extra policies (DROP POLICY name ON llmspell.table), or re-run the migrations that define the table.",
      data,
    };
  }
  return { id: 'rls', status: 'ok', summary: `RLS policies active (${plural(rows.length, 'table')})`, data };
});

/** What membership lets a role `SET ROLE` to another: the SET option from PostgreSQL 16, plain membership before. */
async function membershipPrivilege(client: Queryable): Promise<'SET' | 'MEMBER'> {
  const { rows } = await client.query<{ num: number }>("SELECT current_setting('server_version_num')::int AS num");
  return (rows[0]?.num ?? 0) >= 160000 ? 'SET' : 'MEMBER';
}

/** The application role: exists, is neither superuser nor BYPASSRLS, owns nothing, and the login role can become it. */
export const appRoleCheck = check('app-role', async ({ client, settings }) => {
  const { rows } = await client.query<{
    exists: boolean;
    super: boolean;
    bypass: boolean;
    owned: string[];
    usable: boolean;
    login: string;
    login_bypasses: boolean;
  }>(
    `SELECT r.oid IS NOT NULL AS exists, coalesce(r.rolsuper, false) AS super, coalesce(r.rolbypassrls, false) AS bypass,
            coalesce((SELECT array_agg(n.nspname || '.' || c.relname ORDER BY 1) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE c.relowner = r.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')), '{}') AS owned,
            -- SET LOCAL ROLE needs the SET option of the membership from PostgreSQL 16 ($2 = 'SET'); MEMBER before.
            r.oid IS NOT NULL AND (session_user = $1 OR pg_has_role(session_user, r.oid, $2)) AS usable,
            session_user AS login,
            (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = session_user) AS login_bypasses
       FROM (SELECT 1) AS one LEFT JOIN pg_roles r ON r.rolname = $1`,
    [APP_ROLE, await membershipPrivilege(client)],
  );
  const row = rows[0]!;
  const data = {
    role: APP_ROLE,
    exists: row.exists,
    superuser: row.super,
    bypassRls: row.bypass,
    owns: row.owned,
    loginRole: row.login,
    canBecome: row.usable,
  };
  if (!row.exists)
    return {
      id: 'app-role',
      status: 'fail',
      summary: `Application role ${APP_ROLE} does not exist`,
      hint: 'Run `llmspell database migrate` (it creates the role when the migrating user may).',
      data,
    };
  const problems = [
    ...(row.super ? ['is a superuser'] : []),
    ...(row.bypass ? ['has BYPASSRLS'] : []),
    ...(row.owned.length > 0 ? [`owns ${row.owned.join(', ')}`] : []),
  ];
  if (problems.length > 0) {
    return {
      id: 'app-role',
      status: 'fail',
      summary: `Application role ${APP_ROLE} ${problems.join(', ')}: row-level security does not bind it`,
      hint: `ALTER ROLE ${APP_ROLE} NOSUPERUSER NOBYPASSRLS, and give the owned objects to the migrating role.`,
      data,
    };
  }
  if (!settings.storage.postgres.enforce_tenant_isolation) {
    if (row.login_bypasses) {
      return {
        id: 'app-role',
        status: 'warn',
        summary: `Tenant isolation is off: enforce_tenant_isolation = false and the login role ${row.login} bypasses row-level security`,
        hint: 'Set storage.postgres.enforce_tenant_isolation = true, or log in as a role that RLS binds.',
        data,
      };
    }
  } else if (!row.usable) {
    return {
      id: 'app-role',
      status: 'fail',
      summary: `Login role ${row.login} can neither be nor become ${APP_ROLE}`,
      hint: `GRANT ${APP_ROLE} TO ${row.login} WITH SET TRUE; or connect as ${APP_ROLE}.`,
      data,
    };
  }
  return {
    id: 'app-role',
    status: 'ok',
    summary: `Application role ${APP_ROLE} is bound by RLS (not superuser, no BYPASSRLS, owns nothing)`,
    data,
  };
});

/** Connection pool use, and whether the server has slots for the whole pool. */
export const poolCheck = check('pool', async ({ client, db }) => {
  const stats = db.stats();
  if (db.kind !== 'postgres') {
    return {
      id: 'pool',
      status: 'ok',
      summary: `Connection: one PGlite session (${db.kind}), ${stats.waiting} waiting`,
      data: { ...stats },
    };
  }
  const { rows } = await client.query<{ used: number; max: number; reserved: number }>(
    `SELECT (SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'client backend') AS used,
            current_setting('max_connections')::int AS max,
            current_setting('superuser_reserved_connections')::int AS reserved`,
  );
  const server = rows[0]!;
  const free = server.max - server.reserved - server.used;
  const data = { ...stats, serverConnections: server.used, serverMaxConnections: server.max, serverFree: free };
  const summary = `Connection pool healthy (${stats.total - stats.idle}/${stats.max} connections active; server ${server.used}/${server.max})`;
  if (free < stats.max - stats.total) {
    return {
      id: 'pool',
      status: 'warn',
      summary: `${summary}, but the server has only ${free} free slots for a pool of ${stats.max}`,
      hint: 'Lower storage.postgres.pool_size or raise max_connections (max_connections ≥ pools × instances + admin reserve).',
      data,
    };
  }
  return { id: 'pool', status: 'ok', summary, data };
});

/** The checks of `database health-check`, in the order they print. */
export const HEALTH_CHECKS: readonly Check[] = [
  connectionCheck,
  vectorchordCheck,
  pgvectorCheck,
  migrationsCheck,
  rlsCheck,
  appRoleCheck,
  // The checks the storage modules declare (event-log partitions, tenant vector indexes, …).
  ...MODULES.flatMap((module) => module.owner?.health ?? []),
  poolCheck,
];
