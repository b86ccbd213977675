#!/usr/bin/env node
/** Launcher for the Edgeway CLI: lets Node load the TypeScript sources in src/cli directly. */
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
