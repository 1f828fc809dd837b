import { tenantErasingError, typedFailure } from '../../db/errors.js';
import type { DriverKind, Queryable, QueryOptions } from '../../db/types.js';
import { LlmspellError } from '../../errors.js';
import { RESULT_TYPES } from '../values/codecs.js';
import { fromServerError, invalidInput, redactServerError } from './errors.js';
import { parseInput } from '../values/fields.js';
import { isStatement, type SettingsPlan, type Statement } from './statement.js';

/** What a tenant transaction knows of the scope that opened it. */
export interface TransactionScope {
  /** Where the database is, safe to print (for connection errors). */
  readonly target: string;
  /** The scope runs one statement (`withTenant({ singleStatement })`). */
  readonly singleStatement: boolean;
  /** The connection pipelines (`Database.pipelines`): statements may be sent without awaiting the one before. */
  readonly pipelines?: boolean;
  /** `storage.postgres.statement_timeout_secs`, named with its value when a statement runs past it. */
  readonly statementTimeoutSecs?: number;
  /** Whether this process is forgetting the tenant (`TENANT_ERASING` for a write, before it is sent). */
  readonly erasing?: () => boolean;
  /** Told of every statement that ran: see {@link StatementObserver}. */
  readonly observer?: StatementObserver;
  /** The driver behind the transaction, for the observer. */
  readonly backend?: DriverKind;
}

/** One statement a storage call ran, as an observer sees it: never a parameter value or a row. */
export interface StatementEvent {
  /** The statement's name, `module.operation`: `agentState.put`, `vectors.search.384`. */
  readonly operation: string;
  /** The driver it ran on: `postgres`, `embedded` or `memory`. */
  readonly backend: DriverKind;
  /** Milliseconds from sending it to its result (settings included), as `performance.now()` measures. */
  readonly durationMs: number;
  /** Rows it returned or changed; 0 when it failed. */
  readonly rows: number;
  /** The error code it failed with (`CONFLICT`, `DB_QUERY_FAILED`, …); absent when it succeeded. */
  readonly error?: string;
}

/**
 * Called after every statement of a storage call (`openStorage(settings, { observer })`), for
 * tracing and metrics. It runs on the call's path: keep it cheap. What it throws is ignored.
 */
export type StatementObserver = (event: StatementEvent) => void;

/** Limits every storage call is held to, from the settings. */
export interface StorageLimits {
  /** The most bytes one value (a JSON document as text, a string, a buffer) may have: `storage.postgres.max_document_bytes`. */
  maxDocumentBytes: number;
}

/**
 * What a store holds while it works: one transaction of one tenant. It takes only the library's
 * own {@link Statement}s (no SQL text can be passed), checks and encodes their parameters before
 * anything is sent, fills `$tenant` in itself, reads rows with the storage codecs and checks them
 * against the declared shape, and maps server errors to storage codes named after the statement.
 * It is revoked when its scope settles: every use after that throws `SCOPE_CLOSED`.
 */
export class TenantTransaction {
  readonly #client: Queryable;
  readonly #limits: StorageLimits;
  readonly #scope: TransactionScope;
  #open = true;
  /** Cursors opened so far (each gets its own name). */
  #cursors = 0;

  constructor(
    client: Queryable,
    /** The tenant every statement of this transaction runs for. */
    readonly tenant: string,
    limits: StorageLimits,
    scope: TransactionScope,
  ) {
    this.#client = client;
    this.#limits = limits;
    this.#scope = scope;
  }

  /**
   * Runs `statement` and returns its rows. `settings` (only those the statement declares) hold
   * for that statement alone: `SET LOCAL` right before it, back to their defaults right after.
   */
  async all<P, R>(statement: Statement<P, R>, params: P, settings?: StatementSettings): Promise<R[]> {
    const { rows } = await this.#send(statement, params, settings);
    return rows.map((row) => readRow(statement, row));
  }

  /** Runs `statement` and returns its first row, or `undefined` when it returned none. */
  async first<P, R>(statement: Statement<P, R>, params: P): Promise<R | undefined> {
    const { rows } = await this.#send(statement, params);
    return rows.length === 0 ? undefined : readRow(statement, rows[0]);
  }

  /** Runs `statement`, which always returns a row (an `INSERT … RETURNING`, an aggregate); `INTERNAL` when it returned none. */
  async one<P, R>(statement: Statement<P, R>, params: P): Promise<R> {
    const row = await this.first(statement, params);
    if (row === undefined)
      throw new LlmspellError('INTERNAL', `${statement.name}: returned no row where it always returns one`);
    return row;
  }

