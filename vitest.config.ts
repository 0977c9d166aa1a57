import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 180_000,
    // Lab suites share one QEMU guest per file; files run in parallel on separate workers.
    fileParallelism: true,
  },
});
