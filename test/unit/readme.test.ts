import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { configReference, replaceSection } from '../helpers/readme-sections.js';

const README = new URL('../../README.md', import.meta.url);

describe('README', () => {
  it('documents every config key exactly as the schema declares it', async () => {
    const readme = await readFile(README, 'utf8');
    const expected = replaceSection(readme, 'config-reference', configReference());
    if (process.env.UPDATE_README === '1' && expected !== readme) await writeFile(README, expected);
    else expect(readme).toBe(expected);
  });

  it('documents every exit status', async () => {
    const readme = await readFile(README, 'utf8');
    for (const [name, code] of Object.entries(EXIT)) {
      expect(readme, `exit status ${name}`).toMatch(new RegExp(`^\\| ${code} \\| \`${name}\` \\|`, 'm'));
    }
  });

  it('keeps the two-step quick start and the test command', async () => {
    const readme = await readFile(README, 'utf8');
    expect(readme).toContain('npm install\nnpx llmspell database migrate');
    expect(readme).toContain('npm test');
  });
});