  /** Runs `statement` and returns how many rows it affected. */
  async count<P, R>(statement: Statement<P, R>, params: P): Promise<number> {
    return (await this.#send(statement, params)).rowCount ?? 0;
  }

  /**
   * Opens a cursor over a read-only `statement` in this transaction and returns the function that
   * fetches its next rows (none once it is exhausted). The cursor lives as long as the
   * transaction: see `ModuleContext.stream`.
   */
  async cursor<P, R>(statement: Statement<P, R>, params: P): Promise<(rows: number) => Promise<R[]>> {
    if (!this.#open) throw closedError();
    if (!isStatement(statement) || !statement.readOnly || statement.settings !== undefined) {
      throw new LlmspellError(
        'USAGE',
        'a cursor runs only read-only statements without settings, defined with statement()',
      );
    }
    if (this.#scope.singleStatement)
      throw new LlmspellError('INTERNAL', `${statement.name}: a cursor needs a transaction of several statements`);
    const name = `llmspell_cursor_${++this.#cursors}`;
    const values = this.#encode(statement, params);
    try {
      await this.#client.query(`DECLARE ${name} NO SCROLL CURSOR FOR ${statement.text}`, values);
    } catch (error) {
      throw this.#failure(statement, error);
    }
    return async (rows) => {
      if (!this.#open) throw closedError();
      try {
        const result = await this.#client.query(`FETCH ${Math.trunc(rows)} FROM ${name}`, undefined, {
          types: RESULT_TYPES,
        });
        return result.rows.map((row) => readRow(statement, row));
      } catch (error) {
        throw this.#failure(statement, error);
      }
    };
  }

  /** Ends the handle's life: called by the scope that made it, once it settled. */
  revoke(): void {
    this.#open = false;
  }

  async #send<P, R>(
    statement: Statement<P, R>,
    params: P,
    settings?: StatementSettings,
  ): Promise<{ rows: unknown[]; rowCount: number | null }> {
    const observer = this.#scope.observer;
    if (observer === undefined) return this.#execute(statement, params, settings);
    const started = performance.now();
    const tell = (rows: number, error?: unknown) => {
      const code = (error as { code?: unknown } | undefined)?.code;
      try {
        observer({
          operation: statement.name,
          backend: this.#scope.backend ?? 'postgres',
          durationMs: performance.now() - started,
          rows,
          ...(error === undefined ? {} : { error: typeof code === 'string' ? code : 'INTERNAL' }),
        });
      } catch {
        // An observer's failure is not the call's.
      }
    };
    try {
      const result = await this.#execute(statement, params, settings);
      tell(result.rowCount ?? result.rows.length);
      return result;
    } catch (error) {
      tell(0, error);
      throw error;
    }
  }

  async #execute<P, R>(
    statement: Statement<P, R>,
    params: P,
    settings?: StatementSettings,
  ): Promise<{ rows: unknown[]; rowCount: number | null }> {
    if (!this.#open) throw closedError();
    if (!isStatement(statement)) {
      throw new LlmspellError('USAGE', 'a tenant transaction runs only statements defined with statement()');
    }
    const values = this.#encode(statement, params);
    const settingValues = settingParameters(statement, settings);
    // On a server every tenant table refuses the write itself (its `_tenant_writable` CHECK);
    // PGlite's one session cannot conflict with itself, so its erasures are known in this process.
    if (!statement.readOnly && this.#scope.erasing?.() === true) throw tenantErasingError();
    if (settingValues) {
      return this.#sendAfter(settingValues, statement as Statement<P, R> & { settings: SettingsPlan }, values);
    }
    // A read of a one-statement call may have COMMIT follow it unawaited: nothing after it can
    // need undoing. A write's COMMIT waits until its rows have been read and checked.
    const commitWith = this.#scope.singleStatement && statement.readOnly;
    try {
      return await this.#client.query(statement.text, values, {
        types: RESULT_TYPES,
        ...(commitWith ? { commitWith } : {}),
      });
    } catch (error) {
      throw this.#failure(statement, error);
    }
  }

