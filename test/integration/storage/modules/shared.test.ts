/**
 * What the storage modules (agentState, workflows, sessions, procedural) share, through
 * `openStorage` on real databases: tenant ids and the wall between tenants, bad input refused alike
 * by every method, timestamps, transactions across modules, `max_document_bytes`, and a closed
 * storage. By error code and `details.field`, never by message wording. Each module's own methods:
 * the other files of this folder.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PreciseDate } from '../../../../src/storage/values/codecs.js';
import type { TenantStores } from '../../../../src/storage/registry.js';
import { failure, invalid } from '../../../helpers/outcome.js';
import {
  TARGETS,
  newTenant,
  coded,
  plain,
  BAD_DOCUMENTS,
  BAD_IDS,
  GOOD_IDS,
  expectTimestamps,
  useStorageTarget,
} from '../../../helpers/storage-cases.js';
import { openStorageTarget, type OpenedStorage } from '../../../helpers/storage.js';

describe.each(TARGETS)('storage modules on %s', (target) => {
  const { fresh, opened: openedTarget } = useStorageTarget(target);

  describe('tenants', () => {
    it.each([
      ['too short', 'ab'],
      ['upper case', 'ACME'],
      ['a space', 'ac me'],
      ['a trailing newline', 'acme\n'],
      ['a NUL character', 'acme\0'],
      ['256 characters', 'a'.repeat(256)],
      ['an empty string', ''],
      ['a number', 42],
      ['no id', undefined],
    ])('refuses a tenant id that is %s with TENANT_INVALID, before any SQL', async (_label, id) => {
      expect(await failure(() => openedTarget().storage.tenant(id as string))).toEqual(coded('TENANT_INVALID'));
      expect(await failure(openedTarget().storage.transaction(id as string, async () => 1))).toEqual(
        coded('TENANT_INVALID'),
      );
    });

    it('accepts a tenant id of 255 characters', async () => {
      const stores = openedTarget().storage.tenant(`t${'a'.repeat(246)}${randomUUID().slice(0, 8)}`);
      expect((await stores.agentState.put('a', { ok: true })).version).toBe(1);
      expect((await stores.agentState.get('a')).state).toEqual({ ok: true });
    });

    it('keeps every module of one tenant out of sight of another', async () => {
      const a = fresh();
      const b = fresh();
      await a.agentState.put('shared-id', { owner: 'a' });
      const workflow = await a.workflows.create({ workflowId: 'shared-id', name: 'w' });
      const session = await a.sessions.create();
      await a.procedural.record('scope', 'key', 'value');

      expect(await failure(b.agentState.get('shared-id'))).toEqual(coded('NOT_FOUND'));
      expect(await failure(b.workflows.get(workflow.workflowId))).toEqual(coded('NOT_FOUND'));
      expect(await failure(b.sessions.get(session.sessionId))).toEqual(coded('NOT_FOUND'));
      expect(await failure(b.procedural.get('scope', 'key', 'value'))).toEqual(coded('NOT_FOUND'));
      expect((await b.agentState.list()).items).toEqual([]);
      expect((await b.workflows.list()).items).toEqual([]);
      expect((await b.sessions.list()).items).toEqual([]);
      expect(await b.procedural.top('scope')).toEqual([]);
      expect(await failure(b.sessions.touch(session.sessionId))).toEqual(coded('NOT_FOUND'));
      expect(await b.agentState.delete('shared-id')).toBe(false);
      // The same ids are free in the other tenant.
      expect((await b.agentState.put('shared-id', { owner: 'b' })).version).toBe(1);
      expect((await b.workflows.create({ workflowId: 'shared-id', name: 'w' })).version).toBe(1);
      expect((await a.agentState.get('shared-id')).state).toEqual({ owner: 'a' });
    });
  });

  describe('bad input shared by every method', () => {
    it.each(BAD_IDS)('an id that is %s is INVALID_INPUT for every agent and workflow method', async (_l, id) => {
      const stores = fresh();
      const bad = id as string;
      const soft = async (label: string, call: Promise<unknown>, field: string) =>
        expect.soft(await failure(call), label).toEqual(invalid(field));
      await soft('agentState.get', stores.agentState.get(bad), 'agentId');
      await soft('agentState.put', stores.agentState.put(bad, { a: 1 }), 'agentId');
      await soft('agentState.put v0', stores.agentState.put(bad, { a: 1 }, { expectedVersion: 0 }), 'agentId');
      await soft('agentState.put v1', stores.agentState.put(bad, { a: 1 }, { expectedVersion: 1 }), 'agentId');
      await soft('agentState.patch', stores.agentState.patch(bad, { a: 1 }), 'agentId');
      await soft('agentState.delete', stores.agentState.delete(bad), 'agentId');
      await soft('agentState.delete v1', stores.agentState.delete(bad, { expectedVersion: 1 }), 'agentId');
      if (id !== undefined) {
        // An undefined workflowId is no id: create picks one.
        await soft('workflows.create', stores.workflows.create({ workflowId: bad, name: 'w' }), 'workflowId');
      }
      await soft('workflows.get', stores.workflows.get(bad), 'workflowId');
      await soft('workflows.update', stores.workflows.update(bad, { currentStep: 1 }), 'workflowId');
      await soft('workflows.transition running', stores.workflows.transition(bad, 'running'), 'workflowId');
      await soft('workflows.transition pending', stores.workflows.transition(bad, 'pending'), 'workflowId');
      expect((await stores.agentState.list()).items).toEqual([]);
      expect((await stores.workflows.list()).items).toEqual([]);
    });

    it.each(GOOD_IDS)('an id of %s works with every agent and workflow method', async (_l, id) => {
      const stores = fresh();
      expect((await stores.agentState.put(id, { id })).agentId).toBe(id);
      expect((await stores.agentState.get(id)).state).toEqual({ id });
      expect((await stores.agentState.patch(id, { more: 1 })).version).toBe(2);
      expect((await stores.agentState.list()).items.map((item) => item.agentId)).toEqual([id]);
      expect(await stores.agentState.delete(id, { expectedVersion: 2 })).toBe(true);
      expect((await stores.workflows.create({ workflowId: id, name: id })).workflowId).toBe(id);
      expect((await stores.workflows.get(id)).name).toBe(id);
      expect((await stores.workflows.update(id, { currentStep: 1 })).currentStep).toBe(1);
      expect((await stores.workflows.transition(id, 'running')).status).toBe('running');
      expect((await stores.workflows.list({ status: 'running' })).items.map((w) => w.workflowId)).toEqual([id]);
    });

    it.each(BAD_DOCUMENTS)(
      'a document holding %s is INVALID_INPUT, naming the field, for every method that takes one',
      async (_label, document) => {
        const stores = fresh();
        const agent = await stores.agentState.put('agent', { a: 1 });
        const workflow = await stores.workflows.create({ workflowId: 'w', name: 'w', state: { a: 1 } });
        const session = await stores.sessions.create({ metadata: { a: 1 } });
        const pattern = await stores.procedural.record('s', 'k', 'v', { metadata: { a: 1 } });
        const soft = async (label: string, call: Promise<unknown>, field: string) =>
          expect.soft(await failure(call), label).toEqual(invalid(field));

        await soft('agentState.put new', stores.agentState.put('new', document), 'state');
        await soft('agentState.put', stores.agentState.put('agent', document), 'state');
        await soft('agentState.put v1', stores.agentState.put('agent', document, { expectedVersion: 1 }), 'state');
        await soft('agentState.patch', stores.agentState.patch('agent', document), 'partial');
        await soft(
          'workflows.create',
          stores.workflows.create({ workflowId: 'new', name: 'n', state: document }),
          'state',
        );
        await soft('workflows.update', stores.workflows.update('w', { state: document }), 'state');
        await soft('sessions.create', stores.sessions.create({ metadata: document }), 'metadata');
        await soft('sessions.update', stores.sessions.update(session.sessionId, { metadata: document }), 'metadata');
        await soft('procedural.record', stores.procedural.record('s', 'k', 'v', { metadata: document }), 'metadata');
        await soft(
          'procedural.record new',
          stores.procedural.record('s', 'new', 'v', { metadata: document }),
          'metadata',
        );

        // Nothing was written.
        expect(await failure(stores.agentState.get('new'))).toEqual(coded('NOT_FOUND'));
        expect(plain(await stores.agentState.get('agent'))).toEqual(plain(agent));
        expect(await failure(stores.workflows.get('new'))).toEqual(coded('NOT_FOUND'));
        expect(plain(await stores.workflows.get('w'))).toEqual(plain(workflow));
        expect((await stores.sessions.list()).items.map((s) => plain(s))).toEqual([plain(session)]);
        expect(plain(await stores.procedural.get('s', 'k', 'v'))).toEqual(plain(pattern));
        expect(await failure(stores.procedural.get('s', 'new', 'v'))).toEqual(coded('NOT_FOUND'));
      },
    );
  });

  describe('timestamps', () => {
    it('every timestamp is a PreciseDate, and reads back exactly as the write returned it', async () => {
      const stores = fresh();
      const agent = await stores.agentState.put('a', {});
      expectTimestamps(agent, ['createdAt', 'updatedAt']);
      expect(plain(await stores.agentState.get('a'))).toEqual(plain(agent));
      expectTimestamps((await stores.agentState.list()).items[0]!, ['createdAt', 'updatedAt']);

      await stores.workflows.create({ workflowId: 'w', name: 'w' });
      await stores.workflows.transition('w', 'running');
      const workflow = await stores.workflows.transition('w', 'completed');
      expectTimestamps(workflow, ['createdAt', 'updatedAt', 'startedAt', 'completedAt']);
      expect(plain(await stores.workflows.get('w'))).toEqual(plain(workflow));
      expectTimestamps((await stores.workflows.list()).items[0]!, [
        'createdAt',
        'updatedAt',
        'startedAt',
        'completedAt',
      ]);

      const session = await stores.sessions.create({ ttlSeconds: 60 });
      expectTimestamps(session, ['createdAt', 'updatedAt', 'lastAccessedAt', 'expiresAt']);
      expect(plain(await stores.sessions.get(session.sessionId))).toEqual(plain(session));
      expectTimestamps(await stores.sessions.touch(session.sessionId), ['createdAt', 'updatedAt', 'lastAccessedAt']);
      expectTimestamps((await stores.sessions.list()).items[0]!, [
        'createdAt',
        'updatedAt',
        'lastAccessedAt',
        'expiresAt',
      ]);

      const pattern = await stores.procedural.record('s', 'k', 'v');
      expectTimestamps(pattern, ['firstSeen', 'lastSeen']);
      expect(plain(await stores.procedural.get('s', 'k', 'v'))).toEqual(plain(pattern));
      expectTimestamps((await stores.procedural.top('s'))[0]!, ['firstSeen', 'lastSeen']);
    });

    // PGlite's clock may have millisecond resolution (its now() would then end in 000 µs), so the
    // microseconds of server-made timestamps are checked on PostgreSQL alone.
    if (target !== 'postgres') {
      console.warn(
        `skipped on ${target}: microseconds of server timestamps (PGlite's clock has millisecond resolution)`,
      );
    }
    it.runIf(target === 'postgres')('keeps the microseconds of timestamps the server makes (postgres)', async () => {
      const stores = fresh();
      const rows: PreciseDate[] = [];
      for (let i = 0; i < 8; i++) {
        rows.push((await stores.agentState.put(`a${i}`, {})).createdAt);
        rows.push((await stores.workflows.create({ name: 'w' })).createdAt);
        rows.push((await stores.sessions.create()).createdAt);
        rows.push((await stores.procedural.record('s', `k${i}`, 'v')).firstSeen);
      }
      expect(rows.some((date) => date.getMicroseconds() !== 0)).toBe(true);
      for (const date of rows) expect(date.getNanoseconds()).toBe(0);
      const listed = (await stores.agentState.list()).items.map((item) => item.createdAt.toISOString());
      const got = await Promise.all(listed.map((_, i) => stores.agentState.get(`a${i}`)));
      expect(got.map((item) => item.createdAt.toISOString())).toEqual(listed);
    });
  });

  describe('transactions', () => {
    it('the calls of a transaction() commit together', async () => {
      const tenantId = newTenant();
      const sessionId = await openedTarget().storage.transaction(tenantId, async (tx) => {
        await tx.agentState.put('a', { in: 'tx' });
        await tx.workflows.create({ workflowId: 'w', name: 'w' });
        await tx.procedural.record('s', 'k', 'v');
        expect((await tx.agentState.get('a')).state).toEqual({ in: 'tx' });
        return (await tx.sessions.create()).sessionId;
      });
      const stores = openedTarget().storage.tenant(tenantId);
      expect((await stores.agentState.get('a')).state).toEqual({ in: 'tx' });
      expect((await stores.workflows.get('w')).status).toBe('pending');
      expect((await stores.sessions.get(sessionId)).status).toBe('active');
      expect((await stores.procedural.get('s', 'k', 'v')).frequency).toBe(1);
    });

    it('the calls of a transaction() that throws are all rolled back', async () => {
      const tenantId = newTenant();
      const boom = new Error('boom');
      let sessionId = '';
      const outcome = openedTarget().storage.transaction(tenantId, async (tx) => {
        await tx.agentState.put('a', {});
        await tx.workflows.create({ workflowId: 'w', name: 'w' });
        sessionId = (await tx.sessions.create()).sessionId;
        await tx.procedural.record('s', 'k', 'v');
        throw boom;
      });
      await expect(outcome).rejects.toBe(boom);
      const stores = openedTarget().storage.tenant(tenantId);
      expect(await failure(stores.agentState.get('a'))).toEqual(coded('NOT_FOUND'));
      expect(await failure(stores.workflows.get('w'))).toEqual(coded('NOT_FOUND'));
      expect(await failure(stores.sessions.get(sessionId))).toEqual(coded('NOT_FOUND'));
      expect(await failure(stores.procedural.get('s', 'k', 'v'))).toEqual(coded('NOT_FOUND'));
    });

    it('stores kept past their transaction() are SCOPE_CLOSED; storage inside one is SCOPE_NESTED', async () => {
      const tenantId = newTenant();
      let kept: TenantStores | undefined;
      await openedTarget().storage.transaction(tenantId, async (tx) => {
        kept = tx;
        await tx.agentState.put('a', {});
        expect(await failure(openedTarget().storage.tenant(tenantId).agentState.get('a'))).toEqual(
          coded('SCOPE_NESTED'),
        );
      });
      expect(await failure(kept!.agentState.get('a'))).toEqual(coded('SCOPE_CLOSED'));
      expect(await failure(kept!.workflows.create({ name: 'late' }))).toEqual(coded('SCOPE_CLOSED'));
      expect((await openedTarget().storage.tenant(tenantId).workflows.list()).items).toEqual([]);
    });
  });
});

describe('a storage with max_document_bytes = 2048 (memory)', () => {
  const MAX = 2048;
  let opened: OpenedStorage;
  beforeAll(async () => {
    opened = await openStorageTarget('memory', { max_document_bytes: MAX });
  });
  afterAll(async () => {
    await opened?.dispose();
  });
  const fresh = (): TenantStores => opened.storage.tenant(newTenant());

  /** A document whose JSON text is exactly `bytes` bytes: `{"s":"…"}` is 8 bytes around the string. */
  const documentOf = (bytes: number, char = 'x') => ({ s: char.repeat((bytes - 8) / Buffer.byteLength(char)) });

  it('documentOf makes documents of the size asked', () => {
    expect(Buffer.byteLength(JSON.stringify(documentOf(MAX)))).toBe(MAX);
    expect(Buffer.byteLength(JSON.stringify(documentOf(MAX + 1)))).toBe(MAX + 1);
    expect(Buffer.byteLength(JSON.stringify(documentOf(MAX, '€')))).toBe(MAX);
    expect(Buffer.byteLength(JSON.stringify(documentOf(MAX + 3, '€')))).toBe(MAX + 3);
  });

  it('agentState takes a document of max_document_bytes and refuses a larger one, writing nothing', async () => {
    const stores = fresh();
    expect((await stores.agentState.put('fits', documentOf(MAX))).state).toEqual(documentOf(MAX));
    expect((await stores.agentState.put('fits-euro', documentOf(MAX, '€'))).version).toBe(1);
    expect(await failure(stores.agentState.put('big', documentOf(MAX + 1)))).toEqual(invalid('state'));
    expect(await failure(stores.agentState.put('big', documentOf(MAX + 3, '€')))).toEqual(invalid('state'));
    expect(await failure(stores.agentState.put('big', documentOf(MAX + 1), { expectedVersion: 0 }))).toEqual(
      invalid('state'),
    );
    expect(await failure(stores.agentState.get('big'))).toEqual(coded('NOT_FOUND'));
    const small = await stores.agentState.put('small', { a: 1 });
    expect(await failure(stores.agentState.put('small', documentOf(MAX + 1)))).toEqual(invalid('state'));
    expect(await failure(stores.agentState.patch('small', documentOf(MAX + 1)))).toEqual(invalid('partial'));
    expect(plain(await stores.agentState.get('small'))).toEqual(plain(small));
  });

  it('workflows refuse a state or an error over max_document_bytes, writing nothing', async () => {
    const stores = fresh();
    expect(
      await failure(stores.workflows.create({ workflowId: 'big', name: 'w', state: documentOf(MAX + 1) })),
    ).toEqual(invalid('state'));
    expect(await failure(stores.workflows.create({ name: 'w', state: documentOf(MAX + 1) }))).toEqual(invalid('state'));
    expect((await stores.workflows.list()).items).toEqual([]);
    const before = await stores.workflows.create({ workflowId: 'w', name: 'w', state: documentOf(MAX) });
    expect(await failure(stores.workflows.update('w', { state: documentOf(MAX + 1) }))).toEqual(invalid('state'));
    const running = await stores.workflows.transition('w', 'running');
    expect(running.version).toBe(before.version + 1);
    // The same field the other checks of transition() name options.error.
    expect(await failure(stores.workflows.transition('w', 'failed', { error: 'e'.repeat(MAX + 1) }))).toEqual(
      invalid('error'),
    );
    expect(plain(await stores.workflows.get('w'))).toEqual(plain(running));
  });

  it('sessions refuse metadata over max_document_bytes, writing nothing', async () => {
    const stores = fresh();
    expect(await failure(stores.sessions.create({ metadata: documentOf(MAX + 1) }))).toEqual(invalid('metadata'));
    expect((await stores.sessions.list()).items).toEqual([]);
    const before = await stores.sessions.create({ metadata: documentOf(MAX) });
    expect(await failure(stores.sessions.update(before.sessionId, { metadata: documentOf(MAX + 1) }))).toEqual(
      invalid('metadata'),
    );
    expect(
      await failure(stores.sessions.update(before.sessionId, { metadata: documentOf(MAX + 1), status: 'completed' })),
    ).toEqual(invalid('metadata'));
    expect(plain(await stores.sessions.get(before.sessionId))).toEqual(plain(before));
  });

  it('procedural refuses a key, value or metadata over max_document_bytes, writing nothing', async () => {
    const stores = fresh();
    const big = 'v'.repeat(MAX + 1);
    expect(await failure(stores.procedural.record('s', 'k', big))).toEqual(invalid('value'));
    expect(await failure(stores.procedural.record('s', big, 'v'))).toEqual(invalid('key'));
    expect(await failure(stores.procedural.record('s', 'k', 'v', { metadata: documentOf(MAX + 1) }))).toEqual(
      invalid('metadata'),
    );
    expect(await stores.procedural.top('s')).toEqual([]);
    expect((await stores.procedural.record('s', 'k', 'v'.repeat(MAX))).value).toHaveLength(MAX);
    expect((await stores.procedural.record('s', 'k', '€'.repeat(MAX / 4))).frequency).toBe(1);
    expect(await failure(stores.procedural.record('s', 'k', '€'.repeat(683)))).toEqual(invalid('value'));
  });
});

describe('a storage after close() (memory)', () => {
  let opened: OpenedStorage;
  let closed = false;
  beforeAll(async () => {
    opened = await openStorageTarget('memory');
  });
  afterAll(async () => {
    if (!closed) await opened?.dispose();
  });

  it('refuses every call with SCOPE_CLOSED', async () => {
    const tenantId = newTenant();
    const stores = opened.storage.tenant(tenantId);
    await stores.agentState.put('a', {});
    closed = true;
    await opened.dispose();
    expect(await failure(() => opened.storage.tenant(tenantId))).toEqual(coded('SCOPE_CLOSED'));
    expect(await failure(opened.storage.transaction(tenantId, async () => 1))).toEqual(coded('SCOPE_CLOSED'));
    expect(await failure(stores.agentState.get('a'))).toEqual(coded('SCOPE_CLOSED'));
    expect(await failure(stores.workflows.list())).toEqual(coded('SCOPE_CLOSED'));
    expect(await failure(stores.sessions.expire())).toEqual(coded('SCOPE_CLOSED'));
    expect(await failure(stores.procedural.top('s'))).toEqual(coded('SCOPE_CLOSED'));
  });
});
