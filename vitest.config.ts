import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    benchmark: { include: ['bench/**/*.bench.ts'] },
    // One PostgreSQL server per major (LLMSPELL_TEST_PG_MAJORS) with an empty and a migrated
    // template, and the PGlite snapshots: see test/helpers/global-setup.ts.
    globalSetup: ['test/helpers/global-setup.ts'],
    // Each integration file gets its own database (a template clone, or PGlite from a snapshot), so
    // files run in parallel. Vitest's default (cores − 1) is a single worker on the 2-core machines
    // this runs on, although much of a file's time is spent waiting on the servers (other
    // processes): one worker per core took the suite from 164 s to 122 s here; three workers were
    // about as fast (117 s) but made wall-clock assertions (the 5 MB statement-splitter test)
    // flaky. The generous timeouts are for PGlite start-up under that load.
    maxWorkers: availableParallelism(),
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
