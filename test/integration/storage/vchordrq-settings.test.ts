/**
 * The functions of migration `vector/0002` that work out VectorChord's `vchordrq.probes` from an
 * index's lists, read from the options TOML as maintenance writes it (and as users do). On PGlite
 * the vector track applies the migration; on PostgreSQL 18 and 15 (no pgvector here, so no vector
 * track) its Up section is run by hand on the migrated core schema — the functions need no
 * extension. Whether VectorChord then plans with these probes is for the VectorChord CI job
 * (test/integration/vectorchord.test.ts): no server here has the vchordrq access method.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/types.js';
import { vchordrqOptions } from '../../../src/storage/modules/vectors/vchordrq-indexes.js';
import { NO_POSTGRES_ENV, testMajors } from '../../helpers/postgres.js';
import { migratedPglite, migratedPostgres, type MigratedDatabase } from '../../helpers/schema.js';

const MIGRATION = new URL('../../../migrations/vector/0002_vchordrq_search_settings.sql', import.meta.url);
const MAJORS = testMajors();

const TARGETS = [
  { name: 'PGlite', open: () => migratedPglite() },
  ...[18, 15].map((major) => ({
    name: `PostgreSQL ${major}`,
    skip: MAJORS.includes(major)
      ? undefined
      : MAJORS.length === 0
        ? `no PostgreSQL server in this run (${NO_POSTGRES_ENV}=1)`
        : `PostgreSQL ${major} is not in LLMSPELL_TEST_PG_MAJORS`,
    open: async () => {
      const migrated = await migratedPostgres({}, { major });
      const up = (await readFile(MIGRATION, 'utf8')).split('-- Down Migration')[0]!;
      await migrated.db.query(up);
      return migrated;
    },
  })),
];
for (const target of TARGETS) {
  if ('skip' in target && target.skip) console.warn(`skipped: vchordrq settings on ${target.name}: ${target.skip}`);
}

describe.each(TARGETS.map((target) => [target.name, target] as const))('vchordrq settings on %s', (_, target) => {
  describe.skipIf('skip' in target && !!target.skip)('functions of vector/0002', () => {
    let migrated: MigratedDatabase;
    let db: Database;
    beforeAll(async () => {
      migrated = await target.open();
      db = migrated.db;
    });
    afterAll(async () => migrated?.dispose());

    const lists = async (options: string | null) =>
      (await db.query<{ lists: number[] | null }>('SELECT llmspell.vchordrq_lists($1) AS lists', [options])).rows[0]!
        .lists;

    it.each([
      ['no options (the migration’s index)', null, []],
      ['empty options', '', []],
      ['lists = []', 'lists = []', []],
      ['VectorChord 0.5.3’s build.default', 'build.default = {}', []],
      ['a table form', 'residual_quantization = true\n[build.internal]\nlists = [4096]\nbuild_threads = 4', [4096]],
      ['a dotted key, two levels, spaces', 'build.internal.lists = [ 64 , 4096 ]', [64, 4096]],
      ['no spaces', 'lists=[7]', [7]],
      ['another key ending in lists', 'mylists = [5]', []],
      ['an external build (centroids from a table)', "[build.external]\ntable = 'public.centroids'", null],
    ])('reads the lists of %s', async (_why, options, expected) => {
      expect(await lists(options)).toEqual(expected);
    });

    it('reads back every lists maintenance writes', async () => {
      for (const wanted of [[], [1], [200], [2000], [56_569], [2 ** 24]]) {
        expect(await lists(vchordrqOptions(wanted))).toEqual(wanted);
      }
    });

    it.each([
      [[2000], 10, '200'],
      [[2000], 1, '20'],
      [[3], 10, '1'], // at least one
      [[64, 4096], 5, '4,205'],
      [[], 10, ''], // no lists: no probes
      [null, 10, null], // unknown lists: the default applies
      [[2000], null, null],
    ])('probes for lists %j at %d %% are %j', async (given, percent, expected) => {
      const { rows } = await db.query<{ probes: string | null }>(
        'SELECT llmspell.vchordrq_probes_for($1::int[], $2) AS probes',
        [given, percent],
      );
      expect(rows[0]!.probes).toBe(expected);
    });

    it('a table without a vchordrq index gets NULL (the setting keeps its default), for the application role too', async () => {
      const probes = await db.withTenant('acme', async (client) => {
        const { rows } = await client.query<{ probes: string | null; role: string }>(
          "SELECT llmspell.vchordrq_probes('llmspell.agent_state'::regclass, 10) AS probes, current_user AS role",
        );
        return rows[0]!;
      });
      expect(probes.probes).toBeNull();
      if (target.name !== 'PGlite') expect(probes.role).toBe('llmspell_app');
    });
  });
});
