/**
 * The metadata filter language: a small MongoDB-style query over a row's `metadata` (a `jsonb`
 * object), compiled to a SQL/JSON path and its variables. A statement tests a row with
 *
 *     ($filter::jsonpath IS NULL OR jsonb_path_match(metadata, $filter::jsonpath, $filterVars::jsonb, true))
 *
 * so the SQL text is the same for every filter, and no value is ever in it, nor even in the path:
 * every value is a variable (`$v0`, `$v1`, …) of `$filterVars`. Field names are in the path, as
 * quoted key accessors (`$."price"`).
 *
 * | filter                                    | matches a row whose metadata …                          |
 * |-------------------------------------------|---------------------------------------------------------|
 * | `{ lang: 'en' }`, `{ lang: { $eq: 'en' } }` | has `lang` equal to `'en'` (or an array holding it)  |
 * | `{ lang: { $ne: 'en' } }`                 | has no `lang` equal to `'en'` (a missing `lang` matches) |
 * | `{ n: { $gt: 1, $lte: 9 } }`              | has `n` in (1, 9]; `$gt $gte $lt $lte` take a number or a string |
 * | `{ tag: { $in: ['a', 'b'] } }`, `$nin`    | has `tag` equal to one of them (`$nin`: none of them)   |
 * | `{ doc: { $exists: true } }`              | has the key `doc` (any value, `null` too)               |
 * | `{ 'author.name': 'Ada' }`                | has `author.name` (a dotted path reaches into objects)  |
 * | `{ $and: [f, g] }`, `{ $or: [f, g] }`, `{ $not: f }` | matches both, either, or not `f`; `{ n: { $not: { $gt: 1 } } }` too |
 *
 * Several keys in one object must all match, and so must several operators on one field; on a
 * field that holds an array each operator may match a different element (`{ n: { $gt: 1, $lte: 9 } }`
 * matches `n: [0, 100]`), as in MongoDB without `$elemMatch`. An array nested in an array is
 * unwrapped once more by the comparison (PostgreSQL's lax mode), which MongoDB does not do. Values are scalars (string, finite number, boolean,
 * `null`); `null` matches a stored `null`, not a missing key (`$exists: false` is that). A field
 * that holds an array matches when one of its elements does (lax SQL/JSON paths unwrap arrays),
 * as in MongoDB. Comparisons never match across types (`{ n: { $gt: 1 } }` skips `n: "2"`).
 *
 * **Limits** ({@link FILTER_LIMITS}), checked before any SQL, each an `INVALID_INPUT` naming the
 * node that crosses it: nesting 32 levels deep (`$and`, `$or`, `$not`); 1000 conditions (each
 * operator on a field, and each empty filter `{}` inside `$and`, `$or` or `$not`); a field path of
 * at most 100 dotted segments (MongoDB documents nest at most 100 levels) and 4096 bytes (UTF-8);
 * and a compiled path of at most 256 KiB. The server parses and runs a path recursively, one stack
 * frame per segment and per `&&`/`||` of a chain, so these bound its stack. Measured with paths of
 * one-letter segments and with `&&` and `||` chains, at the default `max_stack_depth` (2 MB):
 * PostgreSQL 18 refuses about 14,500 (`54001 stack depth limit exceeded`), 15 the same chains and
 * about 18,600 segments, and PGlite 0.5.14 breaks at about 5,900 without saying so (a wrong, empty
 * result, or `XX000 bad buffer ID: 0`). Within the limits a path nests at most about 1,150 deep
 * (1000 conditions in one chain, 32 `$not`, 100 segments): five times below PGlite's break (a
 * server with a lower `max_stack_depth` refuses sooner, with 54001). A real filter meets none of them.
 */
import { isPlainObject } from '../values/codecs.js';
import { invalidInput } from '../mechanism/errors.js';
import { kindOf } from '../values/fields.js';

/** A filter over metadata (see the module comment for the language). */
export type MetadataFilter = { [key: string]: unknown };

/** A filter as statements take it: the path and its variables (both absent: every row matches). */
export interface CompiledFilter {
  /** The SQL/JSON path, or `undefined` for a filter that matches every row (`{}` or none). */
  filter: string | undefined;
  /** The variables of the path, as JSON text. */
  filterVars: string | undefined;
}

/** The operators of a field condition. */
export const FIELD_OPERATORS = ['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists', '$not'] as const;
/** The operators that combine filters. */
export const LOGICAL_OPERATORS = ['$and', '$or', '$not'] as const;

/**
 * What a filter may hold (see "Limits" in the module comment): how deep it nests, how many
 * conditions it has, how many dotted segments and UTF-8 bytes one field path has, and how many
 * UTF-8 bytes its compiled SQL/JSON path has.
 */
