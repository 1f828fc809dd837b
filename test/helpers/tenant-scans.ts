/**
 * The tenant wall, proved per scan by the planner. `statement()` checks the text of a statement
 * for `tenant_id = $tenant`, which cannot see a `WITH RECURSIVE` whose recursive arm reads a tenant
 * table unfiltered, a `UNION ALL` with the predicate on one arm, a joined table that has none, or
 * an `OR` that makes the predicate optional. This checker asks the planner instead: it takes the
 * statement's generic plan (its `$1`, the tenant, stays a parameter), without running it, and
 * requires every scan of a tenant table (a table or partition of schema `llmspell` with a
 * `tenant_id` column, read from the catalog) to carry `tenant_id = $1` as one of the conditions
 * the scan itself applies: a top-level conjunct of its `Index Cond`, `Filter` or `Recheck Cond`,
 * or, for a bitmap heap scan, of its bitmap index scans (one branch of a `BitmapAnd`, every branch
 * of a `BitmapOr`).
 *
 * Not counted: `tenant_id = ANY (…)`, a comparison with anything but `$1` (a join condition such
 * as `b.tenant_id = a.tenant_id` on the inner side of a nested loop), a conjunct under an `OR`, a
 * join's `Join Filter`/`Hash Cond`/`Merge Cond` (applied above the scan: the rows are read
 * first). A join on `tenant_id` needs no such help anyway: the planner derives
 * `b.tenant_id = $1` from the equivalence class and pushes it into the scan.
 *
 * The client must bypass row-level security (a superuser, or BYPASSRLS; PGlite's own user is a
 * superuser): then the plan holds the statement's own predicates and nothing a policy adds.
 *
 * How the generic plan is had, in a transaction rolled back afterwards (EXPLAIN without ANALYZE runs
 * nothing; the transaction scopes the settings): `EXPLAIN (GENERIC_PLAN, VERBOSE, FORMAT JSON)
 * <text>` on PostgreSQL 16 and later; on 15 (no `GENERIC_PLAN`), `SET LOCAL plan_cache_mode =
 * force_generic_plan`, `PREPARE`, `EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE <name>(NULL, …)` with a
 * NULL per parameter (the values do not reach a generic plan: it shows `$n`) and, after the
 * rollback, `DEALLOCATE` (ROLLBACK does not undo a PREPARE). `VERBOSE` names each scan's schema and
 * qualifies its columns with the scan's alias.
 */
import type { Queryable } from '../../src/db/types.js';
import { withoutCommentsAndLiterals, type Statement } from '../../src/storage/mechanism/statement.js';

/** The schema whose tables with a `tenant_id` column are tenant tables. */
export const TENANT_SCHEMA = 'llmspell';

/** Node types that read a relation (`Relation Name` set), as EXPLAIN names them (PostgreSQL 15–18). */
export const SCAN_NODE_TYPES: readonly string[] = [
  'Seq Scan',
  'Sample Scan',
  'Index Scan',
  'Index Only Scan',
  'Bitmap Heap Scan',
  'Tid Scan',
  'Tid Range Scan',
  'Foreign Scan',
  'Custom Scan',
];

/** The conditions a scan applies to the rows it reads itself. */
const OWN_CONDITIONS = ['Index Cond', 'Filter', 'Recheck Cond'] as const;

/** One node of an `EXPLAIN (FORMAT JSON)` plan, with the keys read here. */
export interface PlanNode {
  readonly 'Node Type': string;
  readonly 'Relation Name'?: string;
  readonly Schema?: string;
  readonly Alias?: string;
  readonly 'Index Name'?: string;
  readonly 'Parent Relationship'?: string;
  readonly 'Subplan Name'?: string;
  readonly Plans?: readonly PlanNode[];
  readonly [key: string]: unknown;
}

/** A scan of a tenant table in a statement's plan. */
export interface TenantScan {
  /** `schema.table` (a partition's own name for a partition). */
  readonly relation: string;
  readonly alias: string | undefined;
  readonly nodeType: string;
  readonly index: string | undefined;
  /** Where in the plan: the node types from the root, `InitPlan`/`SubPlan` names included. */
  readonly path: string;
  /**
   * Its conditions as EXPLAIN prints them (`Index Cond`, `Filter`, `Recheck Cond`, `TID Cond`, and
   * for a bitmap heap scan each bitmap index scan's `Index Cond` under `Bitmap Index Cond <index>`).
   */
  readonly conditions: Readonly<Record<string, string>>;
  /** It applies `tenant_id = $1` itself. */
  readonly filtered: boolean;
}

