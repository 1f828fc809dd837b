import { pageSize } from '../../kit/cursor.js';
import { invalidInput, notFound } from '../../mechanism/errors.js';
import { callOf, checkKeys, parseInput } from '../../values/fields.js';
import type { CallOptions, ModuleContext, StoreInterface } from '../../mechanism/module.js';
import * as sql from './sql.js';
import {
  pruneOptionKeys,
  recordOptionKeys,
  topOptions,
  type Pattern,
  type PruneOptions,
  type RecordOptions,
  type TopOptions,
} from './types.js';

/**
 * A tenant's procedural memory: patterns (`key = value` in a scope) counted each time they are
 * recorded. Reach it as `storage.tenant(id).procedural`.
 */
export class DefaultProceduralStore {
  constructor(private readonly context: ModuleContext) {}

  /** Counts one sighting of the pattern and returns it; concurrent records never lose a count. */
  async record(scope: string, key: string, value: string, options: RecordOptions = {}): Promise<Pattern> {
    const call = checkKeys('procedural.record', 'options', options, recordOptionKeys);
    return await this.context.one(sql.record, { scope, key, value, metadata: call.metadata }, call);
  }

  /** The pattern; `NOT_FOUND` when it was never recorded (or was pruned). */
  async get(scope: string, key: string, value: string, options: CallOptions = {}): Promise<Pattern> {
    const row = await this.context.first(sql.get, { scope, key, value }, callOf('procedural.get', options));
    if (!row) throw notFound('procedural.get', `pattern ${JSON.stringify(key)} in scope ${JSON.stringify(scope)}`);
    return row;
  }

  /** The scope's most frequent patterns, most frequent (then most recent) first. */
  async top(scope: string, options: TopOptions = {}): Promise<Pattern[]> {
    const call = parseInput('procedural.top', topOptions, options);
    return this.context.all(
      sql.top,
      { scope, minFrequency: call.minFrequency ?? 1, limit: pageSize(call.limit) },
      undefined,
      call,
    );
  }

  /**
   * Deletes the patterns last seen before `olderThan` and/or seen at most `maxFrequency` times
   * (both, when both are given), optionally in one scope; returns how many.
   */
  async prune(options: PruneOptions): Promise<number> {
    const call = checkKeys('procedural.prune', 'options', options, pruneOptionKeys);
    const { olderThan, maxFrequency, scope } = call;
    if (olderThan === undefined && maxFrequency === undefined) {
      throw invalidInput(
        'procedural.prune',
        'options',
        'must give olderThan, maxFrequency or both (prune never deletes everything)',
      );
    }
    return this.context.count(sql.prune, { olderThan, maxFrequency, scope }, call);
  }
}

/**
 * The store a tenant view holds: the public methods of {@link DefaultProceduralStore}, as a plain
 * object type (no private members), so that a framework can write a test double or another
 * implementation of it.
 */
export type ProceduralStore = StoreInterface<DefaultProceduralStore>;
