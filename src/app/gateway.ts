/** The data plane for one request: a context through the stages of src/app/pipeline.ts for the current table. */
import type { CompiledTable } from '../table.js';
import { createContext, type GatewayDeps } from './context.js';
import { pipelineFor } from './pipeline.js';

export type { GatewayDeps } from './context.js';
export { MAX_REPLAY_BODY_BYTES } from './stages/forward.js';
export { DEGRADED } from '../proxy/errors.js';

export function serveRequest(request: Request, table: CompiledTable | undefined, deps: GatewayDeps): Promise<Response> {
  return pipelineFor(table)(createContext(request, table, deps));
}
