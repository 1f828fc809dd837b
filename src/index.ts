/**
 * llmspell: the PostgreSQL storage layer of an LLM-agent framework, as a library. This is the whole
 * public surface; everything else in the package is internal and may change.
 *
 * @example
 * import { loadSettings, openStorage } from 'llmspell';
 * const { settings } = await loadSettings();
 * const storage = await openStorage(settings);
 * try {
 *   await storage.tenant('acme').agentState.put('planner', { step: 1 });
 * } finally {
 *   await storage.close();
 * }
 */

// Configuration: one validated `Settings` object from file, environment and overrides.
export {
  /** Reads the config file, the `LLMSPELL_*` environment and overrides into validated `Settings` (every problem reported at once). */
  loadSettings,
  type LoadOptions,
  type KeyOverride,
  type ResolvedConfig,
} from './config/load.js';
export {
  /** Sets one key in the config file, keeping its comments and layout; atomic, and nothing written on error. */
  setConfigValue,
  /** Removes one key from the config file. */
  unsetConfigValue,
  type EditOptions,
  type EditResult,
} from './config/edit.js';
export {
  /** Checks a config file and the environment without opening anything; returns every issue. */
  validateConfig,
  type ValidationReport,
} from './config/validate.js';
export {
  /** Every configuration key: its path, type, default, environment variable and meaning. */
  CONFIG_KEYS,
  type KeySpec,
} from './config/keys.js';
export {
  /** A connection string with its password masked, safe to log. */
  redactConnectionString,
} from './config/redact.js';
export type { Settings, StorageBackend } from './config/schema.js';

// The storage layer and the database under it.
export {
  /** Opens the storage layer; with `auto_migrate` it migrates and maintains first. */
  openStorage,
  type OpenStorageOptions,
  type Storage,
} from './storage/open-storage.js';
export {
  /** Opens the configured database (embedded PGlite, memory, or a PostgreSQL pool) behind one interface. */
  openDatabase,
  type OpenDatabaseOptions,
} from './db/open.js';
export {
  /** The application role row-level security binds (`llmspell_app`). */
  APP_ROLE,
  /** The setting every tenant policy compares `tenant_id` with (`app.current_tenant_id`). */
  TENANT_SETTING,
} from './db/tenant.js';
export type { Database, DriverKind, PoolStats, Queryable, ScopeOptions, TenantOptions } from './db/types.js';

// Migrations, health and maintenance: what the CLI's `database` commands do, as functions.
export {
  /** Applies pending migrations (each in its own transaction, safe with concurrent migrators). */
  migrate,
  /** Rolls back migrations above a version, newest first. */
  rollback,
  type MigrateOptions,
  type RollbackOptions,
  type MigrationRunResult,
  type MigrationStep,
  type MigrationProgress,
} from './migrate/run.js';
export {
  /** Compares the migration files with what a database applied (read-only). */
  migrationStatus,
  type MigrationStatus,
  type MigrationStatusEntry,
  type MigrationState,
} from './migrate/status.js';
export {
  /** The options `migrate`/`rollback`/`migrationStatus` need from the settings. */
  migrationOptions,
  /** Opens the database migrations run on (`migration_url`, else `url`). */
  openMigrationDatabase,
} from './migrate/connect.js';
export {
  /** Runs every health check within a time bound; returns a report, never throws for a finding. */
  healthCheck,
  type HealthReport,
  type HealthStatus,
  type HealthCheckOptions,
} from './health/health-check.js';
export type { CheckResult, CheckStatus } from './health/checks.js';
export {
  /** Maintenance (event-log partitions): bounded, reports `busy` rather than stalling traffic. */
  maintain,
  type MaintenanceReport,
} from './maintenance/maintain.js';
export type { EventLogMaintenance, PartitionChange } from './storage/modules/events/partitions.js';
export type { TenantIndexChange, TenantIndexMaintenance } from './storage/modules/vectors/tenant-indexes.js';

// Errors: every error llmspell throws on purpose is an LlmspellError with a stable `code`.
export {
  /** The base class: `code` (stable), `message`, `hint` (what to do next). */
  LlmspellError,
  /** A configuration problem, with every issue and where its value came from. */
  ConfigError,
  type ErrorCode,
  type ConfigIssue,
} from './errors.js';
export {
  /** A database failure, keeping the server's SQLSTATE, detail and hint. */
  DatabaseError,
  type PostgresErrorFields,
} from './db/errors.js';
export {
  /** A failed migration: track, file, line, statement and SQLSTATE. */
  MigrationError,
} from './migrate/run.js';
export {
  /** An error of a storage module: NOT_FOUND, CONFLICT, INVALID_INPUT (with the field) or INVALID_TRANSITION. */
  StorageError,
  type StorageErrorCode,
  type StorageErrorDetails,
} from './storage/mechanism/errors.js';

// The storage modules: what `storage.tenant(id)` holds, and their types.
export type { CallOptions, Component } from './storage/mechanism/module.js';
export type { ErasedTable, ErasureReceipt, ForgetTenantOptions } from './storage/mechanism/erasure.js';
export type { StatementEvent, StatementObserver } from './storage/mechanism/tenant-transaction.js';
export type { ModuleId, TenantStores } from './storage/registry.js';
export type { Page } from './storage/kit/cursor.js';
export type { TimeRange } from './storage/values/codecs.js';
export {
  /** A `Date` that keeps microseconds: every timestamp the storage modules return is one. */
  PreciseDate,
} from './storage/values/codecs.js';
export type {
  AgentState,
  AgentStateListOptions,
  AgentStateStore,
  AgentStateWriteOptions,
} from './storage/modules/agent-state/index.js';
export {
  /** The workflow statuses, and where each may go (`workflows.transition`). */
  WORKFLOW_STATUSES,
  WORKFLOW_TRANSITIONS,
  type NewWorkflow,
  type TransitionOptions,
  type Workflow,
  type WorkflowListOptions,
  type WorkflowStatus,
  type WorkflowStore,
  type WorkflowUpdate,
  type WorkflowUpdateOptions,
} from './storage/modules/workflows/index.js';
export {
  /** The session statuses, and where each may go (`sessions.update`, `archive`, `expire`). */
  SESSION_STATUSES,
  SESSION_TRANSITIONS,
  type NewSession,
  type Session,
  type SessionListOptions,
  type SessionStatus,
  type SessionStore,
  type SessionUpdate,
} from './storage/modules/sessions/index.js';
export type {
  Pattern,
  ProceduralStore,
  PruneOptions,
  RecordOptions,
  TopOptions,
} from './storage/modules/procedural/index.js';
export {
  /** The vector lengths there is a table for: 384, 768, 1536, 3072. */
  VECTOR_DIMENSIONS,
  type DimensionStats,
  type SearchOptions,
  type SearchResult,
  type SearchRoute,
  type StoredVector,
  type VectorDimension,
  type VectorEntry,
  type UpsertOptions,
  type VectorHit,
  type VectorIndexKind,
  type VectorRecord,
  type VectorSelection,
  type VectorStats,
  type VectorStore,
} from './storage/modules/vectors/index.js';
export type { MetadataFilter } from './storage/kit/metadata-filter.js';
export type {
  AppendedEvent,
  AppendOptions,
  AppendResult,
  EventRangeOptions,
  EventReadOptions,
  EventReadResult,
  EventStore,
  ExpectedVersion,
  NewEvent,
  EventStreamOptions,
  StoredEvent,
  StreamPage,
} from './storage/modules/events/index.js';
