/**
 * Tenant conformance of every storage module (the registry of `./conformance/`), on each target
 * of `openStorageTarget`: with row-level security applying (`postgres`, `memory`) and with it
 * bypassed (`postgres-superuser`, `memory-superuser`), where the library's own `tenant_id = $tenant`
 * predicate is the only wall, which the raw-SQL checks prove. Then the scope rules of the storage
 * API (SCOPE_CLOSED, SCOPE_NESTED), tenant ids refused before any SQL, and the default tenant.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../../../src/db/types.js';
import { LlmspellError } from '../../../src/errors.js';
import { StorageError } from '../../../src/storage/mechanism/errors.js';
import { STORE_MODULES, type ModuleId, type TenantStores } from '../../../src/storage/registry.js';
import { moduleContext, type Runner } from '../../../src/storage/mechanism/module.js';
import type { Storage } from '../../../src/storage/open-storage.js';
import { codeOf } from '../../helpers/outcome.js';
import { testMajors } from '../../helpers/postgres.js';
import { testSettings } from '../../helpers/settings.js';
import { openStorageTarget, type OpenedStorage, type StorageTarget } from '../../helpers/storage.js';
import { CONFORMANCE, REGISTRATIONS, type AnyRegistration, type Need, type RowLocation } from './conformance/index.js';

/** PostgreSQL 15, the oldest major supported, when the run has its server (LLMSPELL_TEST_PG_MAJORS). */
const OLDEST: StorageTarget[] = testMajors().includes(15) ? ['postgres-15'] : [];
if (OLDEST.length === 0) console.warn('skipped: conformance on PostgreSQL 15 (not in LLMSPELL_TEST_PG_MAJORS)');

const TARGETS: readonly StorageTarget[] = ['postgres', ...OLDEST, 'postgres-superuser', 'memory', 'memory-superuser'];

/**
 * What each target has of what registrations may need (`needs`): `openStorageTarget` enables the
 * vector track on the PGlite targets only (pgvector is bundled there; the PostgreSQL test servers
 * have no pgvector, so their settings disable the track and its tables are not created).
 */
const TARGET_HAS: Readonly<Record<StorageTarget, readonly Need[]>> = {
  postgres: [],
  'postgres-15': [],
  'postgres-superuser': [],
  memory: ['pgvector'],
  'memory-superuser': ['pgvector'],
  embedded: ['pgvector'],
};

/** Why a target lacks a need. */
const LACKING: Readonly<Record<Need, string>> = {
  pgvector:
    'its settings disable the vector track (storage.postgres.vector_embeddings.enabled = false): no vector tables',
};

/** Why `target` cannot run `registration`: what it needs and the target lacks (`undefined`: it can). */
function missingOn(target: StorageTarget, registration: AnyRegistration): string | undefined {
  const need = registration.needs;
  if (need === undefined || TARGET_HAS[target].includes(need)) return undefined;
  return `needs ${need}, which ${target} lacks: ${LACKING[need]}`;
}

/** A tenant id of its own for each use (`^[a-z0-9-]{3,255}$`). */
const tenantId = (role: string) => `${role}-${randomBytes(6).toString('hex')}`;

/** The error `fn` throws synchronously (the test fails if it returns). */
function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a synchronous throw, but the call returned');
}

/** What a promise settled to. */
async function settle(
  promise: Promise<unknown>,
): Promise<{ ok: true; value: unknown } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Everything an outcome shows a caller: a value as JSON, an error's message and details. */
function shown(outcome: { ok: true; value: unknown } | { ok: false; error: unknown }): string {
  if (outcome.ok) return JSON.stringify(outcome.value) ?? 'undefined';
  const error = outcome.error;
  if (error instanceof LlmspellError) return `${error.message} ${JSON.stringify(error)} ${error.hint ?? ''}`;
  return String(error);
}

/** Which tenants' rows a query without the tenant predicate finds at `where`, run by `client`. */
async function tenantsAt(client: Pick<Queryable, 'query'> | pg.Client, where: RowLocation): Promise<string[]> {
  const { rows } = await (client as Pick<Queryable, 'query'>).query<{ tenant_id: string }>(
    `SELECT tenant_id FROM llmspell.${pg.escapeIdentifier(where.table)} WHERE ${pg.escapeIdentifier(where.column)} = $1`,
    [where.value],
  );
  return rows.map((row) => row.tenant_id);
}

