/**
 * llmspell: the PostgreSQL storage layer of an LLM-agent framework, as a library.
 *
 * @example
 * import { loadSettings, openDatabase } from 'llmspell';
 * const { settings } = await loadSettings();
 * const db = await openDatabase(settings);
 */
export * from './config/index.js';
export * from './db/index.js';
export {
  LlmspellError,
  ConfigError,
  describeOrigin,
  formatConfigIssue,
  type ErrorCode,
  type ConfigIssue,
  type Origin,
} from './errors.js';
export * from './migrate/index.js';
export * from './health/index.js';
export * from './storage/index.js';
export * from './maintenance/index.js';
