/**
 * The tenant wall per scan: every statement of every module (MODULES), planned generically on the
 * migrated schema by a login that bypasses row-level security, scans each tenant table with
 * `tenant_id = $1` of its own (see test/helpers/tenant-scans.ts). That predicate is the only wall
 * for such a login (a superuser, `enforce_tenant_isolation = false`), and `statement()` checks
 * only that the text says it somewhere. Targets: PostgreSQL 18 and 15 as superuser (their
 * migrated templates have no vector track: no pgvector on these servers), PGlite with the vector
 * track (all modules). Then statements that pass the text check but leave a scan unfiltered, which
 * the checker must report, and correct ones it must pass.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/types.js';
import { statementsOf, type StorageModule } from '../../../src/storage/mechanism/module.js';
import { isStatement, statement, type Statement } from '../../../src/storage/mechanism/statement.js';
import { identifier } from '../../../src/storage/values/fields.js';
import { MODULES, type ModuleId } from '../../../src/storage/registry.js';
import { sqlstateOf } from '../../helpers/outcome.js';
import { NO_POSTGRES_ENV, testMajors } from '../../helpers/postgres.js';
import { migratedPglite, migratedPostgres, type MigratedDatabase } from '../../helpers/schema.js';
import {
  conjuncts,
  describeScan,
  hasTenantConjunct,
  planOutline,
  SCAN_NODE_TYPES,
  tenantScanChecker,
  type Inspection,
  type PlanMethod,
  type PlanOptions,
  type TenantScanChecker,
} from '../../helpers/tenant-scans.js';

const MAJORS = testMajors();

/**
 * What a module needs of a target beyond the core schema (as its conformance registration says).
 * Each skip is checked below: on a target that lacks the need, every statement of the module must
 * fail to plan for a missing table or type, so a stale entry here fails instead of hiding a module.
 */
type Need = 'pgvector';
const NEEDS: Partial<Record<ModuleId, Need>> = { vectors: 'pgvector' };

interface Target {
  readonly name: string;
  /** What the target has of what modules may need (their conformance registration's `needs`). */
  readonly has: readonly Need[];
  readonly skip?: string;
  open(): Promise<MigratedDatabase>;
}

/** Why the PostgreSQL targets lack what a module needs. */
const LACKING: Readonly<Record<Need, string>> = {
  pgvector:
    'the test servers have no pgvector, so the migrated template is built with storage.postgres.vector_embeddings.enabled = false: the vector track did not run and its tables (llmspell.vector_embeddings_384, _768, _1536, _3072) and type vector are absent',
};

const TARGETS: readonly Target[] = [
  ...[18, 15].map((major) => ({
    name: `PostgreSQL ${major} as superuser`,
    has: [],
    ...(MAJORS.includes(major)
      ? {}
      : {
          skip:
            MAJORS.length === 0
              ? `no PostgreSQL server in this run (${NO_POSTGRES_ENV}=1)`
              : `PostgreSQL ${major} is not in LLMSPELL_TEST_PG_MAJORS`,
        }),
    open: () => migratedPostgres({}, { major }),
  })),
  { name: 'PGlite (memory, vector track) as its superuser', has: ['pgvector'], open: () => migratedPglite() },
];
for (const target of TARGETS) if (target.skip) console.warn(`skipped: tenant wall on ${target.name}: ${target.skip}`);

/** A module's statements (all of `statementsOf`), each titled by its name and where its `sql.ts` exports it. */
function titledStatements(module: StorageModule): [string, Statement<unknown, unknown>][] {
  const where = new Map<unknown, string>();
  const walk = (value: unknown, path: readonly string[], depth: number) => {
    if (isStatement(value)) {
      if (!where.has(value)) where.set(value, path.join('.'));
    } else if (typeof value === 'object' && value !== null && depth < 4) {
      for (const [key, inner] of Object.entries(value)) walk(inner, [...path, key], depth + 1);
    }
  };
  walk(module.statements, [], 0);
  return statementsOf(module).map((s) => [`${s.name} (sql.${where.get(s) ?? '?'})`, s]);
}

/** What `module` needs that `target` lacks, as a printed reason; `undefined` when it has everything. */
function lacking(target: Target, module: StorageModule): string | undefined {
  const need = NEEDS[module.id as ModuleId];
  if (need === undefined || target.has.includes(need)) return undefined;
  return `needs ${need}: ${LACKING[need]}`;
}

/** The failure message of an inspection: the offending scans, then the plan. */
const shown = (inspection: Inspection) =>
  `offending scans:\n${inspection.offending.map(describeScan).join('\n')}\n${inspection.method} plan:\n${planOutline(inspection.plan)}\n`;

