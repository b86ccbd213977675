/** `npm run bench:ops`: tsx for the TypeScript harness, then bench/ops.ts. */
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./ops.ts');
process.exitCode = await main();
