/**
 * Statements: the only thing a store can send. Each is a named, readable SQL text with named
 * parameters (`$agentId`), declared once with their types (zod) and the shape of the rows it
 * returns. `$tenant` is the tenant of the transaction, filled in by the tenant handle and never by
 * the caller, and every statement must use it: an explicit `tenant_id = $tenant` beside row-level
 * security (a login that bypasses RLS still sees one tenant, and the planner can use a per-tenant
 * partial index).
 *
 * Identifiers never come from input: a statement per table is defined from a fixed list (one per
 * vector dimension, say) when the module loads.
 */
import * as z from 'zod/mini';

/** The parameter every statement must use, set by the tenant handle. */
export const TENANT_PARAMETER = 'tenant';

/** A statement ready to run: its SQL with positional parameters, and how to read its input and output. */
export interface Statement<Params, Row> {
  /** `module.operation`, e.g. `agentState.get`: named in errors. */
  readonly name: string;
  /** The SQL as written, with named parameters. */
  readonly sql: string;
  /** The SQL as sent: `$1` is the tenant, then the other parameters in {@link order}. */
  readonly text: string;
  /** The statement's first keyword after any `WITH` part: `SELECT`, `INSERT`, `UPDATE`, `DELETE`. */
  readonly verb: string;
  /** The statement changes nothing: a `SELECT` with no data-modifying `WITH` part. */
  readonly readOnly: boolean;
  /** Parameters not held to `max_document_bytes` (they are no stored value, and bounded otherwise). */
  readonly unlimited: readonly string[];
  /**
   * Its values are secret (key material, credentials): a failure keeps no server detail, message
   * of a data error or row value, anywhere in its cause chain (see `RedactedServerError`).
   */
  readonly sensitive: boolean;
  /** Parameter names in positional order, after the tenant. */
  readonly order: readonly string[];
  /** Checks and encodes the parameters. */
  readonly params: z.ZodMiniType<Record<string, unknown>, Params>;
  /** Checks each row returned; `undefined` for a statement read only by its row count. */
  readonly row: z.ZodMiniType<Row> | undefined;
  /**
   * The server settings the statement may run under (`hnsw.ef_search`), set for the transaction
   * right before it and back to their defaults right after; `undefined` when it takes none.
   */
  readonly settings: SettingsPlan | undefined;
}

/**
 * A setting whose value the server works out when it is set, from the value given (`$value`):
 * `vchordrq.probes` from the index's lists, say. Made by {@link derivedSetting}.
 */
export interface DerivedSetting {
  readonly type: z.ZodMiniType<string | number | undefined>;
  /** An SQL expression of `$value` (NULL when no value is given; a NULL result means the default). */
  readonly sql: string;
}

/** A setting worked out by the server from the given value: see {@link DerivedSetting}. */
export function derivedSetting(type: z.ZodMiniType<string | number | undefined>, sql: string): DerivedSetting {
  if (!sql.includes('$value')) throw new Error(`derived setting ${JSON.stringify(sql)}: never uses $value`);
  return Object.freeze({ type, sql });
}

/**
 * How a statement's settings travel: two statements, whatever their number. `set` gives each its
 * value for the transaction (`set_config(name, $n, true)`, every value a parameter, in the order
 * of {@link SettingsPlan.names}; a NULL one is its default); `reset` sets them all back.
 */
export interface SettingsPlan {
  /** Checks the values a caller gives. */
  readonly schema: z.ZodMiniType<Record<string, string | number | undefined>>;
  readonly names: readonly string[];
  readonly set: string;
  readonly reset: string;
}

/** The parameters a statement takes (what a store passes). */
export type ParamsOf<S> = S extends Statement<infer P, unknown> ? P : never;
/** The row a statement returns. */
export type RowOf<S> = S extends Statement<unknown, infer R> ? R : never;

/** Every statement {@link statement} made: the tenant handle runs these and nothing else. */
const defined = new WeakSet<object>();

/** Whether `value` was made by {@link statement} (an object of the same shape made by hand is not). */
export function isStatement(value: unknown): value is Statement<unknown, unknown> {
  return typeof value === 'object' && value !== null && defined.has(value);
}

