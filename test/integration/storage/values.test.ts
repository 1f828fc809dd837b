/**
 * The value layer's bytes and time-range fields and columns, and sensitive statements, through
 * the tenant handle on PGlite, PostgreSQL 18 and PostgreSQL 15: what goes in comes back the same
 * (bytes exactly, instants to the microsecond, open sides as null); bad values are INVALID_INPUT
 * before SQL; a sensitive statement's failure carries no value anywhere in its cause chain.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/types.js';
import { statement } from '../../../src/storage/mechanism/statement.js';
import { TenantTransaction } from '../../../src/storage/mechanism/tenant-transaction.js';
import { PreciseDate } from '../../../src/storage/values/codecs.js';
import { bytes, column, identifier, text, timeRange } from '../../../src/storage/values/fields.js';
import { inTenantTransaction } from '../../helpers/tenant-transaction.js';
import { failure, invalid } from '../../helpers/outcome.js';
import { migratedPglite, migratedPostgres, type MigratedDatabase } from '../../helpers/schema.js';

/** A row of the tenant alone, to carry a value through the server and back. */
const FROM_TENANT = `FROM (SELECT $tenant::text AS tenant_id) t WHERE tenant_id = $tenant`;

const echoBytes = statement({
  name: 'test.echoBytes',
  sql: `SELECT $value::bytea AS value, length($value::bytea)::int AS length ${FROM_TENANT}`,
  params: { value: bytes(4096) },
  row: { value: column.bytes(), length: column.integer() },
});
const echoRange = statement({
  name: 'test.echoRange',
  sql: `SELECT $value::tstzrange AS value ${FROM_TENANT}`,
  params: { value: timeRange() },
  row: { value: column.timeRange() },
});
const closedRange = statement({
  name: 'test.closedRange',
  sql: `SELECT '[2020-01-01,2020-02-01]'::tstzrange AS value ${FROM_TENANT}`,
  params: {},
  row: { value: column.timeRange() },
});
const SECRET = 'sk-live-0123456789abcdef';
const insertState = (sensitive: boolean) =>
  statement({
    name: sensitive ? 'test.insertSecret' : 'test.insertPlain',
    sql: `INSERT INTO llmspell.agent_state (tenant_id, agent_id, state) VALUES ($tenant, $agentId, '{}')`,
    params: { agentId: identifier() },
    sensitive,
  });
const castSecret = (sensitive: boolean) =>
  statement({
    name: sensitive ? 'test.castSecret' : 'test.castPlain',
    sql: `SELECT $value::uuid AS value ${FROM_TENANT}`,
    params: { value: text() },
    sensitive,
  });

/** Everything an error carries, down its cause chain: messages, stacks, every own property. */
function everything(error: unknown, depth = 0): string {
  if (depth > 8 || typeof error !== 'object' || error === null) return String(error);
  const own = Object.getOwnPropertyNames(error).map((key) => {
    const value = (error as Record<string, unknown>)[key];
    return `${key}=${typeof value === 'object' && value !== null ? everything(value, depth + 1) : String(value)}`;
  });
  return [...own, JSON.stringify(error)].join('\n');
}

const KINDS = [
  ['pglite', () => migratedPglite()],
  ['postgres', () => migratedPostgres()],
  ['postgres-15', () => migratedPostgres({}, { major: 15 })],
] as const;

