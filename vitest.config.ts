import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/gpu/**', 'node_modules/**'],
    globalSetup: ['test/setup/prebuild.ts'],
    testTimeout: 60_000,
    hookTimeout: 300_000,
  },
});
