import { existsSync } from 'node:fs';
import { checkPostgresUrl } from './urls.js';
import { ConfigError, describeOrigin, type ConfigIssue } from '../errors.js';
import { loadSettings, type LoadOptions, type ResolvedConfig } from './load.js';
import { resolveConfigFile, type Env } from './paths.js';

/** What `config validate` found. */
export interface ValidationReport {
  valid: boolean;
  file: { path: string; exists: boolean };
  /** Every problem, each with its key and where the value came from. */
  issues: ConfigIssue[];
  warnings: string[];
}

/**
 * Problems that parse fine but stop the database commands, e.g. `backend = "postgres"` without a
 * URL, or a `PGSSLMODE` that is not an sslmode.
 */
function readinessIssues({ settings, origins }: ResolvedConfig, env: Env): ConfigIssue[] {
  const storage = settings.storage;
  const usesPostgres = [storage.backend, storage.memory.backend, storage.state.backend].includes('postgres');
  if (!usesPostgres) return [];
  const origin = origins.get('storage.postgres.url');
  try {
    checkPostgresUrl(storage.postgres.url, 'storage.postgres.url', {
      env,
      ...(origin && origin.kind !== 'default' ? { origin: describeOrigin(origin) } : {}),
    });
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
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
    const issues = readinessIssues(resolved, options.env ?? process.env);
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
