/**
 * Catalog queries for schema tests: what PostgreSQL itself says about tables, row-level security,
 * keys, triggers, privileges, partitions and indexes. Each returns plain rows, so tests compare
 * them with what the design asks for. All of them work on PostgreSQL and on PGlite.
 */
import type { Queryable } from '../../src/db/types.js';

/** The schema that holds every llmspell table. */
export const LLMSPELL_SCHEMA = 'llmspell';
/** The schema of the migration bookkeeping (history tables and checksum ledger). */
export const MIGRATIONS_SCHEMA = 'llmspell_migrations';

/** The four tables of the vector track, one per embedding dimension. */
export const VECTOR_DIMENSIONS = [384, 768, 1536, 3072] as const;

/** A table of the schema, as pg_class describes it. */
export interface TableInfo {
  name: string;
  /** `r` plain table, `p` partitioned table. */
  kind: 'r' | 'p';
  isPartition: boolean;
  hasTenantId: boolean;
  rowSecurity: boolean;
  forceRowSecurity: boolean;
}

/** Tables (plain and partitioned, partitions included) of `schema`, by name. */
export async function tablesOf(db: Queryable, schema = LLMSPELL_SCHEMA): Promise<TableInfo[]> {
  const { rows } = await db.query<TableInfo>(
    `SELECT c.relname::text AS name, c.relkind::text AS kind, c.relispartition AS "isPartition",
            EXISTS (SELECT 1 FROM pg_attribute a
                     WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND a.attnum > 0 AND NOT a.attisdropped) AS "hasTenantId",
            c.relrowsecurity AS "rowSecurity", c.relforcerowsecurity AS "forceRowSecurity"
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
      ORDER BY 1`,
    [schema],
  );
  return rows;
}

/** Whether a schema exists. */
export async function schemaExists(db: Queryable, schema: string): Promise<boolean> {
  const { rows } = await db.query<{ present: boolean }>(
    'SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS present',
    [schema],
  );
  return rows[0]?.present === true;
}

/** A row-level-security policy. */
export interface PolicyInfo {
  table: string;
  name: string;
  /** pg_policy.polcmd: `*` all, `r` SELECT, `a` INSERT, `w` UPDATE, `d` DELETE. */
  command: '*' | 'r' | 'a' | 'w' | 'd';
  permissive: boolean;
  /** Role names, `PUBLIC` for everyone. */
  roles: string[];
  /** The USING expression as PostgreSQL prints it, or null. */
  using: string | null;
  /** The WITH CHECK expression as PostgreSQL prints it, or null. */
  withCheck: string | null;
}

/** Every policy on a table of `schema`. */
export async function policiesOf(db: Queryable, schema = LLMSPELL_SCHEMA): Promise<PolicyInfo[]> {
  const { rows } = await db.query<PolicyInfo>(
    `SELECT c.relname::text AS table, p.polname::text AS name, p.polcmd::text AS command, p.polpermissive AS permissive,
            ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE r::regrole::text END FROM unnest(p.polroles) AS r ORDER BY 1) AS roles,
            pg_get_expr(p.polqual, p.polrelid) AS using,
            pg_get_expr(p.polwithcheck, p.polrelid) AS "withCheck"
       FROM pg_policy p
       JOIN pg_class c ON c.oid = p.polrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1
      ORDER BY 1, 2`,
    [schema],
  );
  return rows;
}

/** A primary key, unique constraint, exclusion constraint or unique index. */
export interface UniqueKeyInfo {
  table: string;
  name: string;
  /** `p` primary key, `u` unique, `x` exclusion (constraints); `i` a unique or exclusion index. */
  kind: 'p' | 'u' | 'x' | 'i';
  /** The key's first column, or null when it is an expression. */
  firstColumn: string | null;
  /** Whether the index is partial (indexes only; false for constraints). */
  partial: boolean;
}

/**
 * Every primary-key, unique and exclusion constraint of the tables of `schema`, and every index
 * that enforces uniqueness or exclusion (which includes those constraints' own indexes and
 * unique indexes made without a constraint, partial ones too).
 */
