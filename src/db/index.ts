export { openDatabase, embeddedDataDir, embeddedDatabaseExists, type OpenDatabaseOptions } from './open.js';
export { DatabaseError, toDatabaseError, type PostgresErrorFields } from './errors.js';
export { APP_ROLE, TENANT_SETTING, tenantIdValidator } from './tenant.js';
export type { OpenProgress } from './pglite-source.js';
export type { Database, DriverKind, PoolStats, Queryable } from './types.js';
