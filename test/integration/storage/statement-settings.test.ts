/**
 * Server settings a statement declares (`statement({ settings })`, used by the vector search for
 * `hnsw.*` and `enable_sort`): each holds for its statement alone, inside the tenant transaction,
 * and is back to its default for the statements after it. On PGlite and PostgreSQL 18 (the
 * settings tried here are core ones, so no pgvector is needed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import type { Database } from '../../../src/db/types.js';
import { integer, oneOf } from '../../../src/storage/values/fields.js';
import { derivedSetting, statement } from '../../../src/storage/mechanism/statement.js';
import { TenantTransaction } from '../../../src/storage/mechanism/tenant-transaction.js';
import { inTenantTransaction } from '../../helpers/tenant-transaction.js';
import { codeOf } from '../../helpers/outcome.js';
import { migratedPglite, migratedPostgres, type MigratedDatabase } from '../../helpers/schema.js';

/** Reads the two settings as the statement runs; its one row is the tenant's own. */
const READ = {
  sql: `SELECT current_setting('enable_sort') AS sort, current_setting('work_mem') AS mem
          FROM (SELECT $tenant::text AS tenant_id) t WHERE tenant_id = $tenant`,
  params: {},
  row: { sort: z.string(), mem: z.string() },
};
const read = statement({
  name: 'test.readSettings',
  ...READ,
  settings: { enable_sort: oneOf(['on', 'off'] as const), work_mem: z.optional(integer(64, 65536)) },
});
const plain = statement({ name: 'test.plain', ...READ });
/** work_mem worked out by the server: twice the value given (a NULL value, its default). */
const derived = statement({
  name: 'test.derivedSetting',
  ...READ,
  settings: {
    enable_sort: oneOf(['on', 'off'] as const),
    work_mem: derivedSetting(z.optional(integer(64, 65536)), '($value::int * 2)::text'),
  },
});

describe.each(['pglite', 'postgres'] as const)('statement settings on %s', (kind) => {
  let migrated: MigratedDatabase;
  let db: Database;
  beforeAll(async () => {
    migrated = kind === 'pglite' ? await migratedPglite() : await migratedPostgres();
    db = migrated.db;
  });
  afterAll(async () => migrated?.dispose());

  const inTenant = <T>(work: (tx: TenantTransaction) => Promise<T>) => inTenantTransaction(db, work);

  it('hold for their statement, and are back to the defaults for the next one', async () => {
    const [during, after, before] = await inTenant(async (tx) => {
      const first = await tx.all(plain, {});
      const set = await tx.all(read, {}, { enable_sort: 'off', work_mem: 1234 });
      return [set[0], (await tx.all(plain, {}))[0], first[0]];
    });
    expect(during).toEqual({ sort: 'off', mem: '1234kB' });
    expect(after).toEqual(before);
    expect(before!.sort).toBe('on');
  });

  it('are checked: an undeclared or out-of-range setting is refused before anything runs', async () => {
    await inTenant(async (tx) => {
      expect(await codeOf(tx.all(read, {}, { enable_sort: 'off', work_mem: 1 }))).toBe('INVALID_INPUT');
      expect(await codeOf(tx.all(read, {}, { enable_sort: 'sideways' } as never))).toBe('INVALID_INPUT');
      expect(await codeOf(tx.all(read, {}, { enable_sort: 'off', search_path: 'x' } as never))).toBe('INVALID_INPUT');
      expect(await codeOf(tx.all(plain, {}, { enable_sort: 'off' }))).toBe('INTERNAL');
      expect((await tx.all(plain, {}))[0]!.sort).toBe('on'); // nothing of the refused calls ran
    });
  });

  it('a derived setting is worked out by the server, and NULL (not given) leaves the default', async () => {
    const [doubled, defaulted, after, before] = await inTenant(async (tx) => {
      const first = (await tx.all(plain, {}))[0];
      const two = (await tx.all(derived, {}, { enable_sort: 'off', work_mem: 1000 }))[0];
      const none = (await tx.all(derived, {}, { enable_sort: 'off' }))[0];
      return [two, none, (await tx.all(plain, {}))[0], first];
    });
    expect(doubled).toEqual({ sort: 'off', mem: '2000kB' });
    expect(defaulted).toEqual({ sort: 'off', mem: before!.mem });
    expect(after).toEqual(before);
  });

  it('a setting the server refuses fails the call with the setting named, and the statement does not run', async () => {
    const failing = statement({
      name: 'test.failingSetting',
      ...READ,
      settings: { work_mem: derivedSetting(integer(1, 10), "($value::int || 'parsecs')") },
    });
    const error = await db
      .withTenant('acme', (client) =>
        new TenantTransaction(
          client,
          'acme',
          { maxDocumentBytes: 1 << 20 },
          { target: 'test', singleStatement: false },
        ).all(failing, {}, { work_mem: 1 }),
      )
      .catch((caught: unknown) => caught);
    expect(String((error as Error).message)).toMatch(/work_mem|parsecs/);
  });

  it('set and reset are one statement each, whatever the number of settings', () => {
    expect(derived.settings!.set).toBe(
      "SELECT set_config('enable_sort', $1::text, true), set_config('work_mem', ($2::int * 2)::text, true)",
    );
    expect(derived.settings!.reset).toBe(
      "SELECT set_config('enable_sort', NULL, true), set_config('work_mem', NULL, true)",
    );
  });

  it('a setting name that is not one is refused when the statement is defined', () => {
    expect(() =>
      statement({
        name: 'test.bad',
        sql: 'SELECT 1 FROM (SELECT $tenant::text AS tenant_id) t WHERE tenant_id = $tenant',
        params: {},
        settings: { 'work_mem = 1; DROP TABLE x; --': integer(1, 2) },
      }),
    ).toThrow(/is not a server setting name/);
  });
});