export const FILTER_LIMITS = Object.freeze({
  depth: 32,
  conditions: 1000,
  pathSegments: 100,
  fieldPathBytes: 4096,
  compiledPathBytes: 256 * 1024,
});

/** A predicate every row passes (a condition with nothing in it: `{}`). */
const ALWAYS = 'exists($)';

const COMPARISON = { $eq: '==', $gt: '>', $gte: '>=', $lt: '<', $lte: '<=' } as const;

/**
 * Compiles `filter` (the argument `name` of `operation`), or throws `INVALID_INPUT` whose field
 * is the path of the bad node (`filter.$or.1.price.$gt`) and says what it must be.
 */
export function compileFilter(operation: string, filter: unknown, name = 'filter'): CompiledFilter {
  if (filter === undefined) return { filter: undefined, filterVars: undefined };
  const compiler = new Compiler(operation);
  const path = compiler.filter(filter, [name], 0);
  if (path === undefined) return { filter: undefined, filterVars: undefined };
  return { filter: path, filterVars: JSON.stringify(compiler.vars) };
}

class Compiler {
  readonly vars: Record<string, unknown> = {};
  #count = 0;
  /** UTF-8 bytes of the path so far: each piece is counted where it is made, so this is its exact size. */
  #bytes = 0;

  constructor(private readonly operation: string) {}

  /** A filter object: the conjunction of its keys; `undefined` when it has none. */
  filter(node: unknown, at: string[], depth: number): string | undefined {
    if (!isPlainObject(node)) this.#fail(at, `must be a filter object ({ field: value, … }), not ${kindOf(node)}`);
    if (depth > FILTER_LIMITS.depth) this.#fail(at, `nests deeper than ${FILTER_LIMITS.depth} levels`);
    const entries = Object.entries(node);
    const parts = entries.map(([key, value], index) => {
      const here = [...at, key];
      if (entries.length > 1) this.#grow(index === 0 ? 2 : 6, here); // `(…)`, and ` && ` before it
      if (key === '$and' || key === '$or') return this.#combine(key, value, here, depth);
      if (key === '$not') {
        this.#grow(3, here); // `!(…)`
        return `!(${this.filter(value, here, depth + 1) ?? this.#always(here)})`;
      }
      if (key.startsWith('$')) {
        this.#fail(here, `is not an operator here: a filter combines with ${LOGICAL_OPERATORS.join(', ')}`);
      }
      return this.#field(key, value, here, depth);
    });
    return parts.length === 0 ? undefined : parts.length === 1 ? parts[0] : parts.map((p) => `(${p})`).join(' && ');
  }