export async function uniqueKeysOf(db: Queryable, schema = LLMSPELL_SCHEMA): Promise<UniqueKeyInfo[]> {
  const { rows } = await db.query<UniqueKeyInfo>(
    `SELECT c.relname::text AS table, k.conname::text AS name, k.contype::text AS kind,
            (SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = k.conrelid AND a.attnum = k.conkey[1]) AS "firstColumn",
            false AS partial
       FROM pg_constraint k
       JOIN pg_class c ON c.oid = k.conrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND k.contype IN ('p', 'u', 'x')
     UNION ALL
     SELECT c.relname::text, ic.relname::text, 'i',
            CASE WHEN i.indkey[0] = 0 THEN NULL
                 ELSE (SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[0]) END,
            i.indpred IS NOT NULL
       FROM pg_index i
       JOIN pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_class c ON c.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND (i.indisunique OR i.indisexclusion)
      ORDER BY 1, 2, 3`,
    [schema],
  );
  return rows;
}

/** A foreign key with its columns on both sides, in key order. */
export interface ForeignKeyInfo {
  table: string;
  name: string;
  columns: string[];
  /** The referenced table, schema-qualified. */
  referencedTable: string;
  referencedColumns: string[];
}

/** Every foreign key declared on a table of `schema`. */
export async function foreignKeysOf(db: Queryable, schema = LLMSPELL_SCHEMA): Promise<ForeignKeyInfo[]> {
  const { rows } = await db.query<ForeignKeyInfo>(
    `SELECT c.relname::text AS table, k.conname::text AS name,
            ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum ORDER BY u.ord) AS columns,
            rn.nspname::text || '.' || rc.relname::text AS "referencedTable",
            ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY AS u(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum ORDER BY u.ord) AS "referencedColumns"
       FROM pg_constraint k
       JOIN pg_class c ON c.oid = k.conrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_class rc ON rc.oid = k.confrelid
       JOIN pg_namespace rn ON rn.oid = rc.relnamespace
      WHERE n.nspname = $1 AND k.contype = 'f'
      ORDER BY 1, 2`,
    [schema],
  );
  return rows;
}

/** User-defined triggers (not the internal ones behind foreign keys) on tables of `schema`, as `table.trigger`. */
export async function userTriggersOf(db: Queryable, schema = LLMSPELL_SCHEMA): Promise<string[]> {
  const { rows } = await db.query<{ trigger: string }>(
    `SELECT c.relname::text || '.' || t.tgname::text AS trigger
       FROM pg_trigger t
       JOIN pg_class c ON c.oid = t.tgrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND NOT t.tgisinternal
      ORDER BY 1`,
    [schema],
  );
  return rows.map((r) => r.trigger);
}

/** One privilege held by a grantee other than the object's owner. */
export interface GrantInfo {
  /** Role name, or `PUBLIC`. */
  grantee: string;
  /** `schema.table`, `schema.table.column`, `schema.function` or `schema`. */
  object: string;
  /** SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER, MAINTAIN, EXECUTE, USAGE, CREATE. */
  privilege: string;
}

/**
 * Every privilege granted on the schemas themselves, their relations (tables, partitions,
 * sequences, views), their columns and their functions (not those of extensions), to anyone but
 * the owner. A NULL ACL is read as the built-in default (`acldefault`), so a function's implicit
 * EXECUTE for PUBLIC shows up.
 */
export async function grantsIn(db: Queryable, schemas: readonly string[]): Promise<GrantInfo[]> {
  const grantee = `CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END`;
  const { rows } = await db.query<GrantInfo>(
    `SELECT ${grantee} AS grantee, n.nspname::text AS object, a.privilege_type AS privilege
       FROM pg_namespace n
      CROSS JOIN LATERAL aclexplode(coalesce(n.nspacl, acldefault('n'::"char", n.nspowner))) AS a
      WHERE n.nspname = ANY ($1) AND a.grantee <> n.nspowner
     UNION ALL
     SELECT ${grantee}, n.nspname::text || '.' || c.relname::text, a.privilege_type
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
      CROSS JOIN LATERAL aclexplode(coalesce(c.relacl, acldefault((CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::"char", c.relowner))) AS a
      WHERE n.nspname = ANY ($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND a.grantee <> c.relowner
     UNION ALL
     SELECT ${grantee}, n.nspname::text || '.' || c.relname::text || '.' || att.attname::text, a.privilege_type
       FROM pg_attribute att
       JOIN pg_class c ON c.oid = att.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      CROSS JOIN LATERAL aclexplode(att.attacl) AS a
      WHERE n.nspname = ANY ($1) AND att.attnum > 0 AND NOT att.attisdropped AND att.attacl IS NOT NULL AND a.grantee <> c.relowner
     UNION ALL
     SELECT ${grantee}, n.nspname::text || '.' || p.proname::text, a.privilege_type
       FROM pg_proc p
       JOIN pg_namespace n ON n.oid = p.pronamespace
      CROSS JOIN LATERAL aclexplode(coalesce(p.proacl, acldefault('f'::"char", p.proowner))) AS a
      WHERE n.nspname = ANY ($1) AND a.grantee <> p.proowner
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
      ORDER BY 1, 2, 3`,
    [schemas],
  );
  return rows;
}

