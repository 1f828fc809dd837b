import { distance } from 'fastest-levenshtein';
import * as z from 'zod/mini';
import { ConfigError } from '../errors.js';
import { describeValue, redactConnectionString, shorten } from './redact.js';
import { settingsSchema, type KeyMeta } from './schema.js';

/** The type of a configuration value, as users write it. */
export type KeyKind = 'string' | 'integer' | 'boolean' | 'enum';

/** One configuration key, derived from the zod schema. */
export interface KeySpec {
  /** Dotted path, e.g. `storage.postgres.pool_size`. */
  key: string;
  path: string[];
  /** Environment variable that overrides it, e.g. `LLMSPELL_STORAGE_POSTGRES_POOL_SIZE`. */
  env: string;
  kind: KeyKind;
  /** Allowed values of an enum key. */
  values?: readonly string[];
  min?: number;
  max?: number;
  /** Default value; `undefined` for keys that are unset by default. */
  default: unknown;
  description: string;
  /** What applies when an optional key is unset, in words (e.g. `storage.backend applies`). */
  fallback?: string;
  secret: boolean;
  /** The zod type of the value itself (without default/optional wrappers). */
  schema: z.ZodMiniType;
}

/** Environment variable for a key path: `LLMSPELL_` + the path in capitals joined by `_`. */
export function envVarFor(path: readonly string[]): string {
  return `LLMSPELL_${path.join('_').toUpperCase()}`;
}

interface Walked {
  keys: KeySpec[];
  tables: string[];
}

function unwrap(type: z.ZodMiniType): { inner: z.ZodMiniType; fallback: unknown; meta: KeyMeta | undefined } {
  let current: z.ZodMiniType = type;
  let fallback: unknown;
  let meta = z.globalRegistry.get(current) as KeyMeta | undefined;
  for (;;) {
    const def = current.def as { type: string; innerType?: z.ZodMiniType; defaultValue?: unknown };
    if ((def.type === 'default' || def.type === 'prefault') && def.innerType) {
      fallback = def.defaultValue;
    } else if (def.type !== 'optional' || !def.innerType) {
      return { inner: current, fallback, meta };
    }
    current = def.innerType!;
    meta ??= z.globalRegistry.get(current) as KeyMeta | undefined;
  }
}

/** The bounds of an integer type, from its checks (`z.minimum`, `z.maximum`, both inclusive). */
function integerBounds(type: z.ZodMiniType): { min?: number; max?: number } {
  const bounds: { min?: number; max?: number } = {};
  for (const check of type.def.checks ?? []) {
    const def = check._zod.def as { check: string; value?: number };
    if (def.check === 'greater_than') bounds.min = def.value;
    else if (def.check === 'less_than') bounds.max = def.value;
  }
  return bounds;
}

function leaf(path: string[], type: z.ZodMiniType): KeySpec {
  const { inner, fallback, meta } = unwrap(type);
  const key = path.join('.');
  if (!meta) throw new Error(`config schema: ${key} has no description`);
  const base = {
    key,
    path,
    env: envVarFor(path),
    default: fallback,
    description: meta.description,
    ...(meta.fallback ? { fallback: meta.fallback } : {}),
    secret: meta.secret ?? false,
    schema: inner,
  };
  const def = inner.def as { type: string; entries?: Record<string, string> };
  switch (def.type) {
    case 'string':
      return { ...base, kind: 'string' };
    case 'boolean':
      return { ...base, kind: 'boolean' };
    case 'enum':
      return { ...base, kind: 'enum', values: Object.values(def.entries ?? {}) };
    case 'number':
      return { ...base, kind: 'integer', ...integerBounds(inner) };
    default:
      throw new Error(`config schema: ${key} has unsupported type ${def.type}`);
  }
}

function walk(type: z.ZodMiniType, path: string[], out: Walked): void {
  const { inner } = unwrap(type);
  if (inner instanceof z.ZodMiniObject) {
    if (path.length > 0) out.tables.push(path.join('.'));
    for (const [name, child] of Object.entries(inner.shape as Record<string, z.ZodMiniType>)) {
      walk(child, [...path, name], out);
    }
  } else {
    out.keys.push(leaf(path, type));
  }
}

const walked: Walked = { keys: [], tables: [] };
walk(settingsSchema, [], walked);

/** Every configuration key, in schema order. */
export const CONFIG_KEYS: readonly KeySpec[] = walked.keys;
/** Every table (`storage`, `storage.postgres`, …), in schema order. */
export const CONFIG_TABLES: readonly string[] = walked.tables;

const byKey = new Map(CONFIG_KEYS.map((spec) => [spec.key, spec]));
const byEnv = new Map(CONFIG_KEYS.map((spec) => [spec.env, spec]));
const tableSet = new Set(CONFIG_TABLES);

/** The key named `key`, or undefined. */
export function findKey(key: string): KeySpec | undefined {
  return byKey.get(key);
}

/** The key overridden by environment variable `name`, or undefined. */
export function findKeyByEnv(name: string): KeySpec | undefined {
  return byEnv.get(name);
}

/** Whether `key` names a table (`storage.postgres`) rather than a value. */
export function isTable(key: string): boolean {
  return tableSet.has(key);
}

