export {
  migrate,
  rollback,
  MigrationError,
  type MigrateOptions,
  type RollbackOptions,
  type MigrationRunResult,
  type MigrationStep,
  type MigrationProgress,
  type MigrationLimits,
  type MigrationSource,
} from './run.js';
export {
  migrationStatus,
  compareTrack,
  type MigrationStatus,
  type MigrationStatusEntry,
  type MigrationState,
} from './status.js';
export { loadMigrationFiles, DEFAULT_MIGRATIONS_DIR, type MigrationFile, type MigrationTrack } from './catalog.js';
export { openMigrationDatabase, migrationLimits, migrationSource } from './connect.js';
export { MIGRATION_LOCK_KEY } from './lock.js';
export { MIGRATIONS_SCHEMA, LEDGER_TABLE, historyTable } from './history.js';
