/** Two projects: pure modules in Node, Worker behaviour inside workerd through @cloudflare/vitest-plugin. */
import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';
import { resolveOverrideOutbound } from './src/dev/outbound.js';

export default defineConfig({
  test: {
    // Every proxied request logs a JSON line; keep the output of passing tests quiet.
    silent: 'passed-only',
    projects: [
      {
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node' },
      },
      {
        plugins: [
          cloudflareTest({
            main: './src/index.ts',
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              outboundService: resolveOverrideOutbound({ allowHost: (h) => h === '127.0.0.1' || h === 'localhost' }),
              bindings: { DEBUG_HEADERS: 'on', EDGEWAY_ENV: 'test' },
            },
          }),
        ],
        test: {
          name: 'workers',
          include: ['test/workers/**/*.test.ts'],
          globalSetup: ['./test/support/global-setup.ts'],
          testTimeout: 20_000,
        },
      },
    ],
  },
});
