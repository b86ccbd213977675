/** The admin API (mounted at /_edgeway/v1): operators publish and switch routes, agents push endpoints. */
import { OpenAPIHono, createRoute, type Hook } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { Snapshot } from '../schema/snapshot.js';
import { locateIssues } from '../schema/validate.js';
import {
  ClusterInfo,
  ClusterParam,
  HeartbeatBody,
  Problem,
  PublishBody,
  PublishResult,
  PushBody,
  PushResult,
  RollbackBody,
  VersionInfo,
  WeightsBody,
  WithdrawResult,
} from './api.js';
import { adminHost, agentAuth, forbidden, operatorAuth, unauthorized, type AdminBindings } from './auth.js';
import type { CoordinatorDO } from './durable-object.js';
import { COORDINATOR_NAME, type AdminEnv } from './env.js';
import { registerExplainRoute } from './explain.js';
import { registerRolloutRoutes, syncRollouts } from './rollouts.js';
import { issuePath, type Outcome } from './state.js';
import {
  MAX_AGENT_BODY_BYTES,
  MAX_OPERATOR_BODY_BYTES,
  MAX_SKEW_MS,
  REQUIRED_COMPONENTS,
  SIGNATURE_ALG,
  SIGNATURE_LABEL,
  SIGNATURE_LIFETIME_S,
} from './signing.js';

export const ADMIN_BASE_PATH = '/_edgeway/v1';

const json = <T extends z.ZodType>(schema: T, description: string) => ({ content: { 'application/json': { schema } }, description });
const problem = (description: string) => json(Problem, description);
const bearer = [{ bearer: [] }];
const signed = [{ agentSignature: [] }];
const etagHeader = z.object({ ETag: z.string().describe('"<version>"') });

// Bodies that fail the schema are reported through the shared pipeline: one located message per problem.
const defaultHook: Hook<unknown, AdminBindings, string, unknown> = (result, c) => {
  if (!result.success)
    return c.json(
      {
        error: 'invalid request',
        issues: locateIssues(result.error.issues).map((i) => ({
          // `resources.3...`: say which resource, as the coordinator's reference checks do.
          ...(i.path[0] === 'resources' && typeof i.path[1] === 'number' ? { index: i.path[1] } : {}),
          path: issuePath(i.path),
          message: i.message,
        })),
      },
      400,
    );
  return undefined;
};

export function coordinator(env: AdminEnv): DurableObjectStub<CoordinatorDO> {
  const ns = env.COORDINATOR;
  if (!ns) throw new HTTPException(503, { message: 'COORDINATOR binding is missing' });
  return ns.get(ns.idFromName(COORDINATOR_NAME));
}

function fail(c: { json: (b: unknown, s: number) => Response }, out: Extract<Outcome<unknown>, { ok: false }>) {
  return c.json({ error: out.error, ...(out.issues ? { issues: out.issues } : {}) }, out.status);
}

const etag = (version: number) => `"${version}"`;

export const adminApp = new OpenAPIHono<AdminBindings>({ defaultHook });
adminApp.use('*', adminHost);

adminApp.onError((err, c) => {
  if (err instanceof HTTPException) {
    if (err.status >= 500)
      console.log(
        JSON.stringify({ level: 'error', event: 'admin.unavailable', route: c.req.path, status: err.status, message: err.message }),
      );
    return c.json({ error: err.message || 'bad request' }, err.status);
  }
  console.log(JSON.stringify({ level: 'error', event: 'admin.error', route: c.req.path, message: String(err) }));
  return c.json({ error: 'internal error' }, 500);
});

adminApp.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
  type: 'http',
  scheme: 'bearer',
  description: `ADMIN_TOKEN Worker secret (16+ characters). Bodies up to ${MAX_OPERATOR_BODY_BYTES} bytes (413 above).`,
});
adminApp.openAPIRegistry.registerComponent('securitySchemes', 'agentSignature', {
  type: 'apiKey',
  in: 'header',
  name: 'Signature',
  description: [
    `RFC 9421 HTTP Message Signature, label "${SIGNATURE_LABEL}", alg "${SIGNATURE_ALG}" with the cluster's AGENT_KEYS key,`,
    `covering ${REQUIRED_COMPONENTS.map((c) => `"${c}"`).join(' ')} (RFC 9530 Content-Digest: sha-256=:<base64>:),`,
    `with created (within ±${MAX_SKEW_MS / 60_000} min), expires (at most ${SIGNATURE_LIFETIME_S} s later), nonce, keyid="<cluster>[/<key id>]"`,
    'and, when the edge sets EDGEWAY_AUDIENCE, tag="<audience>". Each signature is accepted once.',
    `Bodies up to ${MAX_AGENT_BODY_BYTES} bytes (413 above). Every authentication failure is the same 401.`,
  ].join(' '),
});

