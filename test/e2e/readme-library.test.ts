/**
 * The README's library examples are one program: this runs it as written, with `node`, importing
 * `llmspell` by name (the built package, as a user's project would), on the memory backend in a
 * private HOME, and checks what it prints against the comments beside each `console.log`.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README = await readFile(join(ROOT, 'README.md'), 'utf8');

/** The code blocks after each `<!-- example: library -->` marker, in order. */
function libraryExample(): string {
  const blocks = [...README.matchAll(/<!-- example: library -->\n```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
  if (blocks.length === 0) throw new Error('README.md has no <!-- example: library --> blocks');
  return blocks.join('\n');
}

/** What the comments say each `console.log(…); // expected` prints. */
function expectedOutput(program: string): string[] {
  return [...program.matchAll(/console\.log\(.*\); \/\/ (.+?)(?::.*)?$/gm)].map((m) => m[1]!.trim());
}

it('runs the README library examples as written', async () => {
  const home = await mkdtemp(join(tmpdir(), 'llmspell-readme-'));
  try {
    await mkdir(join(home, 'node_modules'));
    await symlink(ROOT, join(home, 'node_modules', 'llmspell'), 'dir');
    const program = libraryExample();
    await writeFile(join(home, 'example.mjs'), program);
    const { stdout } = await promisify(execFile)(process.execPath, ['example.mjs'], {
      cwd: home,
      env: {
        PATH: process.env.PATH,
        HOME: home,
        XDG_CONFIG_HOME: join(home, '.config'),
        LLMSPELL_STORAGE_BACKEND: 'memory',
      },
      timeout: 90_000,
    });
    const expected = expectedOutput(program);
    expect(expected.length).toBeGreaterThanOrEqual(4);
    expect(stdout.trim().split('\n')).toEqual(expected);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}, 120_000);
