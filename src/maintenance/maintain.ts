import type { Settings } from '../config/schema.js';
import type { Database } from '../db/types.js';
import type { EventLogMaintenance, EventPartitionOptions } from '../storage/modules/events/partitions.js';
import type { VchordrqRebuild } from '../storage/modules/vectors/vchordrq-indexes.js';
import type { TenantIndexMaintenance } from '../storage/modules/vectors/tenant-indexes.js';
import { MODULES } from '../storage/registry.js';

/** What one maintenance run did, part by part (each part a module's: see `OwnerFace.maintenance`). */
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

/** The parts of a maintenance run (every one by default), by their key in the report. */
export type MaintenanceParts = { [K in keyof MaintenanceReport]?: boolean };

/** Options of a maintenance run, given to every part. */
export type MaintenanceOptions = EventPartitionOptions;

/**
 * Everything a long-running deployment needs done now and then, as the schema owner: each
 * module's maintenance, in registry order — the event-log partitions, the partial vector indexes
 * of large tenants and, on VectorChord, the lists of each table's index. Idempotent and bounded: a
 * part that meets a lock held too long reports `busy` instead of stalling traffic.
 * `llmspell database maintain` runs it (for cron), `migrate` and `openStorage` with
 * `auto_migrate` after migrating, and `storage.maintain()` on demand.
 */
export async function maintain(
  db: Database,
  settings: Settings,
  options: MaintenanceOptions = {},
  parts: MaintenanceParts = {},
): Promise<MaintenanceReport> {
  return db.withClient(async (client) => {
    const report: Partial<Record<keyof MaintenanceReport, unknown>> = {};
    for (const module of MODULES) {
      const part = module.owner?.maintenance;
      if (!part) continue;
      report[part.key] = parts[part.key] === false ? part.skipped : await part.run(client, settings, options);
    }
    return report as MaintenanceReport;
  });
}
