import { decodeCursor, pageSize, toPage, type Page } from '../../kit/cursor.js';
import { itemsOf } from '../../mechanism/streaming.js';
import { invalidInput, notFound, StorageError } from '../../mechanism/errors.js';
import { callOf, checkKeys, cursorTimestamp, parseInput, uuid } from '../../values/fields.js';
import type { CallOptions, ModuleContext, StoreInterface } from '../../mechanism/module.js';
import { invalidTransition, predecessors } from '../../kit/transitions.js';
import type { Statement } from '../../mechanism/statement.js';
import * as sql from './sql.js';
import {
  listOptions,
  newSessionKeys,
  SESSION_TRANSITIONS,
  sessionUpdateKeys,
  type ListOptions,
  type NewSession,
  type Session,
  type SessionUpdate,
} from './types.js';

const what = (sessionId: string) => `session ${JSON.stringify(sessionId)}`;

/**
 * A tenant's sessions: status, metadata, last access and expiry. Ids are UUIDs the database
 * picks. Reach it as `storage.tenant(id).sessions`.
 */
export class DefaultSessionStore {
  constructor(private readonly context: ModuleContext) {}

  /** Starts an `active` session, expiring after `ttlSeconds` or at `expiresAt` (not both), or never. */
  async create(input: NewSession = {}, options: CallOptions = {}): Promise<Session> {
    const { ttlSeconds, expiresAt, metadata } = checkKeys('sessions.create', 'input', input, newSessionKeys, {
      optional: true,
    });
    const call = callOf('sessions.create', options);
    if (ttlSeconds !== undefined && expiresAt !== undefined) {
      throw invalidInput('sessions.create', 'input', 'must give ttlSeconds or expiresAt, not both');
    }
    try {
      return await this.context.one(sql.create, { ttlSeconds, expiresAt, metadata }, call);
    } catch (error) {
      // expiresAt was in the future by this machine's clock but not by the server's.
      if (error instanceof StorageError && error.details.constraint === 'sessions_expiry_after_creation') {
        throw invalidInput('sessions.create', 'expiresAt', 'must be later than now by the database server clock');
      }
      throw error;
    }
  }

  /** The session; `NOT_FOUND` when there is none. */
  async get(sessionId: string, options: CallOptions = {}): Promise<Session> {
    const row = await this.#one(sql.get, sessionId, callOf('sessions.get', options));
    if (!row) throw notFound('sessions.get', what(sessionId));
    return row;
  }

  /** Records an access now (`lastAccessedAt`), whatever the status; returns the session. */
  async touch(sessionId: string, options: CallOptions = {}): Promise<Session> {
    const row = await this.#one(sql.touch, sessionId, callOf('sessions.touch', options));
    if (!row) throw notFound('sessions.touch', what(sessionId));
    return row;
  }

  /**
   * Replaces the metadata and/or sets the status: active ⇄ suspended, either → completed;
   * anything else is `INVALID_TRANSITION` and nothing is written.
   */
  async update(sessionId: string, changes: SessionUpdate, options: CallOptions = {}): Promise<Session> {
    const { metadata, status } = checkKeys('sessions.update', 'changes', changes, sessionUpdateKeys);
    const call = callOf('sessions.update', options);
    if (metadata === undefined && status === undefined) {
      throw invalidInput('sessions.update', 'changes', 'must set metadata, status or both');
    }
    const from = status === undefined ? [] : predecessors(SESSION_TRANSITIONS, status);
    const row = await this.context.first(sql.update, { sessionId, metadata, status, from }, call);
    if (row) return row;
    const now = await this.#one(sql.currentStatus, sessionId, call);
    if (!now) throw notFound('sessions.update', what(sessionId));
    throw invalidTransition('sessions.update', what(sessionId), SESSION_TRANSITIONS, now.status, status!);
  }

  /** Archives the session (from any status; archiving an archived one changes nothing). */
  async archive(sessionId: string, options: CallOptions = {}): Promise<Session> {
    const call = callOf('sessions.archive', options);
    const row = (await this.#one(sql.archive, sessionId, call)) ?? (await this.#one(sql.get, sessionId, call));
    if (!row) throw notFound('sessions.archive', what(sessionId));
    return row;
  }

  /**
   * Every one of the tenant's sessions in creation order (optionally of one status), page after page: each page ({@link list}'s `limit`, default 50)
   * is read in a transaction of its own, so nothing is held between pages. Options as `list`.
   *
   * @example
   * for await (const item of store.scan({ limit: 500 })) handle(item);
   */
  scan(options: ListOptions = {}): AsyncGenerator<Session, void, undefined> {
    return itemsOf((cursor) => this.list(cursor === undefined ? options : { ...options, cursor }));
  }

  /** The tenant's sessions in creation order, optionally of one status, a page at a time. */
  async list(options: ListOptions = {}): Promise<Page<Session>> {
    const call = parseInput('sessions.list', listOptions, options);
    const { status, limit, cursor } = call;
    const size = pageSize(limit);
    const listName = `sessions:${status ?? '*'}`;
    const [afterCreated, afterId] = (decodeCursor('sessions.list', listName, cursor, [cursorTimestamp(), uuid()]) ??
      []) as [string?, string?];
    const rows = await this.context.all(sql.list, { status, afterCreated, afterId, limit: size + 1 }, undefined, call);
    return toPage(listName, rows, size, (row) => [row.createdAt.toISOString(), row.sessionId]);
  }

  /** Marks every active session past its `expiresAt` as `expired`; returns how many. */
  async expire(options: CallOptions = {}): Promise<number> {
    return this.context.count(sql.expire, {}, callOf('sessions.expire', options));
  }

  /** Runs a statement that takes the session id alone, in a transaction of its own (or the caller's). */
  #one<R>(
    statement: Statement<{ sessionId: string }, R>,
    sessionId: string,
    call: CallOptions,
  ): Promise<R | undefined> {
    return this.context.first(statement, { sessionId }, call);
  }
}

/**
 * The store a tenant view holds: the public methods of {@link DefaultSessionStore}, as a plain
 * object type (no private members), so that a framework can write a test double or another
 * implementation of it.
 */
export type SessionStore = StoreInterface<DefaultSessionStore>;
