/** `npm run bench:ab`: tsx for the TypeScript harness, then bench/ab.ts. */
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./ab.ts');
process.exitCode = await main();