// Statements that pass statement()'s text check (they say tenant_id = $tenant) but leave a scan of
// a tenant table unfiltered: the checker must name exactly that scan.
const recursiveArmUnfiltered = statement({
  name: 'wall.recursiveArmUnfiltered',
  sql: `WITH RECURSIVE chain AS (
          SELECT agent_id, state->>'next' AS next FROM llmspell.agent_state
           WHERE tenant_id = $tenant AND agent_id = $agentId
          UNION ALL
          SELECT a.agent_id, a.state->>'next' FROM llmspell.agent_state a JOIN chain c ON a.agent_id = c.next)
        SELECT agent_id FROM chain`,
  params: { agentId: identifier() },
});
const recursiveBothArms = statement({
  name: 'wall.recursiveBothArms',
  sql: `WITH RECURSIVE chain AS (
          SELECT agent_id, state->>'next' AS next FROM llmspell.agent_state
           WHERE tenant_id = $tenant AND agent_id = $agentId
          UNION ALL
          SELECT a.agent_id, a.state->>'next' FROM llmspell.agent_state a JOIN chain c ON a.agent_id = c.next
           WHERE a.tenant_id = $tenant)
        SELECT agent_id FROM chain`,
  params: { agentId: identifier() },
});
const unionOneArm = statement({
  name: 'wall.unionOneArm',
  sql: `SELECT agent_id FROM llmspell.agent_state mine WHERE tenant_id = $tenant
        UNION ALL
        SELECT agent_id FROM llmspell.agent_state anyone WHERE agent_id = $agentId`,
  params: { agentId: identifier() },
});
const joinOneSide = statement({
  name: 'wall.joinOneSide',
  sql: `SELECT w.workflow_id, a.state FROM llmspell.workflow_states w
          JOIN llmspell.agent_state a ON a.agent_id = w.name
         WHERE w.tenant_id = $tenant`,
  params: {},
});
const joinOnTenant = statement({
  name: 'wall.joinOnTenant',
  sql: `SELECT w.workflow_id, a.state FROM llmspell.workflow_states w
          JOIN llmspell.agent_state a ON a.tenant_id = w.tenant_id AND a.agent_id = w.name
         WHERE w.tenant_id = $tenant`,
  params: {},
});
const orPredicate = statement({
  name: 'wall.orPredicate',
  sql: `SELECT agent_id FROM llmspell.agent_state WHERE tenant_id = $tenant OR agent_id = $agentId`,
  params: { agentId: identifier() },
});

// statement() refuses an INSERT … SELECT from a table without the tenant predicate (see the
// first test below); one whose predicate stands on another table passes the text check and still
// copies every tenant's rows.
const insertFromAllTenants = statement({
  name: 'wall.insertFromAllTenants',
  sql: `INSERT INTO llmspell.workflow_states (tenant_id, workflow_id, name)
        SELECT $tenant, agent_id, 'copied' FROM llmspell.agent_state
         WHERE EXISTS (SELECT 1 FROM llmspell.workflow_states WHERE tenant_id = $tenant)`,
  params: {},
});

describe('the text check at definition', () => {
  it('refuses an INSERT … SELECT from a table of the schema with no tenant predicate at all', () => {
    expect(() =>
      statement({
        name: 'wall.insertCopyingAll',
        sql: `INSERT INTO llmspell.workflow_states (tenant_id, workflow_id, name)
              SELECT $tenant, agent_id, 'copied' FROM llmspell.agent_state`,
        params: {},
      }),
    ).toThrow(/must say tenant_id = \$tenant/);
  });
});

describe('reading conditions as EXPLAIN prints them', () => {
  it.each([
    ['(tenant_id = $1)', undefined, true],
    ['($1 = tenant_id)', undefined, true],
    ['(v.tenant_id = $1)', 'v', true],
    ['("My Alias".tenant_id = $1)', 'My Alias', true],
    ['((agent_state.tenant_id = $1) AND (agent_state.agent_id = $2))', 'agent_state', true],
    [`((a.state @> '{"x": ") OR ("}'::jsonb) AND (a.tenant_id = $1))`, 'a', true],
    ['(w.tenant_id = $1)', 'v', false], // another relation's column (a join's outer side)
    ['(tenant_id = $10)', undefined, false],
    ['(tenant_id = $2)', undefined, false],
    ['(b.tenant_id = a.tenant_id)', 'b', false], // a join condition
    ["(tenant_id = ANY ('{acme,other}'::text[]))", undefined, false],
    ['(tenant_id = ANY (ARRAY[$1, $2]))', undefined, false],
    ['((tenant_id = $1) OR (agent_id = $2))', undefined, false],
    ['(tenant_id <> $1)', undefined, false],
    ['(other_tenant_id = $1)', undefined, false],
  ])('%s (scan alias %s): %s', (condition, alias, expected) => {
    expect(hasTenantConjunct(condition, alias)).toBe(expected);
  });

  it('splits only the top-level AND', () => {
    expect(conjuncts("((a = 'x AND y') AND ((b = 1) OR (c = 2 AND d = 3)))")).toEqual([
      "a = 'x AND y'",
      '(b = 1) OR (c = 2 AND d = 3)',
    ]);
  });
});

