/**
 * Batch writes through the mechanism (`context.batch`, `splitBatch`, the tenant handle's limits):
 * a batch is one transaction unless `atomic: false`, in which case each chunk commits alone; on a
 * single-session backend (PGlite) an atomic batch is bounded; every element of an array parameter
 * is held to `max_document_bytes`. The vector upsert is the batch write used; vector paths run on
 * PGlite only (the native PostgreSQL test servers have no pgvector). The array-parameter limit is
 * checked on PGlite and PostgreSQL 18.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import type { Database } from '../../../src/db/types.js';
import { SINGLE_SESSION_BATCH_BYTES } from '../../../src/storage/mechanism/module.js';
import { statement } from '../../../src/storage/mechanism/statement.js';
import type { TenantTransaction } from '../../../src/storage/mechanism/tenant-transaction.js';
import type { VectorEntry } from '../../../src/storage/modules/vectors/index.js';
import { text } from '../../../src/storage/values/fields.js';
import { seeded } from '../../helpers/low-rank.js';
import { inTenantTransaction } from '../../helpers/tenant-transaction.js';
import { failure, invalid } from '../../helpers/outcome.js';
import { migratedPglite, migratedPostgres, type MigratedDatabase } from '../../helpers/schema.js';
import { openStorageTarget, type OpenedStorage } from '../../helpers/storage.js';

const random = seeded(20_261_207);
const vec = (dims: number): number[] => Array.from({ length: dims }, () => random() * 2 - 1);
let tenants = 0;
const newTenant = () => `batch-${process.pid}-${++tenants}`;

describe('vector upsert batches on PGlite (memory)', () => {
  let opened: OpenedStorage;
  beforeAll(async () => {
    opened = await openStorageTarget('memory');
    // A rule the server checks and the library does not: chunk 2 (the 768 table) fails on the server.
    await opened.storage.db.query(
      `ALTER TABLE llmspell.vector_embeddings_768 ADD CONSTRAINT test_no_boom CHECK (scope <> 'boom')`,
    );
  });
  afterAll(async () => opened?.dispose());

  /** One 384 entry (chunk 1) and one 768 entry in scope 'boom' (chunk 2, refused by the server). */
  const twoChunks = (): VectorEntry[] => [
    { scope: 'ok', vector: vec(384) },
    { scope: 'boom', vector: vec(768) },
  ];

  it('atomic (the default): a chunk the server refuses leaves nothing of the batch', async () => {
    const acme = opened.storage.tenant(newTenant());
    expect(await failure(acme.vectors.upsert(twoChunks()))).toMatchObject({ code: 'INVALID_INPUT' });
    expect(await acme.vectors.count()).toBe(0);
  });

  it('atomic: false: each chunk commits on its own, so the chunks before the refused one stay', async () => {
    const acme = opened.storage.tenant(newTenant());
    expect(await failure(acme.vectors.upsert(twoChunks(), { atomic: false }))).toMatchObject({
      code: 'INVALID_INPUT',
    });
    expect(await acme.vectors.count()).toBe(1);
    expect(await acme.vectors.count({ scope: 'ok' })).toBe(1);
  });

  it('atomic: false inside transaction() is still the caller transaction: all or nothing', async () => {
    const tenant = newTenant();
    const attempt = opened.storage.transaction(tenant, (stores) =>
      stores.vectors.upsert(twoChunks(), { atomic: false }),
    );
    expect(await failure(attempt)).toMatchObject({ code: 'INVALID_INPUT' });
    expect(await opened.storage.tenant(tenant).vectors.count()).toBe(0);
  });

  it(`an atomic batch over ${SINGLE_SESSION_BATCH_BYTES / 2 ** 20} MiB is refused on the single session before anything is sent`, async () => {
    const acme = opened.storage.tenant(newTenant());
    const one = vec(384);
    // Each entry's text is about 3.9 KB: 4,800 of them are more than 16 MiB.
    const entries: VectorEntry[] = Array.from({ length: 4800 }, (_, n) => ({ scope: `s${n % 3}`, vector: one }));
    const refused = await failure(acme.vectors.upsert(entries));
    expect(refused).toMatchObject(invalid('entries'));
    expect(await acme.vectors.count()).toBe(0);
    expect(await failure(acme.vectors.upsert(entries, { atomic: 'no' as never }))).toMatchObject(invalid('atomic'));
  });
});

/** Writes an array of texts; each element is a stored value. */
const writeTexts = statement({
  name: 'test.writeTexts',
  sql: `SELECT count(*)::int AS n FROM unnest($values::text[]) AS v(value), (SELECT $tenant::text AS tenant_id) t
         WHERE tenant_id = $tenant`,
  params: { values: z.array(text()) },
  row: { n: z.number() },
});

describe.each(['pglite', 'postgres'] as const)('array parameters and max_document_bytes on %s', (kind) => {
  let migrated: MigratedDatabase;
  let db: Database;
  beforeAll(async () => {
    migrated = kind === 'pglite' ? await migratedPglite() : await migratedPostgres();
    db = migrated.db;
  });
  afterAll(async () => migrated?.dispose());

  const inTenant = <T>(work: (tx: TenantTransaction) => Promise<T>) =>
    inTenantTransaction(db, work, { maxDocumentBytes: 2048 });

  it('holds every element to the limit and names the one over it; elements within it pass', async () => {
    expect(await inTenant((tx) => tx.one(writeTexts, { values: ['a', 'é'.repeat(1024)] }))).toEqual({ n: 2 });
    const over = ['a', 'b', 'é'.repeat(1025)];
    expect(await failure(inTenant((tx) => tx.one(writeTexts, { values: over })))).toMatchObject(invalid('values.2'));
  });
});
