/** Runs the shared matcher suite against the indexed production matcher, with and without small-group scanning. */
import { compileIndexed, createIndexedCompiler } from '../../../src/routing/indexed/index.js';
import { runCommonCases } from './common.case.js';

runCommonCases('indexed', compileIndexed);
// The golden tables have small hostname groups; force the full per-group index so it meets every golden case too.
runCommonCases('indexed (full index)', createIndexedCompiler({ smallGroup: 0 }));