/** What {@link TenantScanChecker.inspect} found in one statement's plan. */
export interface Inspection {
  /** `GENERIC_PLAN` (16+) or `PREPARE` (15: plan_cache_mode = force_generic_plan). */
  readonly method: PlanMethod;
  readonly plan: PlanNode;
  /** Every scan of a tenant table. */
  readonly scans: readonly TenantScan[];
  /** Those without `tenant_id = $1` of their own: the tenant wall's holes. */
  readonly offending: readonly TenantScan[];
}

export type PlanMethod = 'GENERIC_PLAN' | 'PREPARE';

/** The statement a checker plans: its name (for messages) and its text as sent (`$1` the tenant). */
export type Planned = Pick<Statement<unknown, unknown>, 'name' | 'text'>;

/** Options of {@link TenantScanChecker.plan}. */
export interface PlanOptions {
  /** How to have the generic plan; default the server's ({@link TenantScanChecker.method}). */
  readonly method?: PlanMethod;
  /**
   * Settings to plan under, for the transaction alone (`set_config(name, value, true)`): those a
   * statement is run with that change the plan (`enable_sort = off` for the vector index route).
   */
  readonly settings?: Readonly<Record<string, string>>;
}

/**
 * A checker for one database, with its tenant tables read once from the catalog. Each call takes
 * a connection with no transaction open (a `Database.withClient` handle, a `pg.Client`) of a
 * login that bypasses row-level security, to that database.
 */
export interface TenantScanChecker {
  /** The server's major version. */
  readonly major: number;
  /** How generic plans are had on this server (see the module comment). */
  readonly method: PlanMethod;
  /** Every tenant table, `schema.table`. */
  readonly tenantTables: ReadonlySet<string>;
  /** The generic plan of `statement` (never run). */
  plan(client: Pick<Queryable, 'query'>, statement: Planned, options?: PlanOptions): Promise<PlanNode>;
  /** Every tenant-table scan of the statement's generic plan, and those that lack the predicate. */
  inspect(client: Pick<Queryable, 'query'>, statement: Planned, options?: PlanOptions): Promise<Inspection>;
  /** The scans of tenant tables without `tenant_id = $1` of their own: `[]` when the wall holds. */
  offendingScans(client: Pick<Queryable, 'query'>, statement: Planned): Promise<TenantScan[]>;
}

/**
 * A checker for the database `client` is connected to (see {@link TenantScanChecker}).
 * @throws when the login is subject to row-level security.
 */
export async function tenantScanChecker(client: Pick<Queryable, 'query'>): Promise<TenantScanChecker> {
  const { rows: who } = await client.query<{ version: number; bypasses: boolean; role: string }>(
    `SELECT current_setting('server_version_num')::int AS version, current_user AS role,
            (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user) AS bypasses`,
  );
  const { version, bypasses, role } = who[0]!;
  if (!bypasses) {
    throw new Error(
      `tenantScanChecker: ${role} is subject to row-level security (neither superuser nor BYPASSRLS): its plans would carry the policies' predicates beside the statement's`,
    );
  }
  const major = Math.floor(version / 10_000);
  const { rows: tables } = await client.query<{ name: string }>(
    `SELECT n.nspname || '.' || c.relname AS name
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'm', 'f')`,
    [TENANT_SCHEMA],
  );
  const tenantTables: ReadonlySet<string> = new Set(tables.map((table) => table.name));
  const method: PlanMethod = major >= 16 ? 'GENERIC_PLAN' : 'PREPARE';

  const plan: TenantScanChecker['plan'] = (on, statement, options = {}) =>
    planned(on, statement.text, options.method ?? method, options.settings ?? {});
  const inspect: TenantScanChecker['inspect'] = async (on, statement, options = {}) => {
    const root = await plan(on, statement, options);
    const scans = tenantScans(root, tenantTables);
    return { method: options.method ?? method, plan: root, scans, offending: scans.filter((scan) => !scan.filtered) };
  };
  return Object.freeze({
    major,
    method,
    tenantTables,
    plan,
    inspect,
    offendingScans: async (on: Pick<Queryable, 'query'>, statement: Planned) => [
      ...(await inspect(on, statement)).offending,
    ],
  });
}

/** The root plan node of an `EXPLAIN (FORMAT JSON)` result (a json value, or its text). */
function rootOf(rows: readonly Record<string, unknown>[]): PlanNode {
  let value = rows[0]?.['QUERY PLAN'];
  if (typeof value === 'string') value = JSON.parse(value) as unknown;
  const root = (value as { Plan?: PlanNode }[] | undefined)?.[0]?.Plan;
  if (!root) throw new Error(`EXPLAIN returned no plan: ${JSON.stringify(rows)}`);
  return root;
}

/** How many parameters `text` takes: its highest `$n` outside comments and literals. */
export function parameterCount(text: string): number {
  let highest = 0;
  for (const [, n] of withoutCommentsAndLiterals(text).matchAll(/\$(\d+)/g)) highest = Math.max(highest, Number(n));
  return highest;
}

