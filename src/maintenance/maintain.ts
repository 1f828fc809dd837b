import type { Settings } from '../config/schema.js';
import type { Database } from '../db/types.js';
import {
  ensureEventPartitions,
  hasEventLog,
  type EventLogMaintenance,
  type EventPartitionOptions,
} from './event-partitions.js';

/** What one maintenance run did, part by part. */
export interface MaintenanceReport {
  /** Event-log partitions; `skipped` while the event log does not exist yet (before `migrate`). */
  eventLog: EventLogMaintenance | { status: 'skipped'; changes: []; attempts: 0 };
}

/**
 * Everything a long-running deployment needs done now and then, as the schema owner: today the
 * event-log partitions ({@link ensureEventPartitions}). Idempotent and bounded: a part that meets
 * a lock held too long reports `busy` instead of stalling traffic. `llmspell database maintain`
 * runs it (for cron), `migrate` and `openStorage` with `auto_migrate` after migrating, and
 * `storage.maintain()` on demand.
 */
export async function maintain(
  db: Database,
  settings: Settings,
  options: EventPartitionOptions = {},
): Promise<MaintenanceReport> {
  return db.withClient(async (client) => ({
    eventLog: (await hasEventLog(client))
      ? await ensureEventPartitions(client, settings, options)
      : { status: 'skipped', changes: [], attempts: 0 },
  }));
}
