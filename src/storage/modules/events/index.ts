/**
 * The event log (component `core`): so far its owner face alone — partition maintenance, the
 * partition health check and erasure; the tenant store comes with the event-log module.
 */
import { defineModule, moduleMaintenance } from '../../mechanism/module.js';
import { eventPartitionsCheck } from './health.js';
import { ensureEventPartitions, hasEventLog } from './partitions.js';

/** The report of a run without an event log (before `migrate`). */
const skipped = () => ({ status: 'skipped' as const, changes: [] as [], attempts: 0 as const });

export const eventsModule = defineModule({
  id: 'events',
  component: 'core',
  statements: {},
  owner: {
    tables: [{ name: 'event_log', key: ['event_id', 'emitted_at'] }],
    maintenance: moduleMaintenance({
      key: 'eventLog',
      run: async (client, settings, options) =>
        (await hasEventLog(client)) ? ensureEventPartitions(client, settings, options) : skipped(),
      skipped: skipped(),
    }),
    health: [eventPartitionsCheck],
  },
});
