/** DOM helpers for the dashboard: elements from data with textContent only (never innerHTML), and SVG charts. */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>;

/** An element with attributes (on* keys become listeners) and children; strings become text nodes. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el: Element, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

const SVG = 'http://www.w3.org/2000/svg';
function s(tag: string, attrs: Record<string, string | number>, ...children: (Node | string)[]): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

/** A small line chart over evenly spaced points; `label` is its accessible name and summary. */
export function sparkline(points: readonly (number | null)[], opts: { label: string; unit: string; kind: string }): SVGElement {
  const W = 240;
  const H = 64;
  const pad = 4;
  const values = points.filter((p): p is number => p !== null);
  const max = Math.max(1e-9, ...values);
  const x = (i: number) => pad + (points.length > 1 ? (i * (W - 2 * pad)) / (points.length - 1) : (W - 2 * pad) / 2);
  const y = (v: number) => H - pad - (v / max) * (H - 2 * pad - 12);
  let d = '';
  points.forEach((p, i) => {
    if (p === null) return;
    d += `${d && points[i - 1] !== null ? 'L' : 'M'}${x(i).toFixed(1)},${y(p).toFixed(1)}`;
  });
  const last = values.length ? values[values.length - 1]! : null;
  const fmt = (v: number) => (v >= 100 ? Math.round(v).toString() : v.toFixed(v >= 10 ? 1 : 2));
  return s(
    'svg',
    { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': opts.label, class: `chart chart-${opts.kind}`, width: W, height: H },
    s('title', {}, opts.label),
    s('line', { x1: pad, x2: W - pad, y1: H - pad, y2: H - pad, class: 'axis' }),
    s('text', { x: pad, y: 11, class: 'chart-label' }, `max ${fmt(max)} ${opts.unit}${last !== null ? ` · now ${fmt(last)}` : ''}`),
    ...(d
      ? [s('path', { d, class: 'line' })]
      : [s('text', { x: W / 2, y: H / 2 + 6, 'text-anchor': 'middle', class: 'chart-label' }, 'no data')]),
    // A point with no neighbour draws no line: mark it.
    ...points.flatMap((p, i) =>
      p !== null && (points[i - 1] ?? null) === null && (points[i + 1] ?? null) === null
        ? [s('circle', { cx: x(i), cy: y(p), r: 2.5, class: 'dot' })]
        : [],
    ),
  );
}

export const fmtTime = (iso: string | number | null | undefined): string => {
  if (iso === null || iso === undefined) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
};

export const ago = (iso: string | number | null | undefined, now = Date.now()): string => {
  if (iso === null || iso === undefined) return 'never';
  const ms = now - new Date(iso).getTime();
  if (!Number.isFinite(ms)) return String(iso);
  if (ms < 60_000) return `${Math.max(0, Math.round(ms / 1000))} s ago`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min ago`;
  return `${Math.round(ms / 3_600_000)} h ago`;
};

export const pct = (share: number): string => `${(share * 100).toFixed(share > 0 && share < 0.1 ? 1 : 0)}%`;
