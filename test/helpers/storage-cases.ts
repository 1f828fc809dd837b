/**
 * The cases and helpers of the storage-module integration tests (`test/integration/storage/modules/`):
 * the targets they run on, tenant ids, the tables of bad and good input every module is tried
 * with, and the assertions they share. One file per module uses them; a new module adds its own
 * cases here when another module's tests need them too.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect } from 'vitest';
import { PreciseDate } from '../../src/storage/values/codecs.js';
import type { TenantStores } from '../../src/storage/registry.js';
import type { StoredEvent } from '../../src/storage/modules/events/index.js';
import type { Session, SessionStatus } from '../../src/storage/modules/sessions/types.js';
import type { Workflow, WorkflowStatus } from '../../src/storage/modules/workflows/types.js';
import type { Failure } from './outcome.js';
import { openStorageTarget, type OpenedStorage, type StorageTarget } from './storage.js';

export const TARGETS = ['postgres', 'memory', 'embedded'] as const;

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A tenant id no other test uses. */
export const newTenant = () => `t-${randomUUID().slice(0, 8)}`;

export const coded = (code: string): Failure => ({ code });

/** A row with every Date as `Class ISO` (a PreciseDate's ISO text has its microseconds), for exact comparisons. */
export function plain(row: object): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(row).map(([key, value]) => [
      key,
      value instanceof Date ? `${value.constructor.name} ${value.toISOString()}` : value,
    ]),
  );
}

/** Nanoseconds since the epoch, for ordering timestamps exactly. */
export const ns = (date: PreciseDate): bigint => date.getFullTime();

/** Base64url JSON, as the library encodes a cursor, to forge one. */
export const forgedCursor = (...parts: unknown[]) => Buffer.from(JSON.stringify(parts)).toString('base64url');

/** Sorted as PostgreSQL's C collation sorts text (the test databases use it): by UTF-8 bytes. */
export const byBytes = (ids: string[]) => [...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

export class Point {
  constructor(public x = 1) {}
}

export function nested(levels: number, leaf: unknown): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf };
  for (let i = 0; i < levels; i++) value = { d: value };
  return value;
}

const circular: Record<string, unknown> = { a: 1 };
circular.self = circular;
const sparse: unknown[] = [1];
sparse[2] = 3;

/** JSON documents that are plain objects but are not JSON a jsonb column can hold as given. */
export const BAD_DOCUMENTS: [string, Record<string, unknown>][] = [
  ['NaN', { n: NaN }],
  ['Infinity', { n: Infinity }],
  ['-Infinity in an array', { list: [1, -Infinity] }],
  ['undefined in an array', { list: [1, undefined, 3] }],
  ['a sparse array', { list: sparse }],
  ['a Date', { at: new Date() }],
  ['a class instance', { point: new Point() }],
  ['a Map', { map: new Map([['a', 1]]) }],
  ['a BigInt', { big: 10n }],
  ['a function', { fn: () => 1 }],
  ['a symbol', { sym: Symbol('s') }],
  ['a NUL character in a value', { s: 'a\0b' }],
  ['a NUL character in a key', { 'a\0b': 1 }],
  ['a lone surrogate in a value', { s: 'x\ud800' }],
  ['a lone surrogate in a key', { '\udc00': 1 }],
  ['NaN deep inside', { a: { b: [{ c: [1, NaN] }] } }],
  ['a cycle', circular],
  ['150 levels of nesting', nested(150, 1)],
];

/** Values that are not a JSON object at all. */
export const NOT_OBJECTS: [string, unknown][] = [
  ['an array', [1, 2]],
  ['a string', '{"a":1}'],
  ['null', null],
  ['a number', 1],
  ['a Date', new Date()],
  ['a class instance', new Point()],
  ['a Map', new Map()],
];

/** Ids (agent, workflow) that are not 1 to 255 bytes of well-formed text without control characters. */
export const BAD_IDS: [string, unknown][] = [
  ['a number', 42],
  ['null', null],
  ['undefined', undefined],
  ['an object', { id: 'a' }],
  ['an empty string', ''],
  ['256 bytes', 'x'.repeat(256)],
  ['256 bytes of two-byte characters', 'é'.repeat(128)],
  ['a NUL character', 'a\0b'],
  ['a newline', 'a\nb'],
  ['a tab', 'a\tb'],
  ['a DEL character', 'a\u007fb'],
  ['a lone surrogate', 'a\ud800'],
];