  #combine(key: '$and' | '$or', value: unknown, at: string[], depth: number): string {
    if (!Array.isArray(value) || value.length === 0) this.#fail(at, 'must be a non-empty array of filter objects');
    const parts = value.map((item, index) => {
      const here = [...at, String(index)];
      this.#grow(index === 0 ? 2 : 6, here); // `(…)`, and ` && ` or ` || ` before it
      return this.filter(item, here, depth + 1) ?? this.#always(here);
    });
    return parts.map((p) => `(${p})`).join(key === '$and' ? ' && ' : ' || ');
  }

  /** A condition on one field: a scalar (equality) or an object of operators. */
  #field(key: string, value: unknown, at: string[], depth: number): string {
    const path = this.#path(key, at);
    if (!isPlainObject(value)) return this.#operator(path, '$eq', value, at);
    const entries = Object.entries(value);
    if (entries.length === 0 || entries.some(([op]) => !op.startsWith('$'))) {
      this.#fail(
        at,
        'must be a scalar or an object of operators (reach into a nested object with a dotted path such as "author.name")',
      );
    }
    const parts = entries.map(([op, operand], index) => {
      const here = [...at, op];
      if (entries.length > 1) this.#grow(index === 0 ? 2 : 6, here);
      if (op === '$not') {
        if (!isPlainObject(operand) || Object.keys(operand).length === 0) {
          this.#fail(here, 'must be an object of operators, e.g. { $gt: 5 }');
        }
        if (depth + 1 > FILTER_LIMITS.depth) this.#fail(here, `nests deeper than ${FILTER_LIMITS.depth} levels`);
        this.#grow(3, here);
        return `!(${this.#field(key, operand, here, depth + 1)})`;
      }
      if (!(FIELD_OPERATORS as readonly string[]).includes(op)) {
        this.#fail(here, `is not an operator: a field takes ${FIELD_OPERATORS.join(', ')}`);
      }
      return this.#operator(path, op as Exclude<(typeof FIELD_OPERATORS)[number], '$not'>, operand, here);
    });
    return parts.length === 1 ? parts[0]! : parts.map((p) => `(${p})`).join(' && ');
  }

  #operator(
    path: string,
    op: Exclude<(typeof FIELD_OPERATORS)[number], '$not'>,
    operand: unknown,
    at: string[],
  ): string {
    this.#condition(at, '');
    const test = this.#test(path, op, operand, at);
    this.#grow(Buffer.byteLength(test), at);
    return test;
  }

  /** The predicate of one operator on the field at `path`. */
  #test(path: string, op: Exclude<(typeof FIELD_OPERATORS)[number], '$not'>, operand: unknown, at: string[]): string {
    switch (op) {
      case '$exists':
        if (typeof operand !== 'boolean') this.#fail(at, 'must be true or false');
        return operand ? `exists(${path})` : `!exists(${path})`;
      case '$in':
      case '$nin': {
        if (!Array.isArray(operand)) this.#fail(at, 'must be an array of scalars (strings, numbers, booleans, null)');
        operand.forEach((item, index) => this.#scalar(item, [...at, String(index)]));
        const test = `exists(${path} ? (@ == ${this.#variable(operand)}[*]))`;
        return op === '$in' ? test : `!${test}`;
      }
      case '$ne':
        return `!exists(${path} ? (@ == ${this.#variable(this.#scalar(operand, at))}))`;
      case '$eq':
        return `exists(${path} ? (@ == ${this.#variable(this.#scalar(operand, at))}))`;
      default: {
        if (typeof operand !== 'string' && typeof operand !== 'number') {
          this.#fail(at, `must be a number or a string to compare with, not ${kindOf(operand)}`);
        }
        return `exists(${path} ? (@ ${COMPARISON[op]} ${this.#variable(this.#scalar(operand, at))}))`;
      }
    }
  }

  /** The predicate every row passes, standing for an empty filter `{}` at `at`: a condition too. */
  #always(at: string[]): string {
    this.#condition(at, ' (an empty filter {} counts as one)');
    this.#grow(ALWAYS.length, at);
    return ALWAYS;
  }

  #condition(at: string[], note: string): void {
    if (++this.#count > FILTER_LIMITS.conditions) {
      this.#fail(at, `is one condition too many: a filter holds at most ${FILTER_LIMITS.conditions}${note}`);
    }
  }

  /** Counts `bytes` more of the compiled path, made for the node at `at`. */
  #grow(bytes: number, at: string[]): void {
    this.#bytes += bytes;
    if (this.#bytes > FILTER_LIMITS.compiledPathBytes) {
      this.#fail(
        at,
        `makes the compiled filter longer than ${FILTER_LIMITS.compiledPathBytes} bytes: use fewer conditions, shorter field names, or $in with a list of values`,
      );
    }
  }

  /** `a.b` as `$."a"."b"`: each segment a quoted key (JSON string syntax is SQL/JSON's). */
  #path(key: string, at: string[]): string {
    const segments = key.split('.');
    if (segments.length > FILTER_LIMITS.pathSegments) {
      this.#fail(
        at,
        `is a field path of ${segments.length} dotted segments: a path has at most ${FILTER_LIMITS.pathSegments}`,
      );
    }
    if (segments.some((segment) => segment === '' || !segment.isWellFormed() || segment.includes('\0'))) {
      this.#fail(at, 'is not a field name: dotted segments must be non-empty valid Unicode without NUL');
    }
    const bytes = Buffer.byteLength(key);
    if (bytes > FILTER_LIMITS.fieldPathBytes) {
      this.#fail(at, `is a field path of ${bytes} bytes: a path has at most ${FILTER_LIMITS.fieldPathBytes} (UTF-8)`);
    }
    return `$${segments.map((segment) => `.${JSON.stringify(segment)}`).join('')}`;
  }

  #scalar(value: unknown, at: string[]): unknown {
    const ok =
      value === null ||
      typeof value === 'boolean' ||
      (typeof value === 'number' && Number.isFinite(value)) ||
      (typeof value === 'string' && value.isWellFormed() && !value.includes('\0'));
    if (!ok) {
      this.#fail(
        at,
        `must be a string, a finite number, a boolean or null, not ${typeof value === 'number' ? String(value) : kindOf(value)}`,
      );
    }
    return value;
  }

  #variable(value: unknown): string {
    const name = `v${Object.keys(this.vars).length}`;
    this.vars[name] = value;
    return `$${name}`;
  }

  #fail(at: string[], expected: string): never {
    throw invalidInput(this.operation, at.join('.'), expected);
  }
}
