// Bundles the CLI (dist/cli/main.js, compiled by tsc) into dist/bin/: one entry file plus chunks
// for what loads on demand (the database commands, write-file-atomic). A command then loads a
// handful of files instead of hundreds (zod alone is over 90 modules), which is most of its
// start-up time (bench/cli-start). Packages that read files beside themselves at run time stay
// external: PGlite and its extensions (WASM, data bundles), toml-edit (WASM), pg and
// node-pg-migrate. redos-detector is not bundled either: src/config/schema.ts requires it from
// node_modules only when a tenant id pattern needs its analysis.
import { chmod, rm } from 'node:fs/promises';
import { build } from 'esbuild';

await rm('dist/bin', { recursive: true, force: true }); // no chunks of an earlier build left behind
const result = await build({
  entryPoints: { llmspell: 'dist/cli/main.js' },
  outdir: 'dist/bin',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@electric-sql/*', '@rainbowatcher/toml-edit-js', 'pg', 'pg-native', 'node-pg-migrate', 'pgpass'],
  // CommonJS dependencies bundled into ESM still use require(), __filename and __dirname.
  banner: {
    js: [
      "import { createRequire as __llmspellRequire } from 'node:module';",
      "import { fileURLToPath as __llmspellPath } from 'node:url';",
      "import { dirname as __llmspellDirname } from 'node:path';",
      'const require = __llmspellRequire(import.meta.url);',
      'const __filename = __llmspellPath(import.meta.url);',
      'const __dirname = __llmspellDirname(__filename);',
    ].join(' '),
  },
  minify: true,
  keepNames: true, // error names and stack traces stay readable
  logLevel: 'warning',
  metafile: true,
});
await chmod('dist/bin/llmspell.js', 0o755);
const bytes = Object.values(result.metafile.outputs).reduce((sum, output) => sum + output.bytes, 0);
console.log(
  `bundled the CLI into dist/bin/ (${Object.keys(result.metafile.outputs).length} files, ${Math.round(bytes / 1024)} KiB)`,
);
