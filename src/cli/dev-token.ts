/** `edgeway dev-token`: a token from the demo's stand-in identity provider (`npm start`), for the JWT-protected route. */
import { parseArgs } from 'node:util';
import { DEMO_IDP_PORT } from './demo.js';
import type { Out } from './out.js';

export async function devTokenCommand(args: string[], out: Out, fetchImpl: typeof fetch = fetch): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      sub: { type: 'string', default: 'alice' },
      scope: { type: 'string', default: 'read' },
      ttl: { type: 'string', default: '3600' },
      idp: { type: 'string', default: `http://127.0.0.1:${DEMO_IDP_PORT}` },
      rotate: { type: 'boolean', default: false },
    },
  });
  const idp = values.idp.replace(/\/$/, '');
  try {
    if (values.rotate) {
      const r = await fetchImpl(`${idp}/rotate`, { method: 'POST' });
      if (!r.ok) throw new Error(`rotate answered ${r.status}`);
      out.error(`edgeway dev-token: now signing with kid ${((await r.json()) as { kid: string }).kid}`);
    }
    const q = new URLSearchParams({ sub: values.sub, scope: values.scope, ttl: values.ttl });
    const res = await fetchImpl(`${idp}/token?${q}`, { method: 'POST' });
    if (!res.ok) throw new Error(`the identity provider answered ${res.status}`);
    out.log(((await res.json()) as { token: string }).token);
    return 0;
  } catch (e) {
    out.error(`edgeway dev-token: cannot get a token from ${idp} (${(e as Error).message}); is the demo running (npm start)?`);
    return 1;
  }
}
