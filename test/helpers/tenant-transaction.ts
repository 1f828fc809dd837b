import type { Database } from '../../src/db/types.js';
import { TenantTransaction } from '../../src/storage/mechanism/tenant-transaction.js';

/**
 * Runs `work` with a tenant handle over `db.withTenant(tenant)`: the mechanism's handle without a
 * storage around it, for tests of statements the modules do not have. A transaction of several
 * statements; `maxDocumentBytes` 1 MiB unless given.
 */
export function inTenantTransaction<T>(
  db: Database,
  work: (tx: TenantTransaction) => Promise<T>,
  options: { tenant?: string; maxDocumentBytes?: number } = {},
): Promise<T> {
  const tenant = options.tenant ?? 'acme';
  return db.withTenant(tenant, async (client) => {
    const tx = new TenantTransaction(
      client,
      tenant,
      { maxDocumentBytes: options.maxDocumentBytes ?? 1 << 20 },
      { target: db.target, singleStatement: false, pipelines: db.pipelines },
    );
    try {
      return await work(tx);
    } finally {
      tx.revoke();
    }
  });
}