/** Ids that are fine, however odd. */
export const GOOD_IDS: [string, string][] = [
  ['255 bytes', 'x'.repeat(255)],
  ['255 bytes of three-byte characters', '€'.repeat(85)],
  ['emoji', '😀'.repeat(63)],
  ['unicode', 'ünïcødé 中文 שלום'],
  ['SQL punctuation', `it's "quoted" \\ back/slash; -- DROP TABLE x; $1 %s`],
  ['one character', 'a'],
];

/** Session ids that are not UUIDs. */
export const BAD_SESSION_IDS: [string, unknown][] = [
  ['a number', 42],
  ['null', null],
  ['undefined', undefined],
  ['an empty string', ''],
  ['not a UUID', 'not-a-uuid'],
  ['a UUID in braces', `{${randomUUID()}}`],
  ['a UUID with a NUL', `${randomUUID()}\0`],
  ['a UUID without dashes', randomUUID().replaceAll('-', '')],
  ['256 bytes', 'a'.repeat(256)],
];

/** Texts a scope, key or value may not be (a value may be empty). */
export const BAD_TEXTS: [string, unknown][] = [
  ['a number', 7],
  ['null', null],
  ['undefined', undefined],
  ['a NUL character', 'a\0b'],
  ['a lone surrogate', '\udfff'],
];

/** How a new workflow reaches each status. */
export const PATH_TO: Record<WorkflowStatus, WorkflowStatus[]> = {
  pending: [],
  running: ['running'],
  paused: ['running', 'paused'],
  completed: ['running', 'completed'],
  failed: ['running', 'failed'],
  cancelled: ['cancelled'],
};

export async function workflowIn(stores: TenantStores, status: WorkflowStatus, workflowId?: string): Promise<Workflow> {
  let workflow = await stores.workflows.create({
    name: `a ${status} workflow`,
    state: { payload: [1, { two: 2 }] },
    ...(workflowId === undefined ? {} : { workflowId }),
  });
  workflow = await stores.workflows.update(workflow.workflowId, { currentStep: 3 });
  for (const to of PATH_TO[status]) workflow = await stores.workflows.transition(workflow.workflowId, to);
  expect(workflow.status).toBe(status);
  return workflow;
}

/** How a new session reaches each status `update` or `archive` can set. */
export async function sessionIn(stores: TenantStores, status: Exclude<SessionStatus, 'expired'>): Promise<Session> {
  const session = await stores.sessions.create({ metadata: { for: status } });
  if (status === 'active') return session;
  if (status === 'archived') return stores.sessions.archive(session.sessionId);
  return stores.sessions.update(session.sessionId, { status });
}

export function expectTimestamps(row: object, fields: string[], nullable: string[] = []): void {
  const record = row as Record<string, unknown>;
  for (const field of fields) expect(record[field], field).toBeInstanceOf(PreciseDate);
  for (const field of nullable) {
    if (record[field] !== null) expect(record[field], field).toBeInstanceOf(PreciseDate);
  }
}

/**
 * Opens `target` for the enclosing describe (beforeAll, disposed afterAll) and returns the open
 * storage (valid once beforeAll ran) and `fresh()`: the stores of a tenant of their own.
 */
export function useStorageTarget(target: StorageTarget): { opened(): OpenedStorage; fresh(): TenantStores } {
  let opened: OpenedStorage | undefined;
  beforeAll(async () => {
    opened = await openStorageTarget(target);
  });
  afterAll(async () => {
    await opened?.dispose();
  });
  return { opened: () => opened!, fresh: () => opened!.storage.tenant(newTenant()) };
}

/**
 * The tenant's events once `lastId` can be read. A gap-safe reader sees only events of
 * transactions older than the oldest one running in the whole cluster, and other test files hold
 * transactions open for a while: so a test waits (up to 20 s) rather than reading once.
 */
export async function eventsUntil(stores: TenantStores, lastId: string): Promise<StoredEvent[]> {
  for (let waited = 0; ; waited += 50) {
    const { events } = await stores.events.read({ limit: 1000 });
    if (events.some((event) => event.eventId === lastId) || waited > 20_000) return events;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
