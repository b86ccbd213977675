/** Runs the shared matcher suite against the linear reference matcher. */
import { compileLinear } from '../../../src/routing/linear/index.js';
import { runCommonCases } from './common.case.js';

runCommonCases('linear', compileLinear);