const PARAMETER = /\$([A-Za-z_][A-Za-z0-9_]*)/g;
const TENANT_PREDICATE = /\btenant_id\s*=\s*\$tenant\b/;
/** A table of the schema named in a statement (read without comments, literals and identifier quotes). */
const SCHEMA_TABLE = /\bllmspell\s*\./gi;
const WRITES = /\b(INSERT|UPDATE|DELETE|MERGE)\b/i;
const SETTING_NAME = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/;

/**
 * Defines a statement. Checked once, when the module loads: every `$name` in the SQL is declared
 * in `params` and every declared one is used; `$tenant` is used, and a statement that reads,
 * changes or deletes rows says `tenant_id = $tenant` (an `INSERT` writes `$tenant` as the row's
 * tenant instead).
 *
 * @example
 * const get = statement({
 *   name: 'agentState.get',
 *   sql: `SELECT state FROM llmspell.agent_state WHERE tenant_id = $tenant AND agent_id = $agentId`,
 *   params: { agentId: identifier() },
 *   row: { state: z.record(z.string(), z.unknown()) },
 * });
 */
export function statement<P extends z.core.$ZodShape, R extends z.core.$ZodShape | undefined = undefined>(definition: {
  name: string;
  sql: string;
  params: P;
  row?: R;
  /**
   * Server settings a caller may give the statement (`{ 'hnsw.ef_search': integer(1, 1000) }`):
   * names from this fixed list, values checked by their type and sent as parameters of one
   * `set_config` statement (see {@link SettingsPlan}); a {@link derivedSetting} is worked out by the server.
   */
  settings?: Readonly<Record<string, z.ZodMiniType<string | number | undefined> | DerivedSetting>>;
  /** Parameters exempt from `max_document_bytes`: a query vector, whose length bounds its size. */
  unlimited?: readonly string[];
  /** Its values are secret: see {@link Statement.sensitive}. Default `false`. */
  sensitive?: boolean;
}): Statement<z.input<z.ZodMiniObject<P>>, R extends z.core.$ZodShape ? z.output<z.ZodMiniObject<R>> : never> {
  const { name, sql } = definition;
  const fail = (why: string) => {
    throw new Error(`statement ${name}: ${why}`);
  };
  if (/\$\d/.test(sql)) fail('uses a positional parameter ($1 …): name it ($agentId) instead');
  const declared = Object.keys(definition.params);
  if (declared.includes(TENANT_PARAMETER)) fail(`$${TENANT_PARAMETER} is set by the tenant handle; do not declare it`);
  const order: string[] = [];
  const text = sql.replace(PARAMETER, (_match, parameter: string) => {
    if (parameter === TENANT_PARAMETER) return '$1';
    if (!declared.includes(parameter)) fail(`$${parameter} is used but not declared in params`);
    let index = order.indexOf(parameter);
    if (index < 0) index = order.push(parameter) - 1;
    return `$${index + 2}`;
  });
  const unused = declared.filter((parameter) => !order.includes(parameter));
  if (unused.length > 0) fail(`declared but unused: ${unused.join(', ')}`);
  const undeclared = (definition.unlimited ?? []).filter((parameter) => !declared.includes(parameter));
  if (undeclared.length > 0) fail(`unlimited names what params does not declare: ${undeclared.join(', ')}`);
  const settings = definition.settings ? settingsPlan(definition.settings, fail) : undefined;
  // The checks read the SQL without its comments and string literals: a predicate in a comment is none.
  const code = withoutCommentsAndLiterals(sql);
  const verb = leadingVerb(code);
  if (!code.includes(`$${TENANT_PARAMETER}`)) fail(`never uses $${TENANT_PARAMETER}`);
  if (verb !== 'INSERT' && !TENANT_PREDICATE.test(code)) fail(`a ${verb} must say tenant_id = $${TENANT_PARAMETER}`);
  // An INSERT that names a table of the schema besides its target (INSERT … SELECT, a
  // data-modifying WITH) reads or changes rows there: it must say the predicate too.
  if (verb === 'INSERT' && (code.match(SCHEMA_TABLE) ?? []).length > 1 && !TENANT_PREDICATE.test(code)) {
    fail(
      `an INSERT that names another table of the schema (INSERT … SELECT, a data-modifying WITH) must say tenant_id = $${TENANT_PARAMETER}`,
    );
  }
  const undistributable = citusRefusal(code);
  if (undistributable) fail(undistributable);
  const made: Statement<never, never> = Object.freeze({
    name,
    sql,
    text,
    verb,
    unlimited: Object.freeze([...(definition.unlimited ?? [])]),
    sensitive: definition.sensitive === true,
    readOnly: verb === 'SELECT' && !WRITES.test(code),
    order: Object.freeze(order),
    params: z.strictObject(definition.params) as never,
    row: definition.row ? (z.object(definition.row) as never) : undefined,
    settings,
  });
  defined.add(made);
  return made as never;
}

