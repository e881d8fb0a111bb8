import { defineConfig } from 'vitest/config';

// Unit tests only (Node environment); e2e specs run under Playwright, Python tests under pytest.
export default defineConfig({
  test: {
    include: ['tests/unit/**/*.test.ts'],
    environment: 'node',
    // The CLI tests spawn a Node process each (3-4 s alone); on a loaded 2-core machine the default 5 s
    // failed them at random. A limit, not a timing: speed is measured in benchmarks.
    testTimeout: 60_000,
  },
});
