/** The Edgeway dashboard (browser code, bundled by scripts/build-ui.ts): sign-in, four views, hash navigation. */
import { ADMIN, ApiError, HEALTH, Unauthorized, api, token } from './api.js';
import type {
  BackendRes,
  ClusterInfo,
  Explanation,
  HTTPRouteMatch,
  HealthEndpoint,
  HealthView,
  MetricsResult,
  PolicyRes,
  RolloutInfo,
  RouteRes,
  Snapshot,
} from './api.js';
import { ago, fmtTime, h, pct, sparkline } from './dom.js';

const VIEWS = [
  { id: 'overview', title: 'Overview' },
  { id: 'health', title: 'Health map' },
  { id: 'routes', title: 'Routes' },
  { id: 'traffic', title: 'Traffic and rollouts' },
] as const;
type ViewId = (typeof VIEWS)[number]['id'];

const HEALTH_POLL_MS = 3000;
const TRAFFIC_POLL_MS = 15_000;
const TRAFFIC_MINUTES = 10;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
let timer: number | undefined;
let generation = 0;

// ------------------------------------------------------------------------------------------------ sign-in

function showSignIn(message = ''): void {
  stopPolling();
  $('signin').hidden = false;
  $('app').hidden = true;
  $('nav').hidden = true;
  $('signout').hidden = true;
  const err = $('signin-error');
  err.textContent = message;
  $<HTMLInputElement>('token').focus();
}

async function signIn(e: Event): Promise<void> {
  e.preventDefault();
  const input = $<HTMLInputElement>('token');
  const value = input.value.trim();
  const err = $('signin-error');
  if (!value) {
    err.textContent = 'Enter the operator token.';
    return;
  }
  err.textContent = 'Checking…';
  try {
    await api(`${ADMIN}/versions`, { token: value });
  } catch (x) {
    err.textContent = x instanceof Unauthorized ? 'That token was refused.' : `Could not reach the admin API: ${(x as Error).message}`;
    input.select();
    return;
  }
  token.set(value);
  input.value = '';
  err.textContent = '';
  enterApp();
}

function signOut(message = ''): void {
  token.clear();
  showSignIn(message);
}

function enterApp(): void {
  $('signin').hidden = true;
  $('app').hidden = false;
  $('nav').hidden = false;
  $('signout').hidden = false;
  if (!location.hash) history.replaceState(null, '', '#overview');
  void render(true);
}

// ------------------------------------------------------------------------------------------------ navigation

function currentView(): ViewId {
  const id = location.hash.slice(1);
  return (VIEWS.find((v) => v.id === id)?.id ?? 'overview') as ViewId;
}

function stopPolling(): void {
  if (timer !== undefined) clearTimeout(timer);
  timer = undefined;
  generation++;
}