/** A role's attributes, what it owns in this database, and the roles it is a member of. */
export interface RoleInfo {
  superuser: boolean;
  bypassRls: boolean;
  /** Relations, functions and schemas it owns in the current database, as `kind:name`. */
  owns: string[];
  /** Roles it is a member of (and so may inherit privileges from). */
  memberOf: string[];
}

/** {@link RoleInfo} of `role`, or undefined when the role does not exist. */
export async function roleInfo(db: Queryable, role: string): Promise<RoleInfo | undefined> {
  const { rows } = await db.query<RoleInfo>(
    `SELECT r.rolsuper AS superuser, r.rolbypassrls AS "bypassRls",
            ARRAY(SELECT 'relation:' || c.oid::regclass::text FROM pg_class c WHERE c.relowner = r.oid
                  UNION ALL SELECT 'function:' || p.oid::regprocedure::text FROM pg_proc p WHERE p.proowner = r.oid
                  UNION ALL SELECT 'schema:' || n.nspname::text FROM pg_namespace n WHERE n.nspowner = r.oid
                  ORDER BY 1) AS owns,
            ARRAY(SELECT m.roleid::regrole::text FROM pg_auth_members m WHERE m.member = r.oid ORDER BY 1) AS "memberOf"
       FROM pg_roles r
      WHERE r.rolname = $1`,
    [role],
  );
  return rows[0];
}

/** The partitioning of a partitioned table. */
export interface PartitioningInfo {
  /** pg_partitioned_table.partstrat: `r` range, `l` list, `h` hash. */
  strategy: 'r' | 'l' | 'h';
  /** Partition-key columns (0 stands for an expression). */
  columns: Array<string | null>;
  /** The DEFAULT partition's name, or null. */
  defaultPartition: string | null;
}

/** How `schema.table` is partitioned, or undefined when it is not a partitioned table. */
export async function partitioningOf(
  db: Queryable,
  table: string,
  schema = LLMSPELL_SCHEMA,
): Promise<PartitioningInfo | undefined> {
  const { rows } = await db.query<PartitioningInfo>(
    `SELECT pt.partstrat::text AS strategy,
            ARRAY(SELECT a.attname::text FROM unnest(pt.partattrs::int2[]) WITH ORDINALITY AS u(attnum, ord)
                    LEFT JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = u.attnum ORDER BY u.ord) AS columns,
            (SELECT d.relname::text FROM pg_class d WHERE d.oid = pt.partdefid) AS "defaultPartition"
       FROM pg_partitioned_table pt
       JOIN pg_class c ON c.oid = pt.partrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2`,
    [schema, table],
  );
  return rows[0];
}

/** One partition and its bounds, read from `pg_get_expr(relpartbound)` (range partitions). */
export interface PartitionInfo {
  name: string;
  isDefault: boolean;
  /** Inclusive lower bound of a range partition (null for DEFAULT). */
  rangeStart: Date | null;
  /** Exclusive upper bound of a range partition (null for DEFAULT). */
  rangeEnd: Date | null;
}

/** The partitions of `schema.table` (range bounds over one timestamptz column), by lower bound. */
export async function partitionsOf(db: Queryable, table: string, schema = LLMSPELL_SCHEMA): Promise<PartitionInfo[]> {
  const { rows } = await db.query<PartitionInfo>(
    `SELECT c.relname::text AS name,
            pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT' AS "isDefault",
            (regexp_match(pg_get_expr(c.relpartbound, c.oid), $re$FROM \\('([^']+)'\\)$re$))[1]::timestamptz AS "rangeStart",
            (regexp_match(pg_get_expr(c.relpartbound, c.oid), $re$TO \\('([^']+)'\\)$re$))[1]::timestamptz AS "rangeEnd"
       FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhrelid
       JOIN pg_class parent ON parent.oid = i.inhparent
       JOIN pg_namespace n ON n.oid = parent.relnamespace
      WHERE n.nspname = $1 AND parent.relname = $2
      ORDER BY 3 NULLS LAST, 1`,
    [schema, table],
  );
  return rows;
}