describe('the conformance registry', () => {
  it('has a registration for every module of MODULES with a store, and nothing else', () => {
    expect(Object.keys(CONFORMANCE).sort()).toEqual(STORE_MODULES.map((module) => module.id).sort());
    for (const [id, registration] of Object.entries(CONFORMANCE)) expect(registration.module).toBe(id);
  });

  it('has, for every module, an attempt of tenant B for every method of its store', () => {
    const settings = testSettings().storage.postgres;
    const runner: Runner = () => Promise.reject(new Error('not run'));
    for (const module of STORE_MODULES) {
      const store = module.create(moduleContext(module, 'unused', settings, runner)) as object;
      const methods = Object.getOwnPropertyNames(Object.getPrototypeOf(store)).filter(
        (name) => name !== 'constructor' && typeof (store as Record<string, unknown>)[name] === 'function',
      );
      expect(methods.length).toBeGreaterThan(0);
      const attempted = new Set(CONFORMANCE[module.id as ModuleId].attempts.map((attempt) => attempt.method as string));
      expect({ module: module.id, missing: methods.filter((method) => !attempted.has(method)) }).toEqual({
        module: module.id,
        missing: [],
      });
    }
  });

  it('names every attempt once per module', () => {
    for (const registration of REGISTRATIONS) {
      const names = registration.attempts.map((attempt) => attempt.name);
      expect(new Set(names).size).toBe(names.length);
    }
  });
});

