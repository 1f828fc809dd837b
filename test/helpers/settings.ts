import { settingsSchema, type Settings } from '../../src/config/schema.js';

/** Overrides for {@link testSettings}: the storage keys tests most often change. */
export interface TestSettingsInput {
  backend?: 'embedded' | 'memory' | 'postgres';
  url?: string;
  embeddedPath?: string;
  postgres?: Record<string, unknown>;
}

/** Fully defaulted settings built through the real schema, as `loadSettings` would return them. */
export function testSettings(input: TestSettingsInput = {}): Settings {
  return settingsSchema.parse({
    storage: {
      backend: input.backend ?? 'memory',
      ...(input.embeddedPath ? { embedded: { path: input.embeddedPath } } : {}),
      postgres: { ...(input.url ? { url: input.url } : {}), ...input.postgres },
    },
  }) as Settings;
}