describe.each(TARGETS.map((target) => [target.name, target] as const))('the tenant wall on %s', (_, target) => {
  describe.skipIf(target.skip !== undefined)('generic plans', () => {
    let migrated: MigratedDatabase;
    let db: Database;
    let checker: TenantScanChecker;
    beforeAll(async () => {
      migrated = await target.open();
      db = migrated.db;
      checker = await db.withClient((client) => tenantScanChecker(client));
    });
    afterAll(async () => migrated?.dispose());

    const inspect = (s: Statement<unknown, unknown>, options?: PlanOptions) =>
      db.withClient((client) => checker.inspect(client, s, options));

    it('reads the tenant tables from the catalog', () => {
      for (const table of ['agent_state', 'workflow_states', 'sessions', 'procedural_memory']) {
        expect(checker.tenantTables).toContain(`llmspell.${table}`);
      }
      const vectorTables = [...checker.tenantTables].filter((table) => table.startsWith('llmspell.vector_embeddings_'));
      expect(vectorTables.length).toBe(target.has.includes('pgvector') ? 4 : 0);
      expect(checker.method).toBe(checker.major >= 16 ? 'GENERIC_PLAN' : 'PREPARE');
    });

    // A module with no statements yet (an owner face alone, such as the event log's) has nothing to plan.
    for (const module of (MODULES as readonly StorageModule[]).filter((m) => statementsOf(m).length > 0)) {
      const statements = titledStatements(module);
      const missing = lacking(target, module);
      if (missing !== undefined) {
        if (!target.skip) {
          console.warn(`skipped: tenant wall of ${module.id} on ${target.name} (${missing})`);
        }
        it(`${module.id} is skipped because what it reads is absent: none of its ${statements.length} statements plans`, async () => {
          for (const [, s] of statements) {
            expect([s.name, await sqlstateOf(inspect(s))]).toEqual([s.name, expect.toBeOneOf(['42P01', '42704'])]);
          }
        });
        continue;
      }
      describe(module.id, () => {
        it.each(statements)(
          '%s: every scan of a tenant table applies tenant_id = $tenant itself',
          async (_title, s) => {
            const inspection = await inspect(s);
            expect(inspection.offending.map(describeScan), shown(inspection)).toEqual([]);
          },
        );
        // The vector index route runs with enable_sort = off, which turns the plan into the ordered
        // index scan: plan those statements that way too.
        const sortless = statements.filter(([, s]) => s.settings?.names.includes('enable_sort'));
        if (sortless.length > 0) {
          it.each(sortless)(
            '%s under enable_sort = off (the index route): every scan of a tenant table applies tenant_id = $tenant itself',
            async (_title, s) => {
              const inspection = await inspect(s, { settings: { enable_sort: 'off' } });
              expect(inspection.offending.map(describeScan), shown(inspection)).toEqual([]);
            },
          );
        }
      });
    }

    describe('statements that pass the text check but not the planner', () => {
      const methods = (): PlanMethod[] => (checker.major >= 16 ? ['GENERIC_PLAN', 'PREPARE'] : ['PREPARE']);
      const offendingOf = async (s: Statement<unknown, unknown>) => {
        const found = [];
        for (const method of methods()) {
          const inspection = await inspect(s, { method });
          found.push({
            method,
            scans: inspection.scans.length,
            offending: inspection.offending.map((scan) => `${scan.relation} ${scan.alias}`),
          });
        }
        return found;
      };
      const expected = (scans: number, offending: string[]) =>
        methods().map((method) => ({ method, scans, offending }));

      it('a WITH RECURSIVE whose recursive arm has no tenant predicate: that arm’s scan', async () => {
        expect(await offendingOf(recursiveArmUnfiltered)).toEqual(expected(2, ['llmspell.agent_state a']));
      });

      it('a UNION ALL with the predicate on one arm: the other arm’s scan', async () => {
        expect(await offendingOf(unionOneArm)).toEqual(expected(2, ['llmspell.agent_state anyone']));
      });

      it('a join of two tenant tables, not on tenant_id, the predicate on one: the other’s scan', async () => {
        expect(await offendingOf(joinOneSide)).toEqual(expected(2, ['llmspell.agent_state a']));
      });

      it('the predicate under an OR: the scan', async () => {
        expect(await offendingOf(orPredicate)).toEqual(expected(1, ['llmspell.agent_state agent_state']));
      });

      it('an INSERT … SELECT whose predicate stands on another table: the scan it copies from', async () => {
        expect(await offendingOf(insertFromAllTenants)).toEqual(expected(2, ['llmspell.agent_state agent_state']));
      });

      it('names the offending scan readably: node, relation, alias, where in the plan, conditions', async () => {
        const [scan, ...others] = (await inspect(joinOneSide)).offending;
        expect(others).toEqual([]);
        const line = describeScan(scan!);
        expect(SCAN_NODE_TYPES.some((type) => line.startsWith(`${type} on llmspell.agent_state a `))).toBe(true);
        expect(line).not.toContain('tenant_id = $1');
      });

      it('passes a WITH RECURSIVE with the predicate in both arms', async () => {
        expect(await offendingOf(recursiveBothArms)).toEqual(expected(2, []));
      });

      it('passes a join on tenant_id: the planner derives a.tenant_id = $1 and pushes it into the scan', async () => {
        expect(await offendingOf(joinOnTenant)).toEqual(expected(2, []));
      });
    });
  });
});
