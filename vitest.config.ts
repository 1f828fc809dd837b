import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    benchmark: { include: ['bench/**/*.bench.ts'] },
    globalSetup: ['test/helpers/global-setup.ts'],
    // Each integration file gets its own database (or PGlite instance), so files run in parallel;
    // the 2-core machines this runs on make PGlite start-up the long pole, hence the generous timeouts.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
