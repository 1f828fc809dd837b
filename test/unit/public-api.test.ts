import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import * as llmspell from '../../src/index.js';

/**
 * The library's runtime surface, pinned: what a library user needs and nothing internal. Adding to
 * it is a decision (and a README entry), not a side effect of an `export *`.
 */
const PUBLIC = [
  'APP_ROLE',
  'CONFIG_KEYS',
  'ConfigError',
  'DatabaseError',
  'LlmspellError',
  'MigrationError',
  'PreciseDate',
  'SESSION_STATUSES',
  'SESSION_TRANSITIONS',
  'StorageError',
  'TENANT_SETTING',
  'VECTOR_DIMENSIONS',
  'WORKFLOW_STATUSES',
  'WORKFLOW_TRANSITIONS',
  'healthCheck',
  'loadSettings',
  'maintain',
  'migrate',
  'migrationOptions',
  'migrationStatus',
  'openDatabase',
  'openMigrationDatabase',
  'openStorage',
  'redactConnectionString',
  'rollback',
  'setConfigValue',
  'unsetConfigValue',
  'validateConfig',
];

describe('the public API (src/index.ts)', () => {
  it('exports exactly the documented runtime names', () => {
    expect(Object.keys(llmspell).sort()).toEqual([...PUBLIC].sort());
  });

  it('is as large as the README says', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme.replace(/\s+/g, ' ')).toContain(`lists the whole public API (${PUBLIC.length} run-time names`);
  });

  it('every exported error class is an LlmspellError with a code', () => {
    for (const ErrorClass of [llmspell.ConfigError, llmspell.DatabaseError]) {
      const error = new ErrorClass('USAGE', 'x');
      expect(error).toBeInstanceOf(llmspell.LlmspellError);
      expect(error.code).toBe('USAGE');
    }
  });
});