adminApp.openapi(
  createRoute({
    method: 'get',
    path: '/snapshot',
    summary: 'Current merged snapshot; its version is the ETag',
    security: bearer,
    middleware: [operatorAuth] as const,
    responses: {
      200: { ...json(Snapshot, 'The snapshot the coordinator will (or did) write to KV'), headers: etagHeader },
      401: problem('Missing or wrong token'),
      404: { ...problem('Nothing published yet (ETag "0")'), headers: etagHeader },
    },
  }),
  async (c) => {
    const { snapshot, version } = await coordinator(c.env).getSnapshot();
    c.header('ETag', etag(version));
    if (!snapshot) return c.json({ error: 'nothing published yet' }, 404);
    return c.json(snapshot, 200);
  },
);

adminApp.openapi(
  createRoute({
    method: 'put',
    path: '/resources',
    summary: 'Publish the full list of routes, backends and policies',
    description: 'Replaces every published resource. Requires If-Match with the ETag read from GET /snapshot (or "*").',
    security: bearer,
    middleware: [operatorAuth] as const,
    request: { headers: z.object({ 'if-match': z.string().optional() }), body: { ...json(PublishBody, 'Resources'), required: true } },
    responses: {
      200: { ...json(PublishResult, 'Published'), headers: etagHeader },
      400: problem('Invalid body: every issue is listed'),
      401: problem('Missing or wrong token'),
      412: problem('Resources changed since the If-Match version, or they change weights of a rule a Rollout is moving'),
      413: problem('Body over the limit'),
      428: problem('If-Match missing'),
    },
  }),
  async (c) => {
    const out = await coordinator(c.env).publish(c.req.valid('json').resources, c.req.header('if-match'));
    if (!out.ok) return fail(c, out) as never;
    // New or changed Rollouts start now; the publish stands even if one cannot (GET /rollouts says why).
    await syncRollouts(c.env).catch((err: unknown) =>
      console.log(JSON.stringify({ level: 'error', event: 'admin.rollouts.sync_failed', message: String(err) })),
    );
    c.header('ETag', etag(out.value.version));
    return c.json(out.value, 200);
  },
);

adminApp.openapi(
  createRoute({
    method: 'post',
    path: '/weights',
    summary: 'Blue/green switch: set backendRef weights of one route rule in one change',
    security: bearer,
    middleware: [operatorAuth] as const,
    request: { headers: z.object({ 'if-match': z.string().optional() }), body: { ...json(WeightsBody, 'Weights'), required: true } },
    responses: {
      200: { ...json(z.object({ version: z.number().int() }), 'Switched'), headers: etagHeader },
      400: problem('Invalid body or unknown backendRef'),
      401: problem('Missing or wrong token'),
      404: problem('Route or rule not published'),
      412: problem("Resources changed since the If-Match version, or a Rollout is moving this rule's weights"),
    },
  }),
  async (c) => {
    const out = await coordinator(c.env).setWeights(c.req.valid('json'), c.req.header('if-match'));
    if (!out.ok) return fail(c, out) as never;
    c.header('ETag', etag(out.value.version));
    return c.json(out.value, 200);
  },
);

adminApp.openapi(
  createRoute({
    method: 'post',
    path: '/rollback',
    summary: 'Restore the published resources of an earlier version (as a new version)',
    security: bearer,
    middleware: [operatorAuth] as const,
    request: { body: { ...json(RollbackBody, 'Target version'), required: true } },
    responses: {
      200: { ...json(z.object({ version: z.number().int() }), 'Rolled back'), headers: etagHeader },
      400: problem('Invalid body'),
      401: problem('Missing or wrong token'),
      404: problem('Version not in the kept history'),
    },
  }),
  async (c) => {
    const out = await coordinator(c.env).rollback(c.req.valid('json').version);
    if (!out.ok) return fail(c, out) as never;
    c.header('ETag', etag(out.value.version));
    return c.json(out.value, 200);
  },
);

adminApp.openapi(
  createRoute({
    method: 'get',
    path: '/versions',
    summary: 'Operator changes kept for rollback',
    security: bearer,
    middleware: [operatorAuth] as const,
    responses: { 200: json(z.array(VersionInfo), 'History, oldest first'), 401: problem('Missing or wrong token') },
  }),
  async (c) => c.json(await coordinator(c.env).versions(), 200),
);

adminApp.openapi(
  createRoute({
    method: 'get',
    path: '/clusters',
    summary: 'Clusters: last heartbeat, staleness, cordon, key, served endpoints and every refused one with its reason',
    security: bearer,
    middleware: [operatorAuth] as const,
    responses: { 200: json(z.array(ClusterInfo), 'Clusters'), 401: problem('Missing or wrong token') },
  }),
  async (c) => c.json(await coordinator(c.env).clusters(), 200),
);

