import { defineConfig } from 'vitest/config';

// Unit tests only (Node environment); e2e specs run under Playwright, Python tests under pytest.
export default defineConfig({
  test: {
    include: ['tests/unit/**/*.test.ts'],
    environment: 'node',
  },
});
