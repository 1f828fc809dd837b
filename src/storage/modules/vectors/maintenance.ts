import { moduleMaintenance } from '../../mechanism/module.js';
import { hasVectorTables, maintainTenantIndexes } from './tenant-indexes.js';
import { maintainVchordrqIndexes } from './vchordrq-indexes.js';

/** The report of a run that passed the vector indexes over. */
const skipped = () => ({ status: 'skipped' as const, changes: [] as [], indexes: 0 as const, rebuilt: [] as [] });

/**
 * The vector indexes' maintenance (`vectorIndexes` of the report): the partial indexes of large
 * tenants ({@link maintainTenantIndexes}) and, on VectorChord, the lists of each table's index
 * ({@link maintainVchordrqIndexes}); skipped while the vector track is disabled or has no tables.
 */
export const vectorIndexMaintenance = moduleMaintenance({
  key: 'vectorIndexes',
  run: async (client, settings, options) =>
    settings.storage.postgres.vector_embeddings.enabled && (await hasVectorTables(client))
      ? {
          ...(await maintainTenantIndexes(client, settings, { dryRun: options.dryRun === true })),
          rebuilt: await maintainVchordrqIndexes(client, {
            dryRun: options.dryRun === true,
            lockTimeoutMs: options.lockTimeoutMs ?? settings.storage.postgres.maintenance_lock_timeout_secs * 1000,
          }),
        }
      : skipped(),
  skipped: skipped(),
});
