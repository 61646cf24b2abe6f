import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['services/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    // Two cores: keep worker count modest so CLI tests that spawn processes stay fast.
    maxWorkers: 2,
  },
});
