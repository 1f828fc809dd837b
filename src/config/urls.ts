import { parse as parseConnectionString } from 'pg-connection-string';
import { ConfigError } from '../errors.js';
import { redactConnectionString } from './redact.js';

/**
 * Checks that a URL is one `pg` can use, naming the key in the error (never the password).
 * Returns the URL unchanged.
 */
export function checkPostgresUrl(url: string | undefined, key = 'storage.postgres.url'): string {
  if (!url) {
    throw new ConfigError('CONFIG_INVALID', `${key} is not set, and storage.backend is postgres`, {
      issues: [{ key, message: 'required when storage.backend = postgres' }],
      hint: `Set it, for example: llmspell config set ${key} "postgresql://USER:PASSWORD@HOST:5432/DATABASE" (or export LLMSPELL_STORAGE_POSTGRES_URL).`,
    });
  }
  const bad = (why: string) =>
    new ConfigError(
      'CONFIG_INVALID',
      `${key} is not a usable connection URL (${why}): ${redactConnectionString(url)}`,
      {
        issues: [{ key, message: why }],
        hint: 'Expected a URL like this example: postgresql://USER:PASSWORD@HOST:PORT/DATABASE?PARAMS (percent-encode special characters in the password).',
      },
    );
  if (!/^postgres(ql)?:\/\//i.test(url)) throw bad('it must start with postgresql://');
  try {
    const parsed = parseConnectionString(url);
    if (!parsed.host && !parsed.database) throw bad('no host and no database');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw bad((error as Error).message);
  }
  return url;
}
