/** Object keys: the one spelling of "namespace/name" ids, and the endpoint key the agent and the coordinator share. */

/** "namespace/name": how routes, Backends and policies are named in the table, logs, headers and DO names. */
export const objectKey = (namespace: string, name: string): string => `${namespace}/${name}`;

/** "namespace/name" of a resource (a metadata.namespace left out is "default", as the schema defaults it). */
export const resourceKey = (r: { metadata: { namespace?: string | undefined; name: string } }): string =>
  objectKey(r.metadata.namespace ?? 'default', r.metadata.name);

/** "namespace/name" of a reference (backendRef, targetRef) whose namespace defaults to the referring object's. */
export const refKey = (ref: { namespace?: string | undefined; name: string }, fromNamespace: string): string =>
  objectKey(ref.namespace ?? fromNamespace, ref.name);

/** "namespace/name url": one endpoint an agent reports for a Backend (agent plans and coordinator merges by it). */
export const reportedEndpointKey = (e: { backend: { namespace: string; name: string }; url: string }): string =>
  `${objectKey(e.backend.namespace, e.backend.name)} ${e.url}`;