/** Whether a parsed TOML value is a table (not an array, a datetime or a scalar). */
export function isPlainTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/**
 * The value at a key path in a nested document (a parsed file, or `Settings`); `undefined` when
 * the path runs into a missing key or a value that is not a table.
 *
 * @example
 * valueAtPath(settings, ['storage', 'postgres', 'pool_size']) // 16
 */
export function valueAtPath(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (const part of path) {
    if (!isPlainTable(node) || !Object.hasOwn(node, part)) return undefined;
    node = node[part];
  }
  return node;
}

/**
 * Checks that `key` names a configuration key and returns it; with `allowTable`, a table or `''`
 * (the whole document) is accepted too, and returns `undefined`.
 * Throws a `CONFIG_INVALID` {@link ConfigError} for an unknown key (with the nearest known one),
 * and a `USAGE` one for a table where a value is needed.
 */
export function requireKnownKey(key: string): KeySpec;
export function requireKnownKey(key: string, options: { allowTable: true }): KeySpec | undefined;
export function requireKnownKey(key: string, options: { allowTable?: boolean } = {}): KeySpec | undefined {
  const spec = findKey(key);
  if (spec) return spec;
  if (options.allowTable && (key === '' || isTable(key))) return undefined;
  if (isTable(key)) {
    throw new ConfigError('USAGE', `${key} is a table, not a value`, {
      hint: `Name one of its keys, e.g. \`llmspell config get ${key}\` lists them.`,
    });
  }
  const suggestion = suggestKey(key);
  const shown = shorten(redactConnectionString(key));
  throw new ConfigError('CONFIG_INVALID', `unknown config key ${shown}`, {
    issues: [{ key: shown, message: 'unknown key', ...(suggestion ? { suggestion } : {}) }],
    hint: suggestion ? `Did you mean ${suggestion}?` : '`llmspell config get` lists every key.',
  });
}

/**
 * The known key or table closest to an unknown one, for "did you mean". Matches on the whole
 * path first, then on the last segment alone (so `storage.pool_size` suggests
 * `storage.postgres.pool_size`).
 */
export function suggestKey(
  unknown: string,
  candidates: readonly string[] = [...byKey.keys(), ...CONFIG_TABLES],
): string | undefined {
  const whole = nearest(unknown, candidates, (candidate) => candidate, Math.max(2, Math.floor(unknown.length / 4)));
  if (whole) return whole;
  const last = unknown.slice(unknown.lastIndexOf('.') + 1);
  return nearest(
    last,
    candidates,
    (candidate) => candidate.slice(candidate.lastIndexOf('.') + 1),
    Math.max(1, Math.floor(last.length / 4)),
  );
}

/**
 * The candidate whose `part` is nearest to `text` (case-insensitively) within `limit` edits.
 * Candidates whose length differs by more than `limit` are skipped unmeasured (the distance is
 * at least the difference), so a huge unknown key costs a length comparison, not a quadratic
 * Levenshtein distance.
 */
function nearest(
  text: string,
  candidates: readonly string[],
  part: (candidate: string) => string,
  limit: number,
): string | undefined {
  let best: { key: string; d: number } | undefined;
  let lower: string | undefined;
  for (const candidate of candidates) {
    const other = part(candidate);
    if (Math.abs(other.length - text.length) > limit) continue;
    lower ??= text.toLowerCase();
    const d = distance(lower, other.toLowerCase());
    if (d <= limit && (!best || d < best.d)) best = { key: candidate, d };
  }
  return best?.key;
}

/** What a key accepts, in words: `an integer from 1 to 10000`, `one of daily, weekly, monthly`. */
export function describeExpected(spec: KeySpec): string {
  switch (spec.kind) {
    case 'boolean':
      return 'true or false';
    case 'enum':
      return `one of ${(spec.values ?? []).join(', ')}`;
    case 'string':
      return 'a string';
    case 'integer':
      if (spec.min !== undefined && spec.max !== undefined) return `an integer from ${spec.min} to ${spec.max}`;
      if (spec.min !== undefined) return `an integer ≥ ${spec.min}`;
      return 'an integer';
  }
}

/** Result of parsing text (an env var, a flag, `config set`) for a key's type. */
export type ParsedValue = { ok: true; value: unknown } | { ok: false; message: string };

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

/**
 * Parses text for a key's type and checks it against the key's own schema (range, enum), so a
 * wrong value is refused with the key's expectation, never coerced.
 */
export function parseKeyValue(spec: KeySpec, text: string): ParsedValue {
  let value: unknown = text;
  const expected = () => ({
    ok: false as const,
    message: `expected ${describeExpected(spec)}, got ${describeValue(text, { secret: spec.secret })}`,
  });
  if (spec.kind === 'integer') {
    if (!/^[+-]?\d+$/.test(text.trim())) return expected();
    value = Number(text.trim());
  } else if (spec.kind === 'boolean') {
    const word = text.trim().toLowerCase();
    if (TRUE_WORDS.has(word)) value = true;
    else if (FALSE_WORDS.has(word)) value = false;
    else return expected();
  } else if (spec.kind === 'enum') {
    value = text.trim(); // as for numbers and booleans: ` postgres` from a shell script means postgres
  }
  const checked = spec.schema.safeParse(value);
  if (checked.success) return { ok: true, value: checked.data };
  // A refinement of the key (a URL that is not one) says what is wrong in its own words.
  const custom = checked.error.issues.find((issue) => issue.code === 'custom');
  return custom ? { ok: false, message: custom.message } : expected();
}