/** The two statements that set and reset `declared` (names checked, so they can be literals). */
function settingsPlan(
  declared: Readonly<Record<string, z.ZodMiniType<string | number | undefined> | DerivedSetting>>,
  fail: (why: string) => never,
): SettingsPlan {
  const names = Object.keys(declared);
  const bad = names.find((setting) => !SETTING_NAME.test(setting));
  if (bad !== undefined) fail(`setting ${JSON.stringify(bad)} is not a server setting name`);
  const derived = (entry: (typeof declared)[string]): entry is DerivedSetting => 'sql' in entry;
  const value = (name: string, index: number) => {
    const entry = declared[name]!;
    const parameter = `$${index + 1}`;
    return derived(entry) ? entry.sql.replaceAll('$value', parameter) : `${parameter}::text`;
  };
  const shape = Object.fromEntries(
    Object.entries(declared).map(([name, entry]) => [name, derived(entry) ? entry.type : entry]),
  ) as z.core.$ZodShape;
  return Object.freeze({
    schema: z.strictObject(shape) as never,
    names: Object.freeze(names),
    set: `SELECT ${names.map((name, index) => `set_config('${name}', ${value(name, index)}, true)`).join(', ')}`,
    reset: `SELECT ${names.map((name) => `set_config('${name}', NULL, true)`).join(', ')}`,
  });
}

/** The first keyword of the statement's main part: after a `WITH …` list, the first verb outside parentheses. */
function leadingVerb(sql: string): string {
  let depth = 0;
  let first: string | undefined;
  for (const [token] of sql.matchAll(/[()]|\w+/g)) {
    if (token === '(') depth++;
    else if (token === ')') depth--;
    else if (depth === 0) {
      const word = token.toUpperCase();
      if (first === undefined) {
        first = word;
        if (word !== 'WITH') return word;
      } else if (['SELECT', 'INSERT', 'UPDATE', 'DELETE'].includes(word)) {
        return word;
      }
    }
  }
  return first ?? '';
}

/**
 * `sql` with its comments (`-- …`, `/* … *\/`) and the contents of its string literals (`'…'`,
 * `E'…'`, quoted identifiers) blanked out, the rest kept in place: what the definition checks read.
 */
export function withoutCommentsAndLiterals(sql: string): string {
  let out = '';
  for (let i = 0; i < sql.length;) {
    const two = sql.slice(i, i + 2);
    const dollar = sql[i] === '$' ? /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i)) : null;
    if (two === '--') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end;
      out += ' ';
    } else if (two === '/*') {
      // Block comments nest in PostgreSQL.
      let depth = 0;
      do {
        if (sql.startsWith('/*', i)) {
          depth++;
          i += 2;
        } else if (sql.startsWith('*/', i)) {
          depth--;
          i += 2;
        } else {
          i++;
        }
      } while (depth > 0 && i < sql.length);
      out += ' ';
    } else if (dollar) {
      // A dollar-quoted string ($$…$$, $tag$…$tag$): no parameter starts with `$` right after its name.
      const end = sql.indexOf(dollar[0], i + dollar[0].length);
      i = end < 0 ? sql.length : end + dollar[0].length;
      out += "''";
    } else if (sql[i] === "'" || sql[i] === '"') {
      const quote = sql[i]!;
      // E'…' takes backslash escapes; an E that ends a longer word (LIKE'…') does not start one.
      const escapes = quote === "'" && /(^|[^\w$])e$/i.test(out);
      let j = i + 1;
      for (; j < sql.length; j++) {
        if (sql[j] === quote) {
          if (sql[j + 1] === quote) j++;
          else break;
        } else if (sql[j] === '\\' && escapes) j++;
      }
      const quoted = sql.slice(i + 1, j);
      // A quoted identifier that is a plain lower-case name reads as that name ("tenant_id", "llmspell").
      out += quote === "'" ? "''" : /^[a-z_][a-z0-9_]*$/.test(quoted) ? quoted : '"x"';
      i = j + 1;
    } else {
      out += sql[i];
      i++;
    }
  }
  return out;
}

