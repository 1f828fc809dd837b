/**
 * What a health check is: the shape every check of `database health-check` has, the core ones
 * (`checks.ts`) and those a storage module declares (its owner face's `health`).
 */
import type { Settings } from '../config/schema.js';
import type { Database, Queryable } from '../db/types.js';
import type { MigrationTrack } from '../migrate/catalog.js';

/** Outcome of one check: ok, a warning (`--strict` fails on it), a failure, or not applicable. */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

/** One line of `database health-check`. */
export interface CheckResult {
  /** Stable id, e.g. `connection`, `pgvector`, `rls`. */
  id: string;
  status: CheckStatus;
  /** The line as users read it, with its computed figure: "All 15 migrations applied". */
  summary: string;
  /** What to do about a warning or failure. */
  hint?: string;
  /** Figures behind the summary, for `--json`. */
  data?: Record<string, unknown>;
  /** What a check that could not run threw (`--verbose` prints it: stack, SQLSTATE, detail). */
  error?: unknown;
}

/** What a check may read. */
export interface CheckContext {
  db: Database;
  client: Queryable;
  settings: Settings;
  /** The migration tracks the configuration asks for. */
  tracks: readonly MigrationTrack[];
}

/** A check: reads the database and returns its result; it never throws for a finding. */
export interface Check {
  readonly id: string;
  run(ctx: CheckContext): Promise<CheckResult>;
}

/** A check with id `id`. */
export const check = (id: string, run: Check['run']): Check => ({ id, run });

/** What a vector check says while the vector track is disabled (its `id` set by the check). */
export const VECTORS_DISABLED: CheckResult = {
  id: 'vectors',
  status: 'skip',
  summary: 'Vector embeddings disabled (storage.postgres.vector_embeddings.enabled = false)',
};