describe.each(TARGETS)('tenant conformance on %s', (target) => {
  const superuser = target.endsWith('-superuser');
  // The registrations this target can run; the others are skipped with the reason printed (and tested below).
  const skipped = REGISTRATIONS.flatMap((registration) => {
    const reason = missingOn(target, registration);
    return reason === undefined ? [] : [[registration.module, reason, registration] as const];
  });
  for (const [id, reason] of skipped) console.warn(`skipped: ${id} conformance on ${target} (${reason})`);
  const registrations = REGISTRATIONS.filter((registration) => missingOn(target, registration) === undefined);
  let opened: OpenedStorage;
  let storage: Storage;
  /** Statements the storage ran so far (its observer counts them). */
  let statements = 0;
  beforeAll(async () => {
    opened = await openStorageTarget(target, {}, { observer: () => void statements++ });
    storage = opened.storage;
  });
  afterAll(() => opened?.dispose());

  describe.each(registrations.map((registration) => [registration.module, registration] as const))(
    '%s',
    (_id, registration: AnyRegistration) => {
      const tenantA = tenantId('a');
      const marker = `secret-${randomBytes(8).toString('hex')}`;
      let handle: unknown;
      let before: unknown;
      const a = (): TenantStores => storage.tenant(tenantA);

      beforeAll(async () => {
        handle = await registration.seed(a(), marker);
        before = await registration.snapshot(a(), handle);
        expect(JSON.stringify(before)).toContain(marker);
      });

      it.each(registration.attempts.map((attempt) => [`${attempt.method}: ${attempt.name}`, attempt] as const))(
        "tenant B's %s",
        async (_name, attempt) => {
          const tenantB = tenantId('b');
          const b = storage.tenant(tenantB);
          const outcome = await settle(attempt.run(b, handle));
          const expected = attempt.expect;
          if ('rejects' in expected) {
            expect(outcome.ok ? { resolved: outcome.value } : 'rejected').toBe('rejected');
            const error = (outcome as { error: unknown }).error;
            expect(error).toBeInstanceOf(StorageError);
            expect((error as StorageError).code).toBe(expected.rejects);
          } else {
            if (!outcome.ok) throw outcome.error;
            if ('resolves' in expected) expect(outcome.value).toEqual(expected.resolves);
            else await expected.check(outcome.value, storage.tenant(tenantB), handle);
          }
          // Nothing B saw carries A's data, and A's rows are as they were.
          expect(shown(outcome)).not.toContain(marker);
          expect(await registration.snapshot(a(), handle)).toEqual(before);
        },
      );

      it(
        superuser
          ? "A's row is visible to SQL without the tenant predicate in B's transaction: the predicate is the wall"
          : "A's row is invisible to SQL without the tenant predicate in B's transaction: RLS applies",
        async () => {
          // B's same-key attempts made rows with A's keys too: only whether A's row shows counts.
          const where = registration.locate(handle);
          const seenByB = await storage.db.withTenant(tenantId('b'), (client) => tenantsAt(client, where));
          if (superuser) expect(seenByB).toContain(tenantA);
          else expect(seenByB).toEqual([]);
          const seenByA = await storage.db.withTenant(tenantA, (client) => tenantsAt(client, where));
          if (superuser) expect(seenByA).toContain(tenantA);
          else expect(seenByA).toEqual([tenantA]);
        },
      );

      if (target === 'postgres-superuser') {
        it("a superuser query on adminUrl without the predicate sees A's row (RLS is not what protects it)", async () => {
          const client = new pg.Client({ connectionString: opened.adminUrl! });
          await client.connect();
          try {
            const { rows } = await client.query<{ rolsuper: boolean }>(
              'SELECT rolsuper FROM pg_roles WHERE rolname = current_user',
            );
            expect(rows).toEqual([{ rolsuper: true }]);
            await client.query('BEGIN');
            await client.query('SELECT set_config($1, $2, true)', ['app.current_tenant_id', tenantId('b')]);
            expect(await tenantsAt(client, registration.locate(handle))).toContain(tenantA);
            await client.query('ROLLBACK');
          } finally {
            await client.end();
          }
        });
      }

      describe('{ signal } on every method', () => {
        const calls = Object.entries(registration.signalled) as [
          string,
          (b: TenantStores, handle: unknown, signal: AbortSignal) => Promise<unknown>,
        ][];
        /** B's rows in the table of A's main row, counted by tenant id (so on every target, RLS or not). */
        const rowsOf = (tenant: string) =>
          storage.db.withTenant(tenant, async (client) => {
            const { table } = registration.locate(handle);
            const { rows } = await client.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM llmspell.${pg.escapeIdentifier(table)} WHERE tenant_id = $1`,
              [tenant],
            );
            return rows[0]!.n;
          });

        it('is a call for every method of the store', () => {
          const module = STORE_MODULES.find((candidate) => candidate.id === registration.module)!;
          const runner: Runner = () => Promise.reject(new Error('not run'));
          const store = module.create(
            moduleContext(module, 'unused', testSettings().storage.postgres, runner),
          ) as object;
          const methods = Object.getOwnPropertyNames(Object.getPrototypeOf(store)).filter(
            (name) => name !== 'constructor' && typeof (store as Record<string, unknown>)[name] === 'function',
          );
          expect(calls.map(([method]) => method).sort()).toEqual(methods.sort());
        });

        it.each(calls)('%s: a signal that never fires changes nothing', async (_method, call) => {
          const outcome = await settle(call(storage.tenant(tenantId('b')), handle, new AbortController().signal));
          // What the call gets without a signal (a row, NOT_FOUND, …): never a refused option, never ABORTED.
          if (!outcome.ok) {
            expect(outcome.error).toBeInstanceOf(StorageError);
            expect((outcome.error as StorageError).code).not.toMatch(/^(INVALID_INPUT|ABORTED)$/);
          }
          expect(await registration.snapshot(a(), handle)).toEqual(before);
        });

        it.each(calls)('%s: a signal aborted before the call rejects ABORTED and sends nothing', async (_m, call) => {
          const reason = new Error('the user closed the tab');
          const controller = new AbortController();
          controller.abort(reason);
          const sent = statements;
          const error = await settle(call(storage.tenant(tenantId('b')), handle, controller.signal));
          expect(error.ok).toBe(false);
          expect((error as { error: LlmspellError }).error.code).toBe('ABORTED');
          expect((error as { error: LlmspellError }).error.cause).toBe(reason);
          expect(statements).toBe(sent);
        });

        it.each(calls)(
          '%s: aborted as it starts, it rejects ABORTED, keeps nothing, and the storage goes on',
          async (_m, call) => {
            const tenantB = tenantId('b');
            const controller = new AbortController();
            const pending = call(storage.tenant(tenantB), handle, controller.signal);
            controller.abort();
            expect(await codeOf(pending)).toBe('ABORTED');
            expect(await rowsOf(tenantB)).toBe(0);
            await registration.probe(storage.tenant(tenantB));
            expect(await registration.snapshot(a(), handle)).toEqual(before);
          },
        );
      });

      it("A's own calls reach the rows B could not (control, run last)", async () => {
        await registration.control(a(), handle);
      });
    },
  );

  if (skipped.length > 0) {
    it.each(skipped)('%s is not run here: it %s (its store refuses every call)', async (_id, _reason, registration) => {
      // The reason holds: were the module usable here, this skip would hide its conformance.
      expect(await codeOf(registration.probe(storage.tenant(tenantId('skip'))))).toBe('USAGE');
    });
  }

  it(
    superuser ? 'the storage login bypasses row-level security' : 'the storage login is subject to row-level security',
    async () => {
      const { rows } = await storage.db.withTenant(tenantId('t'), (client) =>
        client.query<{ bypasses: boolean }>(
          `SELECT (rolsuper OR rolbypassrls) AS bypasses FROM pg_roles WHERE rolname = current_user`,
        ),
      );
      expect(rows).toEqual([{ bypasses: superuser }]);
    },
  );

  describe('scopes', () => {
    it.each(registrations.map((registration) => [registration.module, registration] as const))(
      '%s: a store of a transaction() used after its callback returned throws SCOPE_CLOSED',
      async (_id, registration) => {
        const tenant = tenantId('scope');
        let used: TenantStores | undefined;
        await storage.transaction(tenant, async (stores) => {
          await registration.probe(stores);
          used = stores;
        });
        expect(await codeOf(registration.probe(used!))).toBe('SCOPE_CLOSED');

        // Kept without being used inside: the store made afterwards is closed too.
        let untouched: TenantStores | undefined;
        await storage.transaction(tenant, async (stores) => {
          untouched = stores;
        });
        expect(await codeOf(registration.probe(untouched!))).toBe('SCOPE_CLOSED');

        // Kept from a callback that threw.
        let failed: TenantStores | undefined;
        const boom = new Error('boom');
        await expect(
          storage.transaction(tenant, async (stores) => {
            await registration.probe(stores);
            failed = stores;
            throw boom;
          }),
        ).rejects.toBe(boom);
        expect(await codeOf(registration.probe(failed!))).toBe('SCOPE_CLOSED');

        // The storage itself still works.
        await registration.probe(storage.tenant(tenant));
      },
    );

    it.each(registrations.map((registration) => [registration.module, registration] as const))(
      '%s: storage.tenant(…) inside a transaction() callback throws SCOPE_NESTED',
      async (_id, registration) => {
        const tenant = tenantId('nest');
        const codes = await storage.transaction(tenant, async (stores) => {
          const before = await codeOf((async () => registration.probe(storage.tenant(tenantId('other'))))());
          await registration.probe(stores); // the transaction is open now
          const same = await codeOf((async () => registration.probe(storage.tenant(tenant)))());
          const nested = await codeOf(storage.transaction(tenant, (inner) => registration.probe(inner)));
          await registration.probe(stores); // and still usable
          return { before, same, nested };
        });
        expect(codes).toEqual({ before: 'SCOPE_NESTED', same: 'SCOPE_NESTED', nested: 'SCOPE_NESTED' });
      },
    );

    it('a write refused as SCOPE_NESTED is not made, and the transaction still commits its own', async () => {
      const tenant = tenantId('nest');
      const code = await storage.transaction(tenant, async (stores) => {
        await stores.agentState.put('inside', { n: 1 });
        return codeOf((async () => storage.tenant(tenant).agentState.put('nested', { n: 2 }))());
      });
      expect(code).toBe('SCOPE_NESTED');
      expect(await codeOf(storage.tenant(tenant).agentState.get('nested'))).toBe('NOT_FOUND');
      expect((await storage.tenant(tenant).agentState.get('inside')).state).toEqual({ n: 1 });
    });
  });

  describe('tenant ids', () => {
    const BAD: [string, unknown][] = [
      ['empty', ''],
      ['upper case', 'UPPER'],
      ['a space', 'a b'],
      ['300 characters', 'x'.repeat(300)],
      ['a path', '../etc'],
      ['SQL', "a'; DROP TABLE x; --"],
      ['a number', 42],
      ['null', null],
      ['too short', 'ab'],
    ];

    it.each(BAD)('storage.tenant() refuses %s synchronously with TENANT_INVALID', (_what, bad) => {
      const error = thrownBy(() => storage.tenant(bad as never));
      expect(error).toBeInstanceOf(LlmspellError);
      expect((error as LlmspellError).code).toBe('TENANT_INVALID');
    });

    it.each(BAD)('storage.transaction() refuses %s with TENANT_INVALID and never runs the work', async (_w, bad) => {
      let ran = false;
      const code = await codeOf(
        storage.transaction(bad as never, async () => {
          ran = true;
        }),
      );
      expect(code).toBe('TENANT_INVALID');
      expect(ran).toBe(false);
    });

    it('the refused SQL-like id changed nothing: the tables are still there', async () => {
      const tenant = tenantId('after-sql');
      await storage.tenant(tenant).agentState.put('still-here', {});
      expect((await storage.tenant(tenant).agentState.list()).items).toHaveLength(1);
    });

    if (!superuser) {
      it('storage.tenant() without an id is refused with TENANT_INVALID while isolation is enforced', () => {
        for (const call of [() => storage.tenant(), () => storage.tenant(undefined)]) {
          const error = thrownBy(call);
          expect(error).toBeInstanceOf(LlmspellError);
          expect((error as LlmspellError).code).toBe('TENANT_INVALID');
        }
      });

      it("refuses default_tenant_id by name: single-tenant use's rows are no tenant's to reach with isolation on", async () => {
        for (const call of [
          () => storage.tenant('default'),
          () => storage.transaction('default', async () => undefined),
        ]) {
          const error = await Promise.resolve()
            .then(call)
            .then(
              () => undefined,
              (e: unknown) => e,
            );
          expect((error as LlmspellError | undefined)?.code).toBe('TENANT_INVALID');
        }
      });
    } else {
      it.each(registrations.map((registration) => [registration.module, registration] as const))(
        "%s: storage.tenant() without an id is default_tenant_id's ('default') view",
        async (_id, registration) => {
          // What tenant 'default' wrote, storage.tenant() sees; and the other way round.
          const handle = await registration.seed(storage.tenant('default'), `secret-${tenantId('d')}`);
          const byName = await registration.snapshot(storage.tenant('default'), handle);
          expect(await registration.snapshot(storage.tenant(), handle)).toEqual(byName);
          const where = registration.locate(handle);
          expect(await storage.db.withTenant('default', (client) => tenantsAt(client, where))).toEqual(['default']);

          const mine = await registration.seed(storage.tenant(), `secret-${tenantId('d')}`);
          const where2 = registration.locate(mine);
          expect(await storage.db.withTenant('default', (client) => tenantsAt(client, where2))).toEqual(['default']);
          expect(await registration.snapshot(storage.tenant('default'), mine)).toEqual(
            await registration.snapshot(storage.tenant(), mine),
          );
        },
      );

      it("storage.tenant() does not see another tenant's rows", async () => {
        const other = tenantId('other');
        const agentId = `agent-${tenantId('x')}`;
        await storage.tenant(other).agentState.put(agentId, { n: 1 });
        expect(await codeOf(storage.tenant().agentState.get(agentId))).toBe('NOT_FOUND');
        await storage.tenant().agentState.put(agentId, { n: 2 });
        expect((await storage.tenant(other).agentState.get(agentId)).state).toEqual({ n: 1 });
        expect((await storage.tenant('default').agentState.get(agentId)).state).toEqual({ n: 2 });
      });
    }
  });
});
