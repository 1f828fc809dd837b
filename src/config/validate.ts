import { existsSync } from 'node:fs';
import { checkPostgresUrl } from './urls.js';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { loadSettings, type LoadOptions, type ResolvedConfig } from './load.js';
import { resolveConfigFile } from './paths.js';

/** What `config validate` found. */
export interface ValidationReport {
  valid: boolean;
  file: { path: string; exists: boolean };
  /** Every problem, each with its key and where the value came from. */
  issues: ConfigIssue[];
  warnings: string[];
}

/** Problems that parse fine but stop the database commands, e.g. `backend = "postgres"` without a URL. */
function readinessIssues({ settings, origins }: ResolvedConfig): ConfigIssue[] {
  const storage = settings.storage;
  const usesPostgres = [storage.backend, storage.memory.backend, storage.state.backend].includes('postgres');
  if (!usesPostgres) return [];
  try {
    checkPostgresUrl(storage.postgres.url);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const origin = origins.get('storage.postgres.url');
    return error.issues.map((issue) => ({ ...issue, ...(origin ? { origin } : {}) }));
  }
}

/**
 * Checks the whole configuration (file, environment, flags) and returns every problem instead of
 * throwing on the first: unknown keys, wrong types, out-of-range values, a missing URL.
 */
export async function validateConfig(options: LoadOptions = {}): Promise<ValidationReport> {
  const location = resolveConfigFile(options.env ?? process.env, options.configPath);
  try {
    const resolved = await loadSettings(options);
    const issues = readinessIssues(resolved);
    return {
      valid: issues.length === 0,
      file: { path: resolved.file.path, exists: resolved.file.exists },
      issues,
      warnings: resolved.warnings,
    };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const issues = error.issues.length > 0 ? error.issues : [{ key: '', message: error.message }];
    return { valid: false, file: { path: location.path, exists: existsSync(location.path) }, issues, warnings: [] };
  }
}