/**
 * Functions that are not IMMUTABLE (and the SQL keywords that are such calls): Citus refuses them
 * in the places {@link citusRefusal} names. Take the time once instead: `excluded.updated_at` in
 * an upsert, or `WITH clock AS MATERIALIZED (SELECT now() AS at)` and `clock.at`.
 */
const NOT_IMMUTABLE =
  /\b(?:(?:now|clock_timestamp|statement_timestamp|transaction_timestamp|timeofday|random|gen_random_uuid|uuidv[47]|uuid_generate_v[14]|nextval|currval|setval|txid_current|pg_current_xact_id|pg_current_snapshot|current_setting|set_config)\s*\(|(?:current_timestamp|current_date|current_time|localtimestamp|localtime)\b)/i;

/**
 * Why Citus would refuse the statement on a table distributed by `tenant_id`, or `undefined`: a
 * non-IMMUTABLE function in the `DO UPDATE` of an upsert ("functions used in the DO UPDATE SET
 * clause of INSERTs on distributed tables must be marked IMMUTABLE"), or inside a `CASE` or
 * `COALESCE` of an `UPDATE` or `DELETE` ("non-IMMUTABLE functions are not allowed in CASE or
 * COALESCE statements"). Both were met on a real Citus 13 cluster.
 */
export function citusRefusal(code: string): string | undefined {
  const upsert = /\bDO\s+UPDATE\b/i.exec(code);
  if (upsert) {
    const clause = code.slice(upsert.index).split(/\bRETURNING\b/i)[0]!;
    const call = NOT_IMMUTABLE.exec(clause);
    if (call) {
      return `calls ${call[0].replace(/\s*\($/, '()')} in ON CONFLICT DO UPDATE, which Citus refuses on a distributed table: use excluded.<column> (the inserted row's value) instead`;
    }
  }
  if (!/\b(UPDATE|DELETE)\b/i.test(code.replace(/\bDO\s+UPDATE\b/gi, ''))) return undefined;
  for (const part of conditionalParts(code)) {
    const call = NOT_IMMUTABLE.exec(part);
    if (call) {
      return `calls ${call[0].replace(/\s*\($/, '()')} inside CASE or COALESCE of an UPDATE or DELETE, which Citus refuses on a distributed table: take it once in a WITH … AS MATERIALIZED (SELECT now() AS at) and use that column`;
    }
  }
  return undefined;
}

/** The text of every `CASE … END` and `COALESCE(…)` of `code`. */
function conditionalParts(code: string): string[] {
  const parts: string[] = [];
  for (const match of code.matchAll(/\bCOALESCE\s*\(/gi)) {
    let depth = 0;
    let end = match.index + match[0].length - 1;
    for (; end < code.length; end++) {
      if (code[end] === '(') depth++;
      else if (code[end] === ')' && --depth === 0) break;
    }
    parts.push(code.slice(match.index, end + 1));
  }
  for (const match of code.matchAll(/\bCASE\b/gi)) {
    let depth = 0;
    const words = /\b(CASE|END)\b/gi;
    words.lastIndex = match.index;
    for (let word = words.exec(code); word; word = words.exec(code)) {
      depth += word[1]!.toUpperCase() === 'CASE' ? 1 : -1;
      if (depth === 0) {
        parts.push(code.slice(match.index, word.index + 3));
        break;
      }
    }
  }
  return parts;
}
