/** `npm run bench`: registers tsx so Node can load the TypeScript harness, then hands over to bench/main.ts. */
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main();
