import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { identifier } from '../../../../src/storage/values/fields.js';
import { isStatement, statement } from '../../../../src/storage/mechanism/statement.js';

describe('statement()', () => {
  it('turns named parameters into positions, $tenant first, each name once', () => {
    const s = statement({
      name: 't.get',
      sql: 'SELECT 1 FROM t WHERE tenant_id = $tenant AND a = $a AND b = $b OR a = $a',
      params: { a: identifier(), b: identifier() },
    });
    expect(s.text).toBe('SELECT 1 FROM t WHERE tenant_id = $1 AND a = $2 AND b = $3 OR a = $2');
    expect(s.order).toEqual(['a', 'b']);
    expect(s.verb).toBe('SELECT');
    expect(isStatement(s)).toBe(true);
    expect(isStatement({ ...s })).toBe(false);
    expect(Object.isFrozen(s)).toBe(true);
  });

  it.each([
    ['a parameter used but not declared', 'SELECT 1 FROM t WHERE tenant_id = $tenant AND a = $a', {}],
    ['a parameter declared but not used', 'SELECT 1 FROM t WHERE tenant_id = $tenant', { a: identifier() }],
    ['no $tenant at all', 'SELECT 1 FROM t WHERE a = $a', { a: identifier() }],
    ['an UPDATE without the tenant predicate', 'UPDATE t SET a = $a WHERE b = $tenant', { a: identifier() }],
    ['a DELETE without the tenant predicate', 'DELETE FROM t WHERE owner = $tenant', {}],
    ['a positional parameter beside the named ones', 'SELECT 1 FROM t WHERE tenant_id = $tenant AND a = $2', {}],
    ['$tenant declared by hand', 'SELECT 1 FROM t WHERE tenant_id = $tenant', { tenant: z.string() }],
    [
      "an INSERT whose data-modifying WITH changes every tenant's rows",
      'WITH u AS (UPDATE llmspell.agent_state SET version = 0 WHERE agent_id = $a) INSERT INTO llmspell.sessions (tenant_id) VALUES ($tenant)',
      { a: identifier() },
    ],
    [
      'an INSERT … SELECT from a comma join, a table under ONLY or a quoted schema',
      'INSERT INTO llmspell.t (tenant_id) SELECT $tenant FROM unnest($a::text[]) u, ONLY "llmspell".agent_state',
      { a: identifier() },
    ],
    [
      'a predicate inside a dollar-quoted string',
      "SELECT 1 FROM t WHERE owner = $tenant AND $$ tenant_id = $tenant $$ <> ''",
      {},
    ],
    [
      "an INSERT … SELECT that copies every tenant's rows",
      'INSERT INTO llmspell.agent_state (tenant_id, agent_id, state) SELECT $tenant, agent_id, state FROM llmspell.agent_state',
      {},
    ],
  ])('refuses %s when the module loads', (_why, sql, params) => {
    expect(() => statement({ name: 'bad', sql, params })).toThrow(/^statement bad: /);
  });

  it('accepts an INSERT that writes $tenant as the tenant, and finds the verb after a WITH list', () => {
    const insert = statement({
      name: 'i',
      sql: 'INSERT INTO t (tenant_id, a) VALUES ($tenant, $a)',
      params: { a: identifier() },
    });
    expect(insert.verb).toBe('INSERT');
    const cte = statement({
      name: 'c',
      sql: 'WITH x AS (SELECT 1 FROM t WHERE tenant_id = $tenant) DELETE FROM t WHERE tenant_id = $tenant AND a IN (SELECT 1 FROM x)',
      params: {},
    });
    expect(cte.verb).toBe('DELETE');
  });

  it('refuses an unlimited parameter it does not declare, and tells a read from a data-modifying WITH', () => {
    const sql = 'SELECT a FROM t WHERE tenant_id = $tenant AND a = $a';
    expect(() => statement({ name: 'u', sql, params: { a: identifier() }, unlimited: ['b'] })).toThrow(
      /unlimited names what params does not declare: b/,
    );
    expect(statement({ name: 'r', sql, params: { a: identifier() }, unlimited: ['a'] }).readOnly).toBe(true);
    const write = statement({
      name: 'w',
      sql: 'WITH gone AS (DELETE FROM t WHERE tenant_id = $tenant RETURNING 1) SELECT count(*) FROM gone',
      params: {},
    });
    expect([write.verb, write.readOnly]).toEqual(['SELECT', false]);
  });

  it.each([
    ['-- comment', 'SELECT 1 FROM t WHERE a = $tenant -- AND tenant_id = $tenant'],
    ['/* comment */', 'DELETE FROM t /* WHERE tenant_id = $tenant */ WHERE owner = $tenant'],
    ['nested /* /* */ */ comment', 'UPDATE t SET a = 1 /* x /* tenant_id = $tenant */ y */ WHERE b = $tenant'],
    ['string literal', "SELECT 'tenant_id = $tenant' FROM t WHERE owner = $tenant"],
  ])('refuses a tenant predicate that stands only inside a %s', (_where, sql) => {
    expect(() => statement({ name: 'hidden', sql, params: {} })).toThrow(/must say tenant_id = \$tenant/);
  });

  it('reads the verb and readOnly past comments: a commented-out write does not make a read a write', () => {
    const read = statement({
      name: 'r',
      sql: 'SELECT a FROM t WHERE tenant_id = $tenant -- was: DELETE FROM t',
      params: {},
    });
    expect([read.verb, read.readOnly]).toEqual(['SELECT', true]);
  });

  it.each([
    [
      "now() in an upsert's DO UPDATE SET",
      'INSERT INTO t AS x (tenant_id, a) VALUES ($tenant, 1) ON CONFLICT (tenant_id) DO UPDATE SET updated_at = now()',
      /ON CONFLICT DO UPDATE/,
    ],
    [
      'GREATEST(…, now()) in DO UPDATE SET',
      'INSERT INTO t AS x (tenant_id) VALUES ($tenant) ON CONFLICT (tenant_id) DO UPDATE SET seen = GREATEST(x.seen, NOW ())',
      /ON CONFLICT DO UPDATE/,
    ],
    [
      'current_timestamp in DO UPDATE SET',
      'INSERT INTO t (tenant_id) VALUES ($tenant) ON CONFLICT (tenant_id) DO UPDATE SET at = current_timestamp RETURNING a',
      /ON CONFLICT DO UPDATE/,
    ],
    [
      'now() inside COALESCE of an UPDATE',
      'UPDATE t SET a = COALESCE(a, now()) WHERE tenant_id = $tenant',
      /CASE or COALESCE/,
    ],
    [
      'now() inside a CASE of an UPDATE',
      "UPDATE t SET a = CASE WHEN b = 'x' THEN CASE WHEN c THEN 1 END ELSE clock_timestamp() END WHERE tenant_id = $tenant",
      /CASE or COALESCE/,
    ],
    [
      'random() inside a CASE of a DELETE',
      'DELETE FROM t WHERE tenant_id = $tenant AND CASE WHEN a THEN random() > 0.5 END',
      /CASE or COALESCE/,
    ],
  ])('refuses a statement Citus cannot distribute: %s', (_why, sql, message) => {
    expect(() => statement({ name: 'citus', sql, params: {} })).toThrow(message);
  });

  it('accepts the forms that distribute: excluded.<column>, the time taken once in a WITH, now() outside CASE and in INSERT values', () => {
    const forms = [
      'INSERT INTO t AS x (tenant_id, at) VALUES ($tenant, now()) ON CONFLICT (tenant_id) DO UPDATE SET at = excluded.at RETURNING now()',
      'WITH clock AS MATERIALIZED (SELECT now() AS at) UPDATE t SET a = COALESCE(a, clock.at), b = now() FROM clock WHERE tenant_id = $tenant',
      'INSERT INTO t (tenant_id, id) VALUES ($tenant, COALESCE(NULL, gen_random_uuid()))',
      "UPDATE t SET a = CASE WHEN b THEN 'now()' END WHERE tenant_id = $tenant -- CASE WHEN c THEN now() END",
      'SELECT CASE WHEN a THEN now() END FROM t WHERE tenant_id = $tenant',
    ];
    for (const sql of forms) expect(() => statement({ name: 'ok', sql, params: {} }), sql).not.toThrow();
  });

  it('reads a quoted lower-case identifier as its name, and a LIKE pattern ending in a backslash as no E-string', () => {
    expect(() =>
      statement({ name: 'q', sql: 'SELECT 1 FROM t WHERE "tenant_id" = $tenant', params: {} }),
    ).not.toThrow();
    const like = statement({ name: 'l', sql: "SELECT 1 FROM t WHERE a LIKE'%\\' AND tenant_id = $tenant", params: {} });
    expect(like.verb).toBe('SELECT');
  });
});
