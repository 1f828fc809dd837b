/**
 * The published declarations (dist/**\/*.d.ts) compile in a consumer's strict project with
 * `skipLibCheck: false`: every package they import is a dependency of llmspell that brings its own
 * types, or whose `@types` package is a dependency too (a dev dependency is not installed for a
 * consumer: `pg`'s types were one, and a consumer got TS7016). Checked against the built dist/ and
 * the installed packages' manifests; a clean consumer install was also tried by hand
 * (npm pack, then tsc --noEmit with skipLibCheck false).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;

async function declarationFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files = await Promise.all(
    entries.map((entry) =>
      entry.isDirectory()
        ? declarationFiles(join(dir, entry.name))
        : Promise.resolve(entry.name.endsWith('.d.ts') ? [join(dir, entry.name)] : []),
    ),
  );
  return files.flat();
}

/** The package a bare module specifier names (`pg`, `zod/mini` → `zod`, `@scope/name/x` → `@scope/name`). */
const packageOf = (specifier: string) =>
  specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;

describe('the published type declarations', () => {
  it('import only packages a consumer installs with their types', async () => {
    const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const imported = new Set<string>();
    for (const file of await declarationFiles(join(ROOT, 'dist'))) {
      const text = (await readFile(file, 'utf8')).replace(/\/\*[\s\S]*?\*\//g, '');
      for (const [, specifier] of text.matchAll(/(?:from|import\()\s*'([^'.][^']*)'/g)) {
        if (!specifier!.startsWith('node:')) imported.add(packageOf(specifier!));
      }
    }
    expect(imported.size).toBeGreaterThan(0);
    const problems: string[] = [];
    for (const name of [...imported].sort()) {
      if (!(name in manifest.dependencies)) {
        problems.push(`${name} is not a dependency`);
        continue;
      }
      const own = JSON.parse(await readFile(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
        types?: string;
        typings?: string;
        exports?: unknown;
      };
      // Types in the manifest, or an index.d.ts beside the main file (postgres-range's way).
      const bundled =
        own.types !== undefined ||
        own.typings !== undefined ||
        JSON.stringify(own.exports ?? {}).includes('"types"') ||
        (await readFile(join(ROOT, 'node_modules', name, 'index.d.ts')).then(
          () => true,
          () => false,
        ));
      const typesPackage = `@types/${name.replace(/^@/, '').replace('/', '__')}`;
      if (!bundled && !(typesPackage in manifest.dependencies))
        problems.push(`${name}: neither its own types nor ${typesPackage} as a dependency`);
    }
    expect(problems).toEqual([]);
  });
});