async function render(focus: boolean): Promise<void> {
  if (!token.get()) return showSignIn();
  stopPolling();
  const gen = generation;
  const view = currentView();
  for (const a of document.querySelectorAll<HTMLAnchorElement>('#nav a')) {
    if (a.hash === `#${view}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const meta = VIEWS.find((v) => v.id === view)!;
  document.title = `${meta.title} · Edgeway`;
  const root = $('app');
  const heading = h('h2', { id: 'view-title', tabindex: '-1' }, meta.title);
  const body = h('div', { class: 'view-body' }, h('p', { class: 'muted' }, 'Loading…'));
  root.replaceChildren(heading, body);
  if (focus) heading.focus();
  const draw = VIEW_RENDERERS[view];
  const tick = async (first: boolean) => {
    try {
      await draw(body, first);
      $('updated').textContent = `Updated ${fmtTime(Date.now())}`;
    } catch (x) {
      if (x instanceof Unauthorized) return signOut('The operator token was refused: sign in again.');
      body.replaceChildren(h('p', { class: 'error', role: 'alert' }, `Could not load: ${(x as Error).message}`));
    }
    const every = POLL[view];
    if (every && gen === generation) timer = window.setTimeout(() => gen === generation && void tick(false), every);
  };
  await tick(true);
}

const POLL: Record<ViewId, number | undefined> = { overview: 10_000, health: HEALTH_POLL_MS, routes: undefined, traffic: TRAFFIC_POLL_MS };

// ------------------------------------------------------------------------------------------------ data helpers

async function snapshot(): Promise<Snapshot | null> {
  try {
    return (await api<Snapshot>(`${ADMIN}/snapshot`)).data;
  } catch (x) {
    if (x instanceof ApiError && x.status === 404) return null;
    throw x;
  }
}

/** Metrics when the API has them; null (and why) when it does not. */
async function metrics(minutes: number): Promise<{ result: MetricsResult | null; why?: string }> {
  try {
    return { result: (await api<MetricsResult>(`${ADMIN}/metrics?minutes=${minutes}`)).data };
  } catch (x) {
    if (x instanceof Unauthorized) throw x;
    return { result: null, why: x instanceof ApiError ? `${x.status}: ${x.message}` : (x as Error).message };
  }
}

type TileState = 'healthy' | 'ejected' | 'failing' | 'stale' | 'zero-ready' | 'trial';
const STATE_LABEL: Record<TileState, string> = {
  healthy: 'Healthy',
  trial: 'Half-open (trial)',
  ejected: 'Ejected (passive)',
  failing: 'Failing active checks',
  stale: 'Stale (agent quiet)',
  'zero-ready': '0 ready pods',
};

export function tileState(e: HealthEndpoint): TileState {
  if (e.readyEndpoints === 0) return 'zero-ready';
  if (e.active?.state === 'unhealthy') return 'failing';
  if (e.passive && e.passive.state === 'open') return 'ejected';
  if (e.passive && e.passive.state === 'half-open') return 'trial';
  if (e.stale) return 'stale';
  return e.usable ? 'healthy' : 'ejected';
}

const cloudOf = (eps: { cloud?: string; cluster: string }[]) => eps.find((e) => e.cloud)?.cloud ?? eps[0]?.cluster.split('-')[0] ?? '—';

// ------------------------------------------------------------------------------------------------ overview

async function overview(body: HTMLElement): Promise<void> {
  const [snap, clusters, health, m] = await Promise.all([
    snapshot(),
    api<ClusterInfo[]>(`${ADMIN}/clusters`).then((r) => r.data),
    api<HealthView>(HEALTH).then((r) => r.data),
    metrics(5),
  ]);
  const eps = health.backends.flatMap((b) => b.endpoints);
  const states = eps.map(tileState);
  const count = (s: TileState) => states.filter((x) => x === s).length;
  const byCluster = new Map<string, { cloud?: string; region?: string; cluster: string }[]>();
  for (const b of snap?.backends ?? [])
    for (const e of b.spec.endpoints) byCluster.set(e.cluster, [...(byCluster.get(e.cluster) ?? []), e]);
  for (const c of clusters) if (!byCluster.has(c.cluster)) byCluster.set(c.cluster, []);
  const info = new Map(clusters.map((c) => [c.cluster, c]));

  let errorRate: HTMLElement;
  if (m.result) {
    const req = m.result.series.reduce((n, s) => n + s.requests, 0);
    const err = m.result.series.reduce((n, s) => n + s.errorRate * s.requests, 0);
    errorRate = stat('Error rate, last 5 min', req ? pct(err / req) : '—', req ? `${req} requests` : 'no requests');
  } else errorRate = stat('Error rate, last 5 min', 'n/a', `metrics not available (${m.why})`);

  body.replaceChildren(
    h(
      'div',
      { class: 'stats', role: 'list' },
      stat('Table version', snap ? `v${snap.version}` : 'none', snap ? `published ${ago(snap.createdAt)}` : 'nothing published yet'),
      stat('Routes', String(snap?.routes.length ?? 0), `${snap?.backends.length ?? 0} backends`),
      stat('Healthy endpoints', String(count('healthy')), `of ${eps.length}`),
      stat(
        'Ejected or failing',
        String(eps.length - count('healthy')),
        `${count('ejected')} ejected, ${count('failing')} failing checks, ${count('zero-ready')} with 0 ready, ${count('stale')} stale`,
      ),
      errorRate,
    ),
    h('h3', {}, 'Clusters'),
    table(
      'Clusters: cloud, region, agent heartbeat and state',
      ['Cluster', 'Cloud', 'Region', 'Last heartbeat', 'State', 'Endpoints'],
      [...byCluster.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, list]) => {
          const c = info.get(name);
          const regions = [...new Set(list.map((e) => e.region).filter(Boolean))].join(', ') || '—';
          const mine = eps.filter((e) => e.cluster === name);
          const healthy = mine.filter((e) => tileState(e) === 'healthy').length;
          const flags = [c?.stale ? badge('stale', 'stale') : null, c?.cordoned ? badge('cordoned', 'cordoned') : null].filter(Boolean);
          return [
            h('th', { scope: 'row' }, name),
            cloudOf(list.length ? list : [{ cluster: name }]),
            regions,
            c
              ? c.lastHeartbeat
                ? h('time', { datetime: c.lastHeartbeat, title: c.lastHeartbeat }, ago(c.lastHeartbeat))
                : 'never'
              : 'static (no agent)',
            flags.length ? h('span', {}, ...flags) : badge('ok', 'serving'),
            `${healthy}/${mine.length} healthy${c ? ` · ${c.served}/${c.endpoints} served` : ''}`,
          ];
        }),
    ),
  );
}

function stat(label: string, value: string, note: string): HTMLElement {
  return h(
    'div',
    { class: 'stat', role: 'listitem' },
    h('span', { class: 'stat-label' }, label),
    h('span', { class: 'stat-value' }, value),
    h('span', { class: 'stat-note' }, note),
  );
}

const badge = (kind: string, text: string) => h('span', { class: `badge badge-${kind}` }, text);

function table(caption: string, head: string[], rows: (Node | string)[][]): HTMLElement {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      h('caption', { class: 'visually-hidden' }, caption),
      h('thead', {}, h('tr', {}, ...head.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => (c instanceof HTMLTableCellElement ? c : h('td', {}, c)))))),
    ),
  );
}

// ------------------------------------------------------------------------------------------------ health map

async function healthMap(body: HTMLElement): Promise<void> {
  const health = (await api<HealthView>(HEALTH)).data;
  const clusters = [...new Map(health.backends.flatMap((b) => b.endpoints).map((e) => [e.cluster, e.region ?? ''])).entries()].sort(
    ([a], [b]) => a.localeCompare(b),
  );
  const legend = h(
    'ul',
    { class: 'legend', 'aria-label': 'Legend' },
    ...(Object.keys(STATE_LABEL) as TileState[]).map((s) =>
      h('li', {}, h('span', { class: `swatch tile-${s}`, 'aria-hidden': 'true' }), STATE_LABEL[s]),
    ),
  );
  const grid = h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'map' },
      h('caption', { class: 'visually-hidden' }, 'Endpoint health by Backend and cluster'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'Backend'),
          ...clusters.map(([c, r]) => h('th', { scope: 'col' }, c, r ? h('span', { class: 'sub' }, r) : null)),
        ),
      ),
      h(
        'tbody',
        {},
        ...health.backends.map((b) =>
          h(
            'tr',
            {},
            h('th', { scope: 'row' }, b.backend),
            ...clusters.map(([c]) => {
              const mine = b.endpoints.filter((e) => e.cluster === c);
              return h(
                'td',
                {},
                mine.length ? mine.map((e) => tile(b.backend, e)) : h('span', { class: 'muted', 'aria-label': 'no endpoint' }, '—'),
              );
            }),
          ),
        ),
      ),
    ),
  );
  const summary = health.backends.flatMap((b) => b.endpoints).filter((e) => tileState(e) !== 'healthy').length;
  // A poll redraws the map: keep keyboard focus (and a dismissed tooltip) on the same tile.
  const focused = (document.activeElement as HTMLElement | null)?.closest?.('.tile-wrap');
  const focusedId = focused?.querySelector('button')?.id;
  const dismissed = focused?.classList.contains('tip-dismissed');
  body.replaceChildren(
    h(
      'p',
      { class: 'muted' },
      `Live: refreshed every ${HEALTH_POLL_MS / 1000} s from ${HEALTH} (this isolate's view). Hover or focus a tile for its reason and last probe.`,
    ),
    legend,
    h('p', { role: 'status', id: 'health-summary' }, summary ? `${summary} endpoint(s) not healthy` : 'Every endpoint is healthy'),
    grid,
  );
  if (focusedId) {
    const again = document.getElementById(focusedId);
    if (dismissed) again?.parentElement?.classList.add('tip-dismissed');
    again?.focus();
  }
}

/** Ids that survive a redraw, so focus can be put back on the same tile. */
const tileId = (key: string) => `tile-${key.replace(/[^a-zA-Z0-9]+/g, '-')}`;
function tile(backend: string, e: HealthEndpoint): HTMLElement {
  const state = tileState(e);
  const probe = e.active?.lastProbe;
  const probeText = probe
    ? `last probe ${fmtTime(probe.at)}: ${probe.status !== undefined ? `HTTP ${probe.status}` : (probe.error ?? 'error')}${probe.latencyMs !== undefined ? `, ${probe.latencyMs} ms` : ''}`
    : 'no active probe yet';
  const reasons = e.reasons.length ? e.reasons.join('; ') : 'no problems reported';
  const id = `${tileId(e.key)}-tip`;
  return h(
    'span',
    { class: 'tile-wrap' },
    h(
      'button',
      {
        type: 'button',
        id: tileId(e.key),
        class: `tile tile-${state}`,
        'aria-describedby': id,
        'data-state': state,
        'data-endpoint': e.url,
        'data-backend': backend,
      },
      h('span', { class: 'tile-state' }, STATE_LABEL[state]),
      h('span', { class: 'tile-url' }, e.url.replace(/^https?:\/\//, '')),
    ),
    h(
      'span',
      { role: 'tooltip', id, class: 'tip' },
      `${backend} · ${e.cluster}${e.region ? ` (${e.region})` : ''} · priority ${e.priority}. ${reasons}. ${probeText}.`,
    ),
  );
}

// ------------------------------------------------------------------------------------------------ routes

const routeKey = (m: { namespace: string; name: string }) => `${m.namespace}/${m.name}`;

function attachedPolicies(snap: Snapshot, route: RouteRes, rule: { name?: string }): PolicyRes[] {
  return [
    ...(snap.policies ?? []).map((p) => ({ ...p, kind: 'RateLimitPolicy' })),
    ...(snap.securityPolicies ?? []).map((p) => ({ ...p, kind: 'SecurityPolicy' })),
  ].filter(
    (p) =>
      p.metadata.namespace === route.metadata.namespace &&
      (p.spec.targetRefs ?? []).some(
        (t) => t.kind === 'HTTPRoute' && t.name === route.metadata.name && (t.sectionName === undefined || t.sectionName === rule.name),
      ),
  );
}

function matchText(m: HTTPRouteMatch): string {
  const parts = [`${m.path?.type ?? 'PathPrefix'} ${m.path?.value ?? '/'}`];
  if (m.method) parts.push(m.method);
  for (const x of m.headers ?? []) parts.push(`header ${x.name}${x.type === 'RegularExpression' ? ' ~ ' : ' = '}${x.value}`);
  for (const x of m.queryParams ?? []) parts.push(`query ${x.name}${x.type === 'RegularExpression' ? ' ~ ' : ' = '}${x.value}`);
  return parts.join(', ');
}

async function routes(body: HTMLElement, first: boolean): Promise<void> {
  if (!first) return;
  const snap = await snapshot();
  if (!snap) {
    body.replaceChildren(h('p', {}, 'Nothing published yet.'));
    return;
  }
  const search = h('input', { id: 'route-search', type: 'search', autocomplete: 'off', 'aria-controls': 'route-list' });
  const count = h('p', { role: 'status', class: 'muted', id: 'route-count' });
  const list = h('div', { id: 'route-list' });
  const cards = snap.routes.map((r) => {
    const text = [
      routeKey(r.metadata),
      ...(r.spec.hostnames ?? []),
      ...r.spec.rules.flatMap((x) => (x.backendRefs ?? []).map((b) => b.name)),
    ]
      .join(' ')
      .toLowerCase();
    return { text, el: routeCard(snap, r) };
  });
  const filter = () => {
    const q = search.value.trim().toLowerCase();
    const shown = cards.filter((c) => !q || q.split(/\s+/).every((w) => c.text.includes(w)));
    list.replaceChildren(...shown.map((c) => c.el));
    count.textContent = `${shown.length} of ${cards.length} routes`;
  };
  search.addEventListener('input', filter);
  filter();
  body.replaceChildren(
    h(
      'section',
      { 'aria-labelledby': 'explain-title', class: 'card' },
      h('h3', { id: 'explain-title' }, 'Explain a request'),
      explainForm(snap),
    ),
    h(
      'section',
      { 'aria-labelledby': 'routes-title' },
      h('h3', { id: 'routes-title' }, 'HTTPRoutes'),
      h('div', { class: 'field' }, h('label', { for: 'route-search' }, 'Search routes (name, hostname, backend)'), search),
      count,
      list,
    ),
  );
}

function routeCard(snap: Snapshot, r: RouteRes): HTMLElement {
  const key = routeKey(r.metadata);
  const backends = new Map<string, BackendRes>(snap.backends.map((b) => [routeKey(b.metadata), b]));
  return h(
    'article',
    { class: 'card route', 'aria-label': `HTTPRoute ${key}` },
    h('h4', {}, key),
    h(
      'p',
      {},
      h('span', { class: 'muted' }, 'Hostnames: '),
      (r.spec.hostnames ?? []).length ? (r.spec.hostnames ?? []).join(', ') : 'any (catch-all)',
    ),
    table(
      `Rules of ${key}`,
      ['Rule', 'Matches', 'Backends (weight)', 'Filters', 'Policies'],
      r.spec.rules.map((rule, i) => {
        const refs = rule.backendRefs ?? [];
        const matches = rule.matches ?? [];
        const total = refs.reduce((n, b) => n + (b.weight ?? 1), 0);
        const pols = attachedPolicies(snap, r, rule);
        return [
          h('th', { scope: 'row' }, rule.name ?? `rule${i}`),
          h('ul', { class: 'plain' }, ...(matches.length ? matches : [{}]).map((m) => h('li', {}, matchText(m)))),
          refs.length === 0
            ? h('span', { class: 'muted' }, 'none (answered at the edge)')
            : h(
                'ul',
                { class: 'plain' },
                ...refs.map((b) => {
                  const k = `${b.namespace ?? r.metadata.namespace}/${b.name}`;
                  const w = b.weight ?? 1;
                  const n = backends.get(k)?.spec.endpoints.length;
                  return h(
                    'li',
                    {},
                    `${k} `,
                    h('strong', {}, `${w}`),
                    total ? ` (${pct(w / total)})` : '',
                    n !== undefined
                      ? h('span', { class: 'muted' }, ` · ${n} endpoint${n === 1 ? '' : 's'}`)
                      : badge('bad', 'unknown backend'),
                  );
                }),
              ),
          [
            ...(rule.filters ?? []).map((f) => f.type),
            rule.sessionPersistence
              ? `session ${rule.sessionPersistence.type ?? 'Cookie'} ${rule.sessionPersistence.sessionName ?? ''}`
              : '',
          ]
            .filter(Boolean)
            .join(', ') || '—',
          pols.length
            ? h(
                'ul',
                { class: 'plain' },
                ...pols.map((p) =>
                  h(
                    'li',
                    {},
                    badge(p.kind === 'SecurityPolicy' ? 'sec' : 'rl', p.kind === 'SecurityPolicy' ? 'security' : 'rate limit'),
                    ` ${routeKey(p.metadata)}`,
                  ),
                ),
              )
            : '—',
        ];
      }),
    ),
  );
}

function explainForm(snap: Snapshot): HTMLElement {
  const firstHost = snap.routes.flatMap((r) => r.spec.hostnames ?? [])[0] ?? 'example.com';
  const host = h('input', {
    id: 'explain-host',
    required: true,
    value: firstHost.replace(/^\*\./, 'www.'),
    autocomplete: 'off',
    spellcheck: 'false',
  });
  const path = h('input', { id: 'explain-path', required: true, value: '/', autocomplete: 'off', spellcheck: 'false' });
  const method = h(
    'select',
    { id: 'explain-method' },
    ...['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].map((m) => h('option', { value: m }, m)),
  );
  const headers = h('textarea', { id: 'explain-headers', rows: 2, spellcheck: 'false', 'aria-describedby': 'explain-headers-help' });
  const out = h('div', { id: 'explain-result', 'aria-live': 'polite' });
  const form = h(
    'form',
    { class: 'explain', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'explain-host' }, 'Host'), host),
    h('div', { class: 'field' }, h('label', { for: 'explain-path' }, 'Path (and query)'), path),
    h('div', { class: 'field' }, h('label', { for: 'explain-method' }, 'Method'), method),
    h(
      'div',
      { class: 'field wide' },
      h('label', { for: 'explain-headers' }, 'Headers'),
      headers,
      h('span', { id: 'explain-headers-help', class: 'muted' }, 'One "Name: value" per line, e.g. Cookie: shop-session=…'),
    ),
    h('div', { class: 'field' }, h('button', { type: 'submit', id: 'explain-submit' }, 'Explain')),
    out,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const hdrs: Record<string, string> = {};
    for (const line of headers.value.split('\n')) {
      const i = line.indexOf(':');
      if (i > 0) hdrs[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    out.replaceChildren(h('p', { class: 'muted' }, 'Explaining…'));
    api<Explanation>(`${ADMIN}/explain`, {
      method: 'POST',
      body: { host: host.value.trim(), path: path.value.trim() || '/', method: method.value, headers: hdrs },
    })
      .then(({ data }) => out.replaceChildren(explanation(data)))
      .catch((x: unknown) => {
        if (x instanceof Unauthorized) return signOut('The operator token was refused: sign in again.');
        out.replaceChildren(h('p', { class: 'error', role: 'alert' }, `Explain failed: ${(x as Error).message}`));
      });
  });
  return form;
}

function explanation(x: Explanation): HTMLElement {
  const verdict =
    x.outcome === 'forward'
      ? `Forwarded: ${x.route?.rule} → ${x.backend?.key}${x.endpoint ? ` → ${x.endpoint.cluster} (${x.endpoint.url})` : ' → no usable endpoint'}`
      : x.outcome === 'redirect'
        ? `Redirected: ${x.status} to ${x.location}`
        : `Refused: ${x.status} ${x.code ?? ''}`;
  return h(
    'div',
    { class: 'explanation' },
    h('p', { class: `verdict verdict-${x.outcome}`, id: 'explain-verdict' }, verdict),
    h('ol', { class: 'steps' }, ...x.steps.map((s) => h('li', {}, h('strong', {}, `${s.stage}: ${s.outcome}`), ` — ${s.detail}`))),
    x.policies.length ? h('p', {}, 'Policies: ', x.policies.map((p) => `${p.kind} ${p.key}`).join(', ')) : null,
    x.backend
      ? table(
          `Endpoints of ${x.backend.key}`,
          ['Endpoint', 'Cluster', 'Region', 'Priority', 'Usable', 'Share now', 'Why'],
          x.backend.endpoints.map((e) => [
            h('th', { scope: 'row' }, e.url),
            e.cluster,
            e.region ?? '—',
            String(e.priority),
            e.usable ? badge('ok', 'yes') : badge('bad', 'no'),
            pct(e.share),
            e.reasons.join('; ') || '—',
          ]),
        )
      : null,
    h('p', { class: 'muted' }, `Table v${x.version ?? '—'}; ${x.request.method} ${x.request.host}${x.request.path}`),
  );
}

// ------------------------------------------------------------------------------------------------ traffic and rollouts

interface Point {
  requests: number;
  errors: number;
  p99: number | null;
}

/** Per-minute points per backend: differences of the cumulative windows 1..N minutes back (the API sums windows). */
async function trafficSeries(): Promise<{ byBackend: Map<string, Point[]>; why?: string }> {
  const windows = await Promise.all(Array.from({ length: TRAFFIC_MINUTES }, (_, i) => metrics(i + 1)));
  const failed = windows.find((w) => !w.result);
  if (failed) return { byBackend: new Map(), why: failed.why };
  const agg = windows.map((w) => {
    const m = new Map<string, { requests: number; errors: number; counts: number[]; buckets: number[] }>();
    for (const s of w.result!.series) {
      const a = m.get(s.backend) ?? { requests: 0, errors: 0, counts: s.latency.counts.map(() => 0), buckets: s.latency.bucketsMs };
      a.requests += s.requests;
      a.errors += s.errorRate * s.requests;
      s.latency.counts.forEach((c, i) => (a.counts[i] = (a.counts[i] ?? 0) + c));
      m.set(s.backend, a);
    }
    return m;
  });
  const backends = new Set(agg.flatMap((m) => [...m.keys()]));
  const byBackend = new Map<string, Point[]>();
  for (const b of backends) {
    const pts: Point[] = [];
    for (let k = TRAFFIC_MINUTES - 1; k >= 0; k--) {
      const cur = agg[k]!.get(b);
      const prev = k > 0 ? agg[k - 1]!.get(b) : undefined;
      const requests = Math.max(0, (cur?.requests ?? 0) - (prev?.requests ?? 0));
      const errors = Math.max(0, (cur?.errors ?? 0) - (prev?.errors ?? 0));
      const counts = (cur?.counts ?? []).map((c, i) => Math.max(0, c - (prev?.counts[i] ?? 0)));
      pts.push({ requests, errors, p99: quantile(counts, cur?.buckets ?? [], 0.99) });
    }
    byBackend.set(b, pts);
  }
  return { byBackend };
}

function quantile(counts: number[], buckets: number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (!total) return null;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= q * total) return buckets[i] ?? buckets[buckets.length - 1] ?? null;
  }
  return null;
}

async function traffic(body: HTMLElement): Promise<void> {
  const [series, rollouts] = await Promise.all([
    trafficSeries(),
    api<RolloutInfo[]>(`${ADMIN}/rollouts`)
      .then((r) => ({ list: r.data, why: undefined as string | undefined }))
      .catch((x: unknown) => {
        if (x instanceof Unauthorized) throw x;
        return { list: null, why: x instanceof ApiError ? `${x.status}: ${x.message}` : (x as Error).message };
      }),
  ]);
  const charts = series.why
    ? h('p', { class: 'notice', role: 'note' }, `Metrics not available: ${series.why}`)
    : series.byBackend.size === 0
      ? h('p', {}, `No traffic in the last ${TRAFFIC_MINUTES} minutes.`)
      : h(
          'div',
          { class: 'backends' },
          ...[...series.byBackend.entries()]
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([b, pts]) =>
              h(
                'article',
                { class: 'card', 'aria-label': `Traffic of ${b}` },
                h('h4', {}, b),
                h(
                  'div',
                  { class: 'charts' },
                  figure(
                    'Requests / min',
                    sparkline(
                      pts.map((p) => p.requests),
                      {
                        label: `${b}: requests per minute over the last ${TRAFFIC_MINUTES} minutes, latest ${pts.at(-1)?.requests ?? 0}`,
                        unit: 'req',
                        kind: 'requests',
                      },
                    ),
                  ),
                  figure(
                    'Errors / min (5xx and gateway)',
                    sparkline(
                      pts.map((p) => Math.round(p.errors)),
                      { label: `${b}: errors per minute, latest ${Math.round(pts.at(-1)?.errors ?? 0)}`, unit: 'err', kind: 'errors' },
                    ),
                  ),
                  figure(
                    'P99 latency (ms, bucket bound)',
                    sparkline(
                      pts.map((p) => p.p99),
                      { label: `${b}: p99 latency per minute in ms, latest ${pts.at(-1)?.p99 ?? 'none'}`, unit: 'ms', kind: 'latency' },
                    ),
                  ),
                ),
              ),
            ),
        );
  body.replaceChildren(
    h(
      'section',
      { 'aria-labelledby': 'traffic-title' },
      h('h3', { id: 'traffic-title' }, `Traffic per backend, last ${TRAFFIC_MINUTES} minutes`),
      charts,
    ),
    h(
      'section',
      { 'aria-labelledby': 'rollouts-title' },
      h('h3', { id: 'rollouts-title' }, 'Rollouts'),
      rollouts.list === null
        ? h('p', { class: 'notice', role: 'note' }, `Rollouts not available: ${rollouts.why}`)
        : rollouts.list.length === 0
          ? h('p', {}, 'No Rollout is published.')
          : h('div', { class: 'rollouts' }, ...rollouts.list.map(rolloutCard)),
    ),
  );
}

