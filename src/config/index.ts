export {
  loadSettings,
  configDocumentIssues,
  validateConfigDocument,
  type KeyOverride,
  type LoadOptions,
  type ResolvedConfig,
} from './load.js';
export { setConfigValue, unsetConfigValue, type EditOptions, type EditResult } from './edit.js';
export { validateConfig, type ValidationReport } from './validate.js';
export { CONFIG_KEYS, CONFIG_TABLES, describeExpected, findKey, isTable, suggestKey, type KeySpec } from './keys.js';
export { resolveConfigFile, defaultEmbeddedDataDir, type ConfigFileLocation, type Env } from './paths.js';
export { redactConnectionString, redactConnectionStringsIn, passwordsIn, scrubSecrets, REDACTED } from './redact.js';
export { checkPostgresUrl } from './urls.js';
export { settingsSchema, type Settings, type StorageBackend } from './schema.js';
