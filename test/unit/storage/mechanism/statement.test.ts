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
});
