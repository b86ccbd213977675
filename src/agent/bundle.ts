/** Bundles the agent into one Node 22 ESM file for the container image: `npx tsx src/agent/bundle.ts [outfile]`. */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

export async function bundleAgent(outfile = 'dist/edgeway-agent.mjs') {
  await build({
    entryPoints: [fileURLToPath(new URL('./main.ts', import.meta.url))],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    minify: false,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    // Some dependencies are CommonJS and call require() for Node built-ins.
    banner: {
      js: "import { createRequire as __edgewayCreateRequire } from 'node:module'; const require = __edgewayCreateRequire(import.meta.url);",
    },
  });
  return outfile;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await bundleAgent(process.argv[2]);
  console.log(`wrote ${out}`);
}
