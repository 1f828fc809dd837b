export { migrate, rollback, type MigrateOptions, type RollbackOptions, type MigrationRunResult, type MigrationStep, type MigrationProgress, type MigrationLimits } from './run.js';
export { migrationStatus, compareMigrations, type MigrationStatus, type MigrationStatusEntry, type MigrationState } from './status.js';
export { loadMigrationFiles, DEFAULT_MIGRATIONS_DIR, type MigrationFile } from './catalog.js';
export { openMigrationDatabase, migrationLimits, looksLikePooler } from './connect.js';
export { MIGRATION_LOCK_KEY } from './lock.js';
export { MIGRATIONS_SCHEMA, HISTORY_TABLE, LEDGER_TABLE } from './history.js';