const lifecycle = (action: 'cordon' | 'uncordon', summary: string) =>
  adminApp.openapi(
    createRoute({
      method: 'post',
      path: `/clusters/{cluster}/${action}`,
      summary,
      security: bearer,
      middleware: [operatorAuth] as const,
      request: { params: ClusterParam },
      responses: {
        200: json(ClusterInfo, 'The cluster after the change'),
        400: problem('Invalid cluster id'),
        401: problem('Missing or wrong token'),
        404: problem('Cluster not known'),
      },
    }),
    async (c) => {
      const { cluster } = c.req.valid('param');
      const info = await coordinator(c.env)[action](cluster);
      if (!info) return c.json({ error: `cluster ${cluster} is not known` }, 404);
      return c.json(info, 200);
    },
  );
lifecycle('cordon', 'Cordon a cluster: its new endpoints are refused; what it holds keeps serving');
lifecycle('uncordon', 'Uncordon a cluster: it may add endpoints again');

adminApp.openapi(
  createRoute({
    method: 'post',
    path: '/clusters/{cluster}/withdraw',
    summary: 'Withdraw every endpoint of a cluster now (and cordon it, so its next push does not bring them back)',
    security: bearer,
    middleware: [operatorAuth] as const,
    request: { params: ClusterParam },
    responses: {
      200: json(WithdrawResult, 'Withdrawn'),
      400: problem('Invalid cluster id'),
      401: problem('Missing or wrong token'),
    },
  }),
  async (c) => c.json(await coordinator(c.env).withdraw(c.req.valid('param').cluster), 200),
);

adminApp.openapi(
  createRoute({
    method: 'post',
    path: '/agent/endpoints',
    summary: "Agent push of its cluster's endpoints (signed)",
    description: 'policy "sync" replaces what the cluster reported before (withdrawing the rest); "upsert-only" never withdraws.',
    security: signed,
    middleware: [agentAuth] as const,
    request: { body: { ...json(PushBody, 'Report'), required: true } },
    responses: {
      200: json(PushResult, 'Recorded; `refused` lists every endpoint that is not served, with the reason'),
      400: problem('Invalid body'),
      401: problem('Not authenticated (one answer for every reason)'),
      403: problem('Endpoints of another cluster'),
      413: problem('Body over the limit'),
    },
  }),
  async (c) => {
    const body = c.req.valid('json');
    if (body.cluster !== c.var.cluster) return forbidden(c.req.path, 'cluster mismatch', c.var.cluster) as never;
    const out = await coordinator(c.env).push(c.var.cluster, c.var.signature, body);
    if (!out.ok) return (out.status === 401 ? unauthorized(c.req.path, out.error, { cluster: c.var.cluster }) : fail(c, out)) as never;
    return c.json(out.value, 200);
  },
);

adminApp.openapi(
  createRoute({
    method: 'post',
    path: '/agent/heartbeat',
    summary: 'Agent heartbeat (signed): keeps its endpoints from turning stale',
    security: signed,
    middleware: [agentAuth] as const,
    request: { body: { ...json(HeartbeatBody, 'Heartbeat'), required: true } },
    responses: {
      200: json(
        z.object({
          version: z.number().int(),
          changed: z.boolean(),
          endpoints: z.number().int().describe('Endpoints the edge holds for this cluster (0 after a withdrawal: report again).'),
        }),
        'Recorded',
      ),
      400: problem('Invalid body'),
      401: problem('Not authenticated (one answer for every reason)'),
      403: problem('Another cluster'),
      413: problem('Body over the limit'),
    },
  }),
  async (c) => {
    const body = c.req.valid('json');
    if (body.cluster !== c.var.cluster) return forbidden(c.req.path, 'cluster mismatch', c.var.cluster) as never;
    const out = await coordinator(c.env).heartbeat(c.var.cluster, c.var.signature, body.agentVersion);
    if (!out.ok) return unauthorized(c.req.path, out.error, { cluster: c.var.cluster }) as never;
    return c.json(out.value, 200);
  },
);

registerExplainRoute(adminApp);

registerRolloutRoutes(adminApp);

export const OPENAPI_CONFIG = {
  openapi: '3.1.0',
  info: { title: 'Edgeway admin API', version: '1.0.0', description: 'Control plane of the Edgeway edge gateway.' },
  servers: [{ url: ADMIN_BASE_PATH }],
};

adminApp.doc31('/openapi.json', OPENAPI_CONFIG);

/** The OpenAPI document as served (also committed at docs/openapi.json). */
export const openApiDocument = () => adminApp.getOpenAPI31Document(OPENAPI_CONFIG);
