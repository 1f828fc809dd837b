/**
 * The README's "JSON output" table is the contract of `--json`: this runs every row (on the
 * memory backend, in a private HOME) and checks the document's top-level fields against it.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS } from '../../src/config/keys.js';
import { JSON_FORMAT_VERSION } from '../../src/cli/output.js';
import { useCliSandbox } from '../helpers/cli.js';

const README = await readFile(new URL('../../README.md', import.meta.url), 'utf8');

/** The rows of the table under "### JSON output": the command, and its fields (`?` = optional). */
function documentedShapes(): Array<{ command: string; required: string[]; optional: string[] }> {
  const start = README.indexOf('### JSON output');
  const section = README.slice(start, README.indexOf('\n## ', start));
  return [...section.matchAll(/^\| (.+?) \| (.+?) \|$/gm)]
    .filter(([, command]) => command !== 'command' && !command!.startsWith('---'))
    .map(([, command, fields]) => {
      // Backticked names outside parentheses are fields; those inside explain them.
      const names = [...fields!.replace(/\([^)]*\)/g, '').matchAll(/`([A-Za-z_.]+\??)`/g)].map((m) => m[1]!);
      return {
        command: command!.replace(/`/g, ''),
        required: names.filter((n) => !n.endsWith('?')),
        optional: names.filter((n) => n.endsWith('?')).map((n) => n.slice(0, -1)),
      };
    });
}

/** The arguments a row stands for: placeholders filled in, a failing command for the error row. */
function argvOf(command: string): string[] {
  if (command === 'any command that fails') return ['config', 'get', 'storage.nope'];
  return command.split(' ').map((word) => ({ KEY: 'storage.postgres.pool_size', VALUE: '8', V: '0' })[word] ?? word);
}

const sandbox = useCliSandbox('llmspell-test-json-');
const shapes = documentedShapes();

describe('--json documents match the README', () => {
  it('documents every command', () => {
    const commands = new Set(shapes.map((s) => s.command.split(' ').slice(0, 2).join(' ')));
    for (const command of [
      'database migrate',
      'database rollback',
      'database migration-status',
      'database health-check',
      'database maintain',
      'config get',
      'config set',
      'config unset',
      'config validate',
      'config path',
    ]) {
      expect(commands, command).toContain(command);
    }
  });

  it.each(shapes.map((shape) => [shape.command, shape] as const))('%s', async (command, shape) => {
    // Maintenance needs the event log: migrate an embedded database first; the rest run on memory.
    const maintains = command.startsWith('database maintain');
    if (maintains) expect((await sandbox.run(['database', 'migrate'])).code).toBe(0);
    const run = await sandbox.run(['--json', ...(maintains ? [] : ['--backend', 'memory']), ...argvOf(command)]);
    const document = JSON.parse(run.stdout) as Record<string, unknown>;
    const [first, ...fields] = Object.keys(document);
    expect(first).toBe('format_version');
    expect(document.format_version).toBe(JSON_FORMAT_VERSION);
    if (command === 'config get --show-origin') {
      expect(fields.sort()).toEqual(CONFIG_KEYS.map((spec) => spec.key).sort());
      return;
    }
    expect(fields.filter((field) => !shape.optional.includes(field)).sort()).toEqual([...shape.required].sort());
    if (command === 'any command that fails') expect(run.code).toBe(2);
    // A target is a path or URL a script can use, never prose such as "(not created yet)".
    if ('target' in document) expect(document.target).toMatch(/^(\/\S*|memory)$/);
  });
});
