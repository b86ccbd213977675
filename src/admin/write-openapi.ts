/** Regenerates docs/openapi.json from the admin app: `npx tsx src/admin/write-openapi.ts`. */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openApiDocument } from './app.js';

export const OPENAPI_PATH = fileURLToPath(new URL('../../docs/openapi.json', import.meta.url));
export const renderOpenApi = () => `${JSON.stringify(openApiDocument(), null, 2)}\n`;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(OPENAPI_PATH, renderOpenApi());
  console.log(`wrote ${OPENAPI_PATH}`);
}
