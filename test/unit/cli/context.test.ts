import { describe, expect, it } from 'vitest';
import { secretsToScrub } from '../../../src/cli/context.js';

describe('secretsToScrub', () => {
  it('collects the passwords of every secret env var, DATABASE_URL, the arguments and the loaded settings', () => {
    const env = {
      LLMSPELL_STORAGE_POSTGRES_URL: 'postgresql://a:from-env-url@h/db',
      LLMSPELL_STORAGE_POSTGRES_MIGRATION_URL: 'postgresql://a:from-env-migration@h/db',
      DATABASE_URL: 'postgresql://a:from-database-url@h/db',
      LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: 'postgresql://a:not-a-secret-key@h/db',
    };
    const settings = { storage: { postgres: { url: 'postgresql://a:from-file@h/db', migration_url: undefined } } };
    const found = secretsToScrub(env, ['--database-url', 'postgresql://a:from-argv@h/db', undefined], settings);
    expect(found.sort()).toEqual(['from-argv', 'from-database-url', 'from-env-migration', 'from-env-url', 'from-file']);
  });

  it('is empty when nothing holds a password', () => {
    expect(secretsToScrub({ HOME: '/home/u' }, ['config', 'get'])).toEqual([]);
  });
});
