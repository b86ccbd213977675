/** docs/openapi.json must be what the admin app serves: regenerate with `npx tsx src/admin/write-openapi.ts`. */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { OPENAPI_PATH, renderOpenApi } from '../../../src/admin/write-openapi.js';

it('docs/openapi.json matches the admin app (run `npx tsx src/admin/write-openapi.ts` if this fails)', () => {
  const committed = readFileSync(OPENAPI_PATH, 'utf8');
  expect(committed === renderOpenApi(), 'docs/openapi.json is out of date: run `npx tsx src/admin/write-openapi.ts`').toBe(true);
});

it('documents both credentials and every operation', () => {
  const doc = JSON.parse(renderOpenApi()) as {
    paths: Record<string, Record<string, { security?: unknown[] }>>;
    components: { securitySchemes: object };
  };
  expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['agentSignature', 'bearer']);
  for (const [path, ops] of Object.entries(doc.paths))
    for (const op of Object.values(ops))
      expect(op.security, path).toEqual([path.startsWith('/agent/') ? { agentSignature: [] } : { bearer: [] }]);
});