  /**
   * Sends the statement that sets the settings, `statement`, and the one that sets them back to
   * their defaults (so a later statement of a `transaction()` runs as it would have), none
   * awaiting the one before: on a pipelining connection the three travel together. A failed
   * setting is reported, not the "transaction is aborted" the statement then gets.
   */
  async #sendAfter<P, R>(
    settingValues: (string | null)[],
    statement: Statement<P, R> & { settings: SettingsPlan },
    values: unknown[],
  ): Promise<{ rows: unknown[]; rowCount: number | null }> {
    // Without pipelining, each goes out once the one before succeeded (nothing gained by queueing
    // them in the driver, which is deprecated in pg 8; after a failure the transaction is aborted).
    let last: Promise<unknown> = Promise.resolve();
    const send = (text: string, queryValues?: unknown[], options?: QueryOptions) => {
      const after = last;
      const sent = this.#scope.pipelines
        ? this.#client.query(text, queryValues, options)
        : after.then(() => this.#client.query(text, queryValues, options));
      sent.catch(() => undefined);
      last = sent;
      return sent;
    };
    const set = send(statement.settings.set, settingValues);
    const sent = send(statement.text, values, { types: RESULT_TYPES });
    const reset = send(statement.settings.reset);
    // All three settle before anything is thrown: the caller's ROLLBACK must not queue behind them.
    const [setting, result, resetting] = await Promise.allSettled([set, sent, reset]);
    if (setting.status === 'rejected') throw this.#typed(setting.reason, statement.name);
    if (result.status === 'rejected') throw this.#failure(statement, result.reason);
    if (resetting.status === 'rejected') throw this.#typed(resetting.reason, statement.name);
    return result.value;
  }

  /** The error `statement` failed with, as a storage code or typed by {@link #typed}; redacted first when it is sensitive. */
  #failure<P, R>(statement: Statement<P, R>, error: unknown): unknown {
    const failure = statement.sensitive ? redactServerError(error) : error;
    return fromServerError(failure, statement.name, statement.verb) ?? this.#typed(failure, statement.name);
  }

  /**
   * A failure that is no storage code, typed here rather than by the transaction's end, so that a
   * `transaction()` callback sees the same errors as a call of its own: a lost connection, a
   * timeout or another server error as a database error, a value the codecs cannot read as
   * `INTERNAL`.
   */
  #typed(error: unknown, operation: string): unknown {
    const { statementTimeoutSecs } = this.#scope;
    const typed = typedFailure(
      error,
      this.#scope.target,
      'transaction',
      statementTimeoutSecs === undefined ? {} : { statementTimeoutSecs },
    );
    if (typed === error && error instanceof RangeError) {
      return new LlmspellError('INTERNAL', `${operation}: a stored value could not be read: ${error.message}`, {
        cause: error,
      });
    }
    return typed;
  }

  /** Checks the parameters against their declaration and lays them out as `$1` (tenant), `$2`, …. */
  #encode<P, R>(statement: Statement<P, R>, params: P): unknown[] {
    const parsed = parseInput(statement.name, statement.params, params ?? {}, 'input');
    const values: unknown[] = [this.tenant];
    const max = this.#limits.maxDocumentBytes;
    const tooLarge = (field: string, size: number) =>
      invalidInput(
        statement.name,
        field,
        `is ${size} bytes; the most a stored value may have is ${max} bytes (storage.postgres.max_document_bytes)`,
      );
    for (const name of statement.order) {
      const value = parsed[name];
      if (!statement.unlimited.includes(name)) {
        // An array parameter (a batch's column) is held to the limit element by element.
        if (Array.isArray(value)) {
          value.forEach((element: unknown, index) => {
            const size = storedSize(element, max);
            if (size > max) throw tooLarge(`${name}.${index}`, size);
          });
        } else {
          const size = storedSize(value, max);
          if (size > max) throw tooLarge(name, size);
        }
      }
      values.push(value === undefined ? null : value);
    }
    return values;
  }
}

/**
 * The bytes a parameter value takes as stored (a string in UTF-8, a buffer), 0 for any other
 * kind. A string short enough that even 3 bytes a character stays within `max` is not measured.
 */
function storedSize(value: unknown, max: number): number {
  if (typeof value === 'string') return value.length * 3 <= max ? 0 : Buffer.byteLength(value);
  return Buffer.isBuffer(value) ? value.length : 0;
}

/** Server settings for one statement, by name (see `statement({ settings })`); `undefined` values are not sent. */
export type StatementSettings = Readonly<Record<string, string | number | undefined>>;

/**
 * The parameters of the statement that sets `settings` (see `SettingsPlan`): checked against what
 * `statement` declares, in its order, `null` for a setting not given. `undefined` when none is given.
 */
function settingParameters<P, R>(
  statement: Statement<P, R>,
  settings: StatementSettings | undefined,
): (string | null)[] | undefined {
  if (settings === undefined) return undefined;
  if (!statement.settings) {
    throw new LlmspellError('INTERNAL', `${statement.name}: takes no settings`);
  }
  const parsed = parseInput(statement.name, statement.settings.schema, settings, 'settings');
  const values = statement.settings.names.map((name) => (parsed[name] === undefined ? null : String(parsed[name])));
  return values.every((value) => value === null) ? undefined : values;
}

function readRow<P, R>(statement: Statement<P, R>, row: unknown): R {
  if (!statement.row) return row as R;
  const parsed = statement.row.safeParse(row);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new LlmspellError(
    'INTERNAL',
    `${statement.name}: a row did not have the declared shape (${issue.path.join('.')}: ${issue.message}); is the schema migrated to this version?`,
    { hint: 'Run `llmspell database migration-status`; report it if the schema is up to date.' },
  );
}

function closedError(): LlmspellError {
  return new LlmspellError(
    'SCOPE_CLOSED',
    'a storage handle was used after its transaction had ended (a store or transaction handle kept past its callback)',
    {
      hint: 'Use the handle a transaction() callback receives only inside that callback, and await every call before returning.',
    },
  );
}