const PREPARED_NAME = 'llmspell_tenant_wall_probe';

/**
 * The generic plan of `text`, in a transaction rolled back afterwards (its settings go with it;
 * nothing is run either way: EXPLAIN without ANALYZE).
 */
async function planned(
  client: Pick<Queryable, 'query'>,
  text: string,
  method: PlanMethod,
  settings: Readonly<Record<string, string>>,
): Promise<PlanNode> {
  await client.query('BEGIN');
  let isPrepared = false;
  try {
    for (const [name, value] of Object.entries(settings)) {
      await client.query('SELECT set_config($1, $2, true)', [name, value]);
    }
    if (method === 'GENERIC_PLAN') {
      return rootOf((await client.query(`EXPLAIN (GENERIC_PLAN, VERBOSE, FORMAT JSON) ${text}`)).rows);
    }
    await client.query('SET LOCAL plan_cache_mode = force_generic_plan');
    await client.query(`PREPARE ${PREPARED_NAME} AS ${text}`);
    isPrepared = true;
    const nulls = Array.from({ length: parameterCount(text) }, () => 'NULL').join(', ');
    const { rows } = await client.query(`EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE ${PREPARED_NAME}(${nulls})`);
    return rootOf(rows);
  } finally {
    await client.query('ROLLBACK');
    // PREPARE is not transactional: the rollback leaves the prepared statement in the session.
    if (isPrepared) await client.query(`DEALLOCATE ${PREPARED_NAME}`);
  }
}

/** Every scan of a tenant table in the plan under `root`, InitPlans, SubPlans and CTEs included. */
export function tenantScans(root: PlanNode, tenantTables: ReadonlySet<string>): TenantScan[] {
  const found: TenantScan[] = [];
  const walk = (node: PlanNode, path: readonly string[]) => {
    const here = [...path, node['Subplan Name'] ? `${node['Subplan Name']}: ${node['Node Type']}` : node['Node Type']];
    const relation = node['Relation Name'];
    // A ModifyTable (Insert/Update/Delete/Merge) names the table it writes; the rows it changes come
    // from the scans below it. Any other node that names a relation reads it.
    if (relation !== undefined && node['Node Type'] !== 'ModifyTable') {
      if (node.Schema === undefined) {
        throw new Error(`plan node ${node['Node Type']} on ${relation} has no Schema: EXPLAIN without VERBOSE?`);
      }
      const qualified = `${node.Schema}.${relation}`;
      if (tenantTables.has(qualified)) found.push(readScan(node, qualified, here.join(' > ')));
    }
    for (const child of node.Plans ?? []) walk(child, here);
  };
  walk(root, []);
  return found;
}

const BITMAP_NODES = ['Bitmap Index Scan', 'BitmapAnd', 'BitmapOr'];

function readScan(node: PlanNode, relation: string, path: string): TenantScan {
  const alias = node.Alias;
  const conditions: Record<string, string> = {};
  for (const [key, value] of Object.entries(node)) {
    if (typeof value === 'string' && (key.endsWith(' Cond') || key === 'Filter')) conditions[key] = value;
  }
  let filtered = OWN_CONDITIONS.some(
    (key) => conditions[key] !== undefined && hasTenantConjunct(conditions[key], alias),
  );
  if (node['Node Type'] === 'Bitmap Heap Scan') {
    const bitmap = (node.Plans ?? []).find((child) => BITMAP_NODES.includes(child['Node Type']));
    if (bitmap) {
      collectBitmapConditions(bitmap, conditions);
      filtered ||= bitmapFiltered(bitmap, alias);
    }
  }
  return {
    relation,
    alias,
    nodeType: node['Node Type'],
    index: node['Index Name'],
    path,
    conditions,
    filtered,
  };
}

function collectBitmapConditions(node: PlanNode, into: Record<string, string>): void {
  if (node['Node Type'] === 'Bitmap Index Scan') {
    const cond = node['Index Cond'];
    if (typeof cond === 'string') {
      let key = `Bitmap Index Cond ${node['Index Name'] ?? ''}`.trim();
      for (let n = 2; key in into; n++) key = `Bitmap Index Cond ${node['Index Name'] ?? ''} #${n}`;
      into[key] = cond;
    }
    return;
  }
  for (const child of node.Plans ?? []) collectBitmapConditions(child, into);
}

/** Whether a bitmap tree yields only rows that satisfy `tenant_id = $1`. */
function bitmapFiltered(node: PlanNode, alias: string | undefined): boolean {
  const children = (node.Plans ?? []).filter((child) => BITMAP_NODES.includes(child['Node Type']));
  switch (node['Node Type']) {
    case 'Bitmap Index Scan': {
      const cond = node['Index Cond'];
      return typeof cond === 'string' && hasTenantConjunct(cond, alias);
    }
    case 'BitmapAnd':
      return children.some((child) => bitmapFiltered(child, alias));
    case 'BitmapOr':
      return children.length > 0 && children.every((child) => bitmapFiltered(child, alias));
    default:
      return false;
  }
}