describe.each(KINDS)('values and sensitive statements on %s', (_kind, open) => {
  let migrated: MigratedDatabase;
  let db: Database;
  beforeAll(async () => {
    migrated = await open();
    db = migrated.db;
  });
  afterAll(async () => migrated?.dispose());

  const inTenant = <T>(work: (tx: TenantTransaction) => Promise<T>, tenant = 'acme') =>
    inTenantTransaction(db, work, { tenant });

  it('bytes: every byte value comes back, from a Buffer and from a Uint8Array view at an offset', async () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, n) => n));
    expect(await inTenant((tx) => tx.one(echoBytes, { value: all }))).toEqual({ value: all, length: 256 });
    const view = new Uint8Array([9, 9, 0, 1, 255, 9]).subarray(2, 5);
    const back = await inTenant((tx) => tx.one(echoBytes, { value: view }));
    expect([...back.value]).toEqual([0, 1, 255]);
    expect(Buffer.isBuffer(back.value)).toBe(true);
  });

  it.each([
    ['a string', 'abc'],
    ['an array of numbers', [1, 2]],
    ['more bytes than declared', Buffer.alloc(4097)],
  ])('bytes: refuses %s before SQL', async (_what, value) => {
    expect(await failure(inTenant((tx) => tx.one(echoBytes, { value: value as never })))).toMatchObject(
      invalid('value'),
    );
  });

  it('time ranges: [from, to) to the microsecond, open sides as null, both ways', async () => {
    const from = new PreciseDate('2026-12-07T10:00:00.123456789Z');
    const to = new PreciseDate('2027-01-01T00:00:00.000001Z');
    const read = async (value: object) => (await inTenant((tx) => tx.one(echoRange, { value: value as never }))).value;
    const both = await read({ from, to });
    expect([both.from?.getFullTime(), both.to?.getFullTime()]).toEqual([from.getFullTime() - 789n, to.getFullTime()]);
    expect(both.from).toBeInstanceOf(PreciseDate);
    expect((await read({ from })).to).toBeNull();
    expect((await read({ to, from: null })).from).toBeNull();
    expect(await read({})).toEqual({ from: null, to: null });
    expect(
      (await read({ from: new Date('0001-01-01T00:00:00Z'), to: new Date('+010000-01-01T00:00:00Z') })).to?.getTime(),
    ).toBe(new Date('+010000-01-01T00:00:00Z').getTime());
  });

  it.each([
    ['from after to', { from: new Date('2027-01-01'), to: new Date('2026-01-01') }],
    ['from equal to to (empty)', { from: new Date('2026-01-01'), to: new Date('2026-01-01') }],
    ['an invalid Date', { from: new Date('nope') }],
    ['a string side', { from: '2026-01-01' }],
    ['an unknown key', { from: new Date('2026-01-01'), until: new Date('2027-01-01') }],
    ['not an object', '[2026-01-01,)'],
  ])('time ranges: refuses %s before SQL', async (_what, value) => {
    expect(await failure(inTenant((tx) => tx.one(echoRange, { value: value as never })))).toMatchObject(
      invalid('value'),
    );
  });

  it('time ranges: a stored range that is not [from, to) fails the read as INTERNAL', async () => {
    expect(await failure(inTenant((tx) => tx.one(closedRange, {})))).toMatchObject({ code: 'INTERNAL' });
  });

  // Under RLS the server itself leaves key values out of the detail; a login that bypasses RLS
  // (a superuser, enforce_tenant_isolation = false) gets them: that is where `sensitive` matters.
  const bypassingRls = <T>(work: (tx: TenantTransaction) => Promise<T>) =>
    db.withTransaction((client) =>
      work(
        new TenantTransaction(
          client,
          'acme',
          { maxDocumentBytes: 1 << 20 },
          { target: 'test', singleStatement: false },
        ),
      ),
    );

  it('a duplicate key of a sensitive statement (RLS bypassed): CONFLICT with the constraint, and the key value nowhere in the error', async () => {
    await bypassingRls((tx) => tx.count(insertState(false), { agentId: SECRET }));
    const plain = await bypassingRls((tx) => tx.count(insertState(false), { agentId: SECRET })).catch(
      (e: unknown) => e,
    );
    const secret = await bypassingRls((tx) => tx.count(insertState(true), { agentId: SECRET })).catch(
      (e: unknown) => e,
    );
    // Without `sensitive` the server's detail (which quotes the key) is in the cause chain: the check can fail.
    expect(everything(plain)).toContain(SECRET);
    expect(secret).toMatchObject({ code: 'CONFLICT', details: { sqlstate: '23505', constraint: 'agent_state_pkey' } });
    expect(everything(secret)).not.toContain(SECRET);
  });

  it('a value the server cannot read in a sensitive statement: the message that quotes it is withheld', async () => {
    const plain = await inTenant((tx) => tx.one(castSecret(false), { value: SECRET })).catch((e: unknown) => e);
    const secret = await inTenant((tx) => tx.one(castSecret(true), { value: SECRET })).catch((e: unknown) => e);
    expect(everything(plain)).toContain(SECRET);
    expect(secret).toMatchObject({ code: 'INVALID_INPUT', details: { sqlstate: '22P02' } });
    expect(everything(secret)).not.toContain(SECRET);
  });
});
