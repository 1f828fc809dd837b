import type { Settings } from '../config/schema.js';
import type { Database } from '../db/types.js';
import { maintainVchordrqIndexes, type VchordrqRebuild } from '../storage/modules/vectors/vchordrq-indexes.js';
import {
  hasVectorTables,
  maintainTenantIndexes,
  type TenantIndexMaintenance,
} from '../storage/modules/vectors/tenant-indexes.js';
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
  /**
   * The vector indexes: per-tenant partial ones (`changes`, `indexes`), and on VectorChord the
   * rebuilds of the tables' indexes whose lists follow their size (`rebuilt`); `skipped` where the
   * vector track has no tables (disabled, or not migrated) or this run did not cover them.
   */
  vectorIndexes: VectorIndexMaintenance | { status: 'skipped'; changes: []; indexes: 0; rebuilt: [] };
}

/** What vector-index maintenance did: see {@link MaintenanceReport.vectorIndexes}. */
export type VectorIndexMaintenance = TenantIndexMaintenance & { rebuilt: VchordrqRebuild[] };

/** The parts of a maintenance run (both by default). */
export interface MaintenanceParts {
  eventLog?: boolean;
  vectorIndexes?: boolean;
}

/**
 * Everything a long-running deployment needs done now and then, as the schema owner: the
 * event-log partitions ({@link ensureEventPartitions}), the partial vector indexes of large
 * tenants ({@link maintainTenantIndexes}) and, on VectorChord, the lists of each table's index
 * ({@link maintainVchordrqIndexes}). Idempotent and bounded: a part that meets a lock held
 * too long reports `busy` instead of stalling traffic. `llmspell database maintain` runs it (for
 * cron), `migrate` and `openStorage` with `auto_migrate` after migrating, and `storage.maintain()`
 * on demand.
 */
export async function maintain(
  db: Database,
  settings: Settings,
  options: EventPartitionOptions = {},
  parts: MaintenanceParts = {},
): Promise<MaintenanceReport> {
  return db.withClient(async (client) => ({
    eventLog:
      parts.eventLog !== false && (await hasEventLog(client))
        ? await ensureEventPartitions(client, settings, options)
        : { status: 'skipped', changes: [], attempts: 0 },
    vectorIndexes:
      parts.vectorIndexes !== false &&
      settings.storage.postgres.vector_embeddings.enabled &&
      (await hasVectorTables(client))
        ? {
            ...(await maintainTenantIndexes(client, settings, { dryRun: options.dryRun === true })),
            rebuilt: await maintainVchordrqIndexes(client, {
              dryRun: options.dryRun === true,
              lockTimeoutMs: options.lockTimeoutMs ?? settings.storage.postgres.maintenance_lock_timeout_secs * 1000,
            }),
          }
        : { status: 'skipped', changes: [], indexes: 0, rebuilt: [] },
  }));
}