/** An index served by an access method other than btree/gist/gin (vector indexes). */
export interface VectorIndexInfo {
  table: string;
  index: string;
  method: string;
  /** pg_class.reloptions of the index, e.g. `m=16`. */
  options: string[];
  /** Operator class of the first key. */
  opclass: string;
  /** The first key's column, or null when it is an expression. */
  column: string | null;
  /** The first key's expression as PostgreSQL prints it, or null. */
  expression: string | null;
  /** The first key's type with its modifier, e.g. `halfvec(3072)`. */
  keyType: string;
}

/** Indexes of `schema` whose access method is `hnsw`, `ivfflat` or `vchordrq`. */
export async function vectorIndexesOf(db: Queryable, schema = LLMSPELL_SCHEMA): Promise<VectorIndexInfo[]> {
  const { rows } = await db.query<VectorIndexInfo>(
    `SELECT t.relname::text AS table, ic.relname::text AS index, am.amname::text AS method,
            coalesce(ic.reloptions, '{}')::text[] AS options, opc.opcname::text AS opclass,
            CASE WHEN i.indkey[0] = 0 THEN NULL
                 ELSE (SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[0]) END AS column,
            pg_get_expr(i.indexprs, i.indrelid) AS expression,
            format_type(ka.atttypid, ka.atttypmod) AS "keyType"
       FROM pg_index i
       JOIN pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_class t ON t.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
       JOIN pg_am am ON am.oid = ic.relam
       JOIN pg_opclass opc ON opc.oid = i.indclass[0]
       JOIN pg_attribute ka ON ka.attrelid = i.indexrelid AND ka.attnum = 1
      WHERE n.nspname = $1 AND am.amname IN ('hnsw', 'ivfflat', 'vchordrq')
      ORDER BY 1, 2`,
    [schema],
  );
  return rows;
}

/** The type of `schema.table.column` with its modifier (`vector(384)`), or undefined. */
export async function columnType(
  db: Queryable,
  table: string,
  column: string,
  schema = LLMSPELL_SCHEMA,
): Promise<string | undefined> {
  const { rows } = await db.query<{ type: string }>(
    `SELECT format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = $3 AND NOT a.attisdropped`,
    [schema, table, column],
  );
  return rows[0]?.type;
}

/** Table privileges PostgreSQL would let `role` use on the tables of `schemas` (memberships and PUBLIC included), as `schema.table:PRIVILEGE`. */
export async function effectiveTablePrivileges(
  db: Queryable,
  role: string,
  schemas: readonly string[],
): Promise<string[]> {
  const { rows } = await db.query<{ grant: string }>(
    `SELECT n.nspname::text || '.' || c.relname::text || ':' || p.privilege AS grant
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
      CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']
                        -- MAINTAIN exists from PostgreSQL 17.
                        || CASE WHEN current_setting('server_version_num')::int >= 170000 THEN ARRAY['MAINTAIN'] ELSE '{}' END)
                 AS p(privilege)
      WHERE n.nspname = ANY ($2) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
        AND CASE WHEN c.relkind = 'S' THEN p.privilege = 'SELECT' AND has_sequence_privilege($1, c.oid, 'SELECT, USAGE, UPDATE')
                 ELSE has_table_privilege($1, c.oid, p.privilege) END
      ORDER BY 1`,
    [role, schemas],
  );
  return rows.map((r) => r.grant);
}

/** Relations of `schemas` on which `role` holds a privilege on at least one column (table-level grants count too). */
export async function relationsWithColumnAccess(
  db: Queryable,
  role: string,
  schemas: readonly string[],
): Promise<string[]> {
  const { rows } = await db.query<{ relation: string }>(
    `SELECT n.nspname::text || '.' || c.relname::text AS relation
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY ($2) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        AND has_any_column_privilege($1, c.oid, 'SELECT, INSERT, UPDATE, REFERENCES')
      ORDER BY 1`,
    [role, schemas],
  );
  return rows.map((r) => r.relation);
}
