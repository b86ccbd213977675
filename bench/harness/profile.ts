/**
 * Per-stage CPU breakdown of the Edgeway target from a V8 CPU profile: a separate workerd (same config, only the
 * Edgeway Worker, inspector on) is loaded with wrk while the inspector's sampling profiler runs. Self time is
 * attributed to the source file of the bundle it ran in (esbuild's `// path` comments give the line ranges);
 * native functions (fetch, Headers, JSON, crypto...) count for the JS file that called them. "(program)" is
 * workerd's own C++ outside JavaScript (HTTP parsing, sockets, KV/DO plumbing). A separate process, because the
 * inspector may slow the isolate: these shares are not mixed with the measured rounds.
 */
import { readFileSync } from 'node:fs';
import type { Bundle } from './prod.js';
import type { ProfileResult } from './types.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Sorted [firstLine, file] pairs (0-based lines) from esbuild's module comments. */
function fileRanges(bundleFile: string): [number, string][] {
  const lines = readFileSync(bundleFile, 'utf8').split('\n');
  const out: [number, string][] = [[0, '(bundle prelude)']];
  lines.forEach((l, i) => {
    const m = /^\/\/ ((?:src|node_modules|bench)\/\S+)$/.exec(l);
    if (m) out.push([i, m[1]!]);
  });
  return out;
}

function fileAt(ranges: [number, string][], line: number): string {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ranges[mid]![0] <= line) lo = mid;
    else hi = mid - 1;
  }
  return ranges[lo]![1];
}

/** Groups files into the stages a reader thinks in. */
export function areaOf(file: string): string {
  if (file.startsWith('node_modules/hono/')) return 'Hono (router, context)';
  if (file.startsWith('node_modules/zod/') || file.startsWith('node_modules/@hono/zod')) return 'zod';
  if (file.startsWith('node_modules/')) return `other dependency (${file.split('/')[1]})`;
  return file;
}

export function analyse(profile: CpuProfile, bundle: Bundle, requests: number): ProfileResult {
  const ranges = fileRanges(bundle.file);
  const source = readFileSync(bundle.file, 'utf8').split('\n');
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Time per node from the sample stream (timeDeltas[i] is the time before sample i).
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  }
  const isBundle = (url: string) => url !== '' && !url.startsWith('node:') && !url.includes('kv-worker');
  const fileOf = (n: ProfileNode): string => {
    const f = n.callFrame;
    if (f.functionName === '(program)') return '(program: workerd outside JS)';
    if (f.functionName === '(garbage collector)') return '(garbage collector)';
    if (f.functionName === '(idle)') return '(idle)';
    if (f.functionName === '(root)') return '(root)';
    if (isBundle(f.url)) return areaOf(fileAt(ranges, f.lineNumber));
    // Native or builtin: charge the nearest JS caller.
    for (let p = parent.get(n.id); p !== undefined; p = parent.get(p)) {
      const pn = byId.get(p)!;
      if (isBundle(pn.callFrame.url)) return `${areaOf(fileAt(ranges, pn.callFrame.lineNumber))}`;
    }
    return '(native, no JS caller)';
  };
  const perFile = new Map<string, { us: number; native: number }>();
  const perFn = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const file = fileOf(n);
    if (file === '(idle)') {
      idle += us;
      continue;
    }
    busy += us;
    const e = perFile.get(file) ?? { us: 0, native: 0 };
    e.us += us;
    if (!isBundle(n.callFrame.url) && !file.startsWith('(')) e.native += us;
    perFile.set(file, e);
    // Anonymous functions are named by the start of their first line in the bundle (e.g. `const log = (line) => ...`).
    const js = isBundle(n.callFrame.url);
    const anon = js && !n.callFrame.functionName ? ` \`${(source[n.callFrame.lineNumber] ?? '').trim().slice(0, 70)}\`` : '';
    const fname = `${n.callFrame.functionName || '(anonymous)'}${anon} [${js ? areaOf(fileAt(ranges, n.callFrame.lineNumber)) : 'native'}]`;
    perFn.set(fname, (perFn.get(fname) ?? 0) + us);
  }
  const per = (us: number) => (requests > 0 ? us / requests : 0);
  return {
    requests,
    sampledMs: (busy + idle) / 1000,
    busyUsPerRequest: per(busy),
    idleShare: busy + idle > 0 ? idle / (busy + idle) : 0,
    byFile: [...perFile.entries()]
      .map(([file, e]) => ({ file, usPerRequest: per(e.us), nativeUsPerRequest: per(e.native), share: busy ? e.us / busy : 0 }))
      .sort((a, b) => b.usPerRequest - a.usPerRequest),
    topFunctions: [...perFn.entries()]
      .map(([fn, us]) => ({ fn, usPerRequest: per(us), share: busy ? us / busy : 0 }))
      .sort((a, b) => b.usPerRequest - a.usPerRequest)
      .slice(0, Number(process.env.PROFILE_TOP ?? 15)),
  };
}

/** Minimal Chrome DevTools Protocol client over Node's global WebSocket. */
export async function withInspector<T>(
  url: string,
  body: (send: (method: string, params?: object) => Promise<unknown>) => Promise<T>,
): Promise<T> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    ws.addEventListener('error', () => reject(new Error(`cannot connect to the inspector at ${url}`)), { once: true });
  });
  let next = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  ws.addEventListener('message', (ev) => {
    const msg = JSON.parse(String(ev.data)) as { id?: number; result?: unknown; error?: { message: string } };
    if (msg.id === undefined) return;
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error) p?.reject(new Error(msg.error.message));
    else p?.resolve(msg.result);
  });
  const send = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  try {
    return await body(send);
  } finally {
    ws.close();
  }
}

export type { CpuProfile };