function figure(caption: string, chart: SVGElement): HTMLElement {
  const f = h('figure', {}, h('figcaption', {}, caption));
  f.append(chart);
  return f;
}

const VERBS: Record<string, { label: string; allowed: string[]; confirm: string }> = {
  pause: { label: 'Pause', allowed: ['Pending', 'Progressing'], confirm: 'Pause this rollout? Weights stay where they are.' },
  resume: { label: 'Resume', allowed: ['Paused'], confirm: 'Resume this rollout from its current step?' },
  abort: {
    label: 'Abort',
    allowed: ['Pending', 'Progressing', 'Paused'],
    confirm: 'Abort this rollout? All traffic goes back to the stable backend now.',
  },
  promote: {
    label: 'Promote',
    allowed: ['Pending', 'Progressing', 'Paused'],
    confirm: 'Promote this rollout? All traffic goes to the canary now, skipping analysis.',
  },
};

function rolloutCard(r: RolloutInfo): HTMLElement {
  const key = `${r.namespace}/${r.name}`;
  const a = r.lastAnalysis;
  const status = h('p', { role: 'status', class: 'muted' });
  return h(
    'article',
    { class: 'card rollout', 'aria-label': `Rollout ${key}`, 'data-rollout': key },
    h('h4', {}, key, ' ', badge(r.phase.toLowerCase(), r.phase)),
    h('p', {}, r.target ? `${r.target.route} rule ${r.target.rule}: ` : '', `${r.stable} (stable) → ${r.canary} (canary)`),
    h(
      'ol',
      { class: 'steps-bar', 'aria-label': `Step ${r.step} of ${r.steps}` },
      ...Array.from({ length: r.steps }, (_, i) =>
        h(
          'li',
          { class: i + 1 < r.step ? 'done' : i + 1 === r.step ? 'current' : '', 'aria-current': i + 1 === r.step ? 'step' : undefined },
          `Step ${i + 1}`,
        ),
      ),
    ),
    r.weights
      ? h(
          'p',
          {},
          'Weights: ',
          h('strong', {}, `${r.weights.stable}% stable`),
          ' / ',
          h('strong', {}, `${r.weights.canary}% canary`),
          h('meter', { min: 0, max: 100, value: r.weights.canary, 'aria-label': 'Canary weight (%)' }),
        )
      : null,
    h(
      'p',
      {},
      `Analysis: ${a ? `${a.verdict} at ${fmtTime(a.at)} (step ${a.step})` : 'no check yet'}; failed checks ${r.failedChecks}/${r.threshold}${r.nextCheckAt ? `; next check ${fmtTime(r.nextCheckAt)}` : ''}`,
    ),
    a
      ? h(
          'p',
          { class: 'muted' },
          `canary ${a.canary.requests} req, ${pct(a.canary.errorRate)} errors, p99 ${a.canary.p99Ms ?? '—'} ms · stable ${a.stable.requests} req, ${pct(a.stable.errorRate)} errors, p99 ${a.stable.p99Ms ?? '—'} ms${a.reasons.length ? ` · ${a.reasons.join('; ')}` : ''}`,
        )
      : null,
    h('p', {}, r.message),
    h(
      'div',
      { class: 'actions', role: 'group', 'aria-label': `Actions for ${key}` },
      ...Object.entries(VERBS).map(([verb, v]) =>
        h(
          'button',
          {
            type: 'button',
            class: verb === 'abort' ? 'danger' : '',
            'data-verb': verb,
            disabled: !v.allowed.includes(r.phase),
            onclick: () => void confirmVerb(key, verb, v.confirm, status),
          },
          v.label,
        ),
      ),
    ),
    status,
  );
}

