import { settingsSchema, type Settings } from '../../src/config/schema.js';

/** Overrides for {@link testSettings}: the storage keys tests most often change. */
export interface TestSettingsInput {
  backend?: 'embedded' | 'memory' | 'postgres';
  url?: string;
  embeddedPath?: string;
  postgres?: Record<string, unknown>;
}

/**
 * Fully defaulted settings built through the real schema, as `loadSettings` would return them.
 * The URL is set after parsing, unchecked, as a library user who builds `Settings` by hand may
 * set it: so tests reach the checks `openDatabase` makes itself (a malformed URL, an unknown
 * sslmode) instead of the schema's.
 */
export function testSettings(input: TestSettingsInput = {}): Settings {
  const settings = settingsSchema.parse({
    storage: {
      backend: input.backend ?? 'memory',
      ...(input.embeddedPath ? { embedded: { path: input.embeddedPath } } : {}),
      postgres: { ...input.postgres },
    },
  }) as Settings;
  if (input.url) settings.storage.postgres.url = input.url;
  return settings;
}
