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
              // Test-only secrets, the same values test/unit/admin/support/harness.ts uses (the coordinator reads AGENT_KEYS).
              bindings: {
                DEBUG_HEADERS: 'on',
                EDGEWAY_ENV: 'test',
                // Traffic metrics in 1 s buckets, flushed every second, so rollout tests run in seconds.
                METRICS_BUCKET_SECONDS: '1',
                METRICS_FLUSH_SECONDS: '1',
                ADMIN_TOKEN: 'test-admin-token-0123456789abcdef',
                AGENT_KEYS: JSON.stringify({
                  'aws-use1': 'secret-aws-use1-0123456789abcdef',
                  'gcp-euw1': 'secret-gcp-euw1-0123456789abcdef',
                  'azure-weu': 'secret-azure-weu-0123456789abcde',
                }),
              },
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
