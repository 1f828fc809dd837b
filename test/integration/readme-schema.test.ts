import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replaceSection, schemaReference } from '../helpers/readme-sections.js';
import { migratedPglite, type MigratedDatabase } from '../helpers/schema.js';

const README = new URL('../../README.md', import.meta.url);

describe('README schema section', () => {
  let m: MigratedDatabase;
  beforeAll(async () => {
    m = await migratedPglite();
  });
  afterAll(() => m?.dispose());

  it('matches the catalog of a fully migrated database', async () => {
    const readme = await readFile(README, 'utf8');
    const expected = replaceSection(
      readme,
      'schema-reference',
      await schemaReference(m.db),
      'test/integration/readme-schema.test.ts',
    );
    if (process.env.UPDATE_README === '1' && expected !== readme) await writeFile(README, expected);
    else expect(readme).toBe(expected);
  });
});