async function confirmVerb(key: string, verb: string, question: string, status: HTMLElement): Promise<void> {
  const dialog = $<HTMLDialogElement>('confirm');
  $('confirm-text').textContent = `${key}: ${question}`;
  $('confirm-ok').textContent = VERBS[verb]!.label;
  const opener = document.activeElement as HTMLElement | null;
  dialog.returnValue = '';
  dialog.showModal();
  $<HTMLButtonElement>('confirm-cancel').focus();
  const answer = await new Promise<string>((resolve) =>
    dialog.addEventListener('close', () => resolve(dialog.returnValue), { once: true }),
  );
  opener?.focus();
  if (answer !== 'ok') return;
  status.textContent = `${verb}…`;
  try {
    const [ns, name] = key.split('/');
    const { data } = await api<RolloutInfo>(`${ADMIN}/rollouts/${encodeURIComponent(ns!)}/${encodeURIComponent(name!)}/${verb}`, {
      method: 'POST',
    });
    status.textContent = `${VERBS[verb]!.label}: now ${data.phase}.`;
    void render(false);
  } catch (x) {
    if (x instanceof Unauthorized) return signOut('The operator token was refused: sign in again.');
    status.textContent = `${VERBS[verb]!.label} failed: ${(x as Error).message}`;
  }
}

const VIEW_RENDERERS: Record<ViewId, (body: HTMLElement, first: boolean) => Promise<void>> = {
  overview,
  health: healthMap,
  routes,
  traffic,
};

// ------------------------------------------------------------------------------------------------ start

function start(): void {
  // Escape hides a tile's tooltip until focus moves on (WCAG 1.4.13: content on hover or focus is dismissible).
  document.addEventListener('keydown', (e) => {
    const wrap = (e.target as HTMLElement | null)?.closest?.('.tile-wrap');
    if (e.key === 'Escape' && wrap) wrap.classList.add('tip-dismissed');
  });
  document.addEventListener('focusout', (e) =>
    (e.target as HTMLElement | null)?.closest?.('.tile-wrap')?.classList.remove('tip-dismissed'),
  );
  $('signin-form').addEventListener('submit', (e) => void signIn(e));
  $('signout').addEventListener('click', () => signOut('Signed out.'));
  $('confirm').addEventListener('cancel', () => ($<HTMLDialogElement>('confirm').returnValue = 'cancel'));
  window.addEventListener('hashchange', () => token.get() && void render(true));
  if (token.get()) enterApp();
  else showSignIn();
}

start();