/**
 * Whether `condition` (as EXPLAIN prints it) has `tenant_id = $1` (or `$1 = tenant_id`) as a
 * top-level conjunct, the column bare or qualified by `alias` (the scan's own).
 */
export function hasTenantConjunct(condition: string, alias: string | undefined): boolean {
  return conjuncts(condition).some((conjunct) => isTenantEquality(conjunct, alias));
}

/** The top-level `AND` operands of `condition`, each without its enclosing parentheses. */
export function conjuncts(condition: string): string[] {
  const expression = unwrap(condition.trim());
  const parts = splitTopLevel(expression, ' AND ');
  if (parts.length === 1) return [expression];
  return parts.flatMap((part) => conjuncts(part));
}

/** `(x)` → `x`, as long as the outer parentheses enclose the whole text. */
function unwrap(text: string): string {
  let current = text;
  while (current.startsWith('(') && closingOf(current, 0) === current.length - 1) current = current.slice(1, -1).trim();
  return current;
}

/** The index of the parenthesis that closes the one at `open`, skipping quoted text; -1 if none. */
function closingOf(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === "'" || c === '"') i = endOfQuoted(text, i);
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
  }
  return -1;
}

/** The index of the quote that ends the quoted text starting at `start` (doubled quotes are literal). */
function endOfQuoted(text: string, start: number): number {
  const quote = text[start];
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === quote) {
      if (text[i + 1] === quote) i++;
      else return i;
    }
  }
  return text.length;
}

/** `text` split at `separator` where it stands outside parentheses and quotes. */
function splitTopLevel(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'" || c === '"') i = endOfQuoted(text, i);
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0 && text.startsWith(separator, i)) {
      parts.push(text.slice(start, i));
      i += separator.length - 1;
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((part) => part.trim());
}

const IDENTIFIER = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)`;
const COLUMN = new RegExp(String.raw`^(?:(${IDENTIFIER})\.)?tenant_id$`);

/** Whether `conjunct` is `tenant_id = $1` or `$1 = tenant_id`, the column bare or of `alias`. */
function isTenantEquality(conjunct: string, alias: string | undefined): boolean {
  const sides = splitTopLevel(conjunct, ' = ');
  if (sides.length !== 2) return false;
  const [left, right] = sides.map((side) => unwrap(side)) as [string, string];
  const column = left === '$1' ? right : right === '$1' ? left : undefined;
  if (column === undefined) return false;
  const match = COLUMN.exec(column);
  if (!match) return false;
  const qualifier = match[1];
  if (qualifier === undefined) return true;
  const name = qualifier.startsWith('"') ? qualifier.slice(1, -1).replaceAll('""', '"') : qualifier;
  return name === alias;
}

/** One scan in a line, for a failure message: node, relation, alias, index, where, conditions. */
export function describeScan(scan: TenantScan): string {
  const alias = scan.alias && scan.alias !== scan.relation.split('.')[1] ? ` ${scan.alias}` : '';
  const index = scan.index ? ` using ${scan.index}` : '';
  const conditions = Object.entries(scan.conditions).map(([key, value]) => `${key}: ${value}`);
  return `${scan.nodeType} on ${scan.relation}${alias}${index} [${scan.path}]: ${conditions.length === 0 ? 'no condition' : conditions.join('; ')}`;
}

/** The plan as indented lines (node, relation, index, conditions), shorter than its JSON, for a failure message. */
export function planOutline(root: PlanNode): string {
  const lines: string[] = [];
  const walk = (node: PlanNode, depth: number) => {
    const name = node['Subplan Name'] ? `${node['Subplan Name']}: ` : '';
    const relation = node['Relation Name']
      ? ` on ${node.Schema ?? '?'}.${node['Relation Name']} ${node.Alias ?? ''}`
      : '';
    const index = node['Index Name'] ? ` using ${node['Index Name']}` : '';
    const conditions = Object.entries(node)
      .filter(([key, value]) => typeof value === 'string' && (key.endsWith(' Cond') || key.endsWith('Filter')))
      .map(([key, value]) => `${key}: ${value as string}`);
    lines.push(`${'  '.repeat(depth)}${name}${node['Node Type']}${relation.trimEnd()}${index}`);
    for (const condition of conditions) lines.push(`${'  '.repeat(depth + 2)}${condition}`);
    for (const child of node.Plans ?? []) walk(child, depth + 1);
  };
  walk(root, 0);
  return lines.join('\n');
}
