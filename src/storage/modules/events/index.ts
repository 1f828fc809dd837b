/**
 * The event log (component `core`): an append-only record of what happened, in streams with
 * versions, read in commit order without gaps (`storage.tenant(id).events`); and, as the owner,
 * partition maintenance, the partition health check and erasure.
 */
import { defineModule, moduleMaintenance } from '../../mechanism/module.js';
import { eventPartitionsCheck } from './health.js';
import { ensureEventPartitions, hasEventLog } from './partitions.js';
import * as sql from './sql.js';
import { DefaultEventStore, type EventStore } from './store.js';

export type { EventStore };
export type {
  AppendedEvent,
  AppendOptions,
  AppendResult,
  ExpectedVersion,
  NewEvent,
  RangeOptions as EventRangeOptions,
  ReadOptions as EventReadOptions,
  ReadResult as EventReadResult,
  StoredEvent,
  StreamOptions as EventStreamOptions,
  StreamPage,
} from './types.js';

/** The report of a run without an event log (before `migrate`). */
const skipped = () => ({ status: 'skipped' as const, changes: [] as [], attempts: 0 as const });

export const eventsModule = defineModule({
  id: 'events',
  component: 'core',
  statements: sql,
  owner: {
    tables: [
      { name: 'event_log', key: ['event_id', 'emitted_at'] },
      { name: 'event_streams', key: ['stream_id'] },
      { name: 'event_consumers', key: ['consumer'] },
    ],
    maintenance: moduleMaintenance({
      key: 'eventLog',
      run: async (client, settings, options) =>
        (await hasEventLog(client)) ? ensureEventPartitions(client, settings, options) : skipped(),
      skipped: skipped(),
    }),
    health: [eventPartitionsCheck],
  },
  create: (context): EventStore => new DefaultEventStore(context),
});
