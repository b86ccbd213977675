/** Lint: typescript-eslint's recommended rules over the TypeScript sources. */
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Node-only code: everything else under src/ is Worker code (tsconfig.worker.json, test/unit/architecture.test.ts keep
 * the same list). Worker code may not import it, Node built-ins or Node-only packages (docs/ENGINEERING.md).
 */
const NODE_ONLY_FILES = ['src/cli/**', 'src/agent/**', 'src/dev/**', 'src/admin/write-openapi.ts'];
const NODE_ONLY_PACKAGES = ['@kubernetes/client-node', 'prom-client', 'miniflare', 'wrangler'];

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.wrangler/', 'kv-seed/', 'schema/', 'docs/', 'coverage/', '.bench-tmp/', 'charts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        console: 'readonly',
        process: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        fetch: 'readonly',
        Response: 'readonly',
        Request: 'readonly',
        Headers: 'readonly',
        crypto: 'readonly',
        performance: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        AbortSignal: 'readonly',
        AbortController: 'readonly',
        Buffer: 'readonly',
        structuredClone: 'readonly',
        URLSearchParams: 'readonly',
        ReadableStream: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: NODE_ONLY_FILES,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...builtinModules, ...NODE_ONLY_PACKAGES].map((name) => ({ name, message: 'Worker code runs in workerd, not Node.' })),
          patterns: [
            { group: ['node:*'], message: 'Worker code runs in workerd, not Node.' },
            ...NODE_ONLY_PACKAGES.map((p) => ({ group: [`${p}/*`], message: 'Worker code runs in workerd, not Node.' })),
            { regex: '^\\.{1,2}/(?:\\.\\./)*(?:cli|agent|dev)/', message: 'src/cli, src/agent and src/dev are Node-only.' },
            { regex: '(?:^|/)admin/write-openapi(?:\\.js)?$', message: 'write-openapi is a Node script.' },
          ],
        },
      ],
    },
  },
);
