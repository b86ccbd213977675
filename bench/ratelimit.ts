/** Rate-limit accuracy bench: many clients on one hot key through per-isolate leases against the real limiter core, on a virtual clock. */
import { LimiterCore } from '../src/ratelimit/limiter.js';
import { LeaseTable } from '../src/ratelimit/lease.js';
import type { AcquireRequest, AcquireResult, LimiterConfig } from '../src/ratelimit.js';
import { seededRandom } from '../test/support/seeded.js';

export interface AccuracyOptions {
  clients?: number;
  isolates?: number;
  limit?: number;
  windowMs?: number;
  durationMs?: number;
  algorithm?: LimiterConfig['algorithm'];
  /** Mean pause between a client's requests (uniform 0..2x). */
  thinkMs?: number;
  /** One-way latency isolate <-> object, per isolate uniform in [min, max]. */
  latencyMs?: [number, number];
  seed?: number;
}

export interface AccuracyReport {
  limit: number;
  windowMs: number;
  durationMs: number;
  requests: number;
  /** Allowed answers within [0, duration). */
  allowed: number;
  /** limit x duration/window: what a perfect limiter allows to saturating clients. */
  ideal: number;
  /** Most allowed requests in any window (t - W, t], at the time the client got its answer. */
  maxInAnyWindow: number;
  /** Denials that reached a client while fewer than 90% of the limit had been allowed (answered, before it) in the trailing window. */
  deniedUnder90: number;
  /** Denials in the first window (a cold burst: 100 clients at once). */
  deniedUnder90FirstWindow: number;
  denied: number;
  /** Calls that reached the Durable Object (per second of virtual time). */
  objectCallsPerSecond: number;
}

/** Min-heap of timed callbacks: the virtual clock. */
class Sim {
  now = 0;
  private seq = 0;
  private heap: { t: number; s: number; fn: () => void }[] = [];
  at(t: number, fn: () => void): void {
    const h = this.heap;
    // Whole milliseconds, as Date.now() gives in Workers.
    h.push({ t: Math.ceil(t), s: this.seq++, fn });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.t < h[i]!.t || (h[p]!.t === h[i]!.t && h[p]!.s < h[i]!.s)) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }
  private pop() {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        const less = (a: number, b: number) => h[a]!.t < h[b]!.t || (h[a]!.t === h[b]!.t && h[a]!.s < h[b]!.s);
        if (l < h.length && less(l, m)) m = l;
        if (r < h.length && less(r, m)) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
  async run(until: number): Promise<void> {
    while (this.heap.length) {
      const e = this.pop();
      if (e.t > until) break;
      this.now = e.t;
      e.fn();
      // Let every promise continuation caused by this event run before virtual time moves on.
      await new Promise<void>((r) => setImmediate(r));
    }
  }
}

export async function runRateLimitAccuracy(opts: AccuracyOptions = {}): Promise<AccuracyReport> {
  const o = {
    clients: 100,
    isolates: 10,
    limit: 100,
    windowMs: 10_000,
    durationMs: 60_000,
    algorithm: 'SlidingWindow' as const,
    thinkMs: 20,
    latencyMs: [1, 25] as [number, number],
    seed: 1,
    ...opts,
  };
  const rand = seededRandom(o.seed);
  const sim = new Sim();
  const config: LimiterConfig = { algorithm: o.algorithm, limits: [{ requests: o.limit, windowMs: o.windowMs }], countDenied: false };
  const core = new LimiterCore(config);
  const isolates = Array.from({ length: o.isolates }, () => ({
    table: new LeaseTable(10_000, () => sim.now),
    lat: o.latencyMs[0] + rand() * (o.latencyMs[1] - o.latencyMs[0]),
  }));
  let objectCalls = 0;
  const allowedAt: number[] = [];
  const deniedAt: number[] = [];
  /** Allowed answers given before each denial: "at the moment of that denial" is an order, not a millisecond. */
  const allowedBefore: number[] = [];
  let requests = 0;

  const acquireVia = (lat: number) => (req: AcquireRequest) =>
    new Promise<AcquireResult>((resolve) => {
      // The object is one thread: requests are processed in arrival order at arrival time.
      sim.at(sim.now + lat, () => {
        objectCalls++;
        const res = core.acquire(structuredClone(req), sim.now);
        sim.at(sim.now + lat, () => resolve(res));
      });
    });
  const releaseVia = (lat: number) => (returns: AcquireRequest['returns'] & object) => {
    const copy = structuredClone(returns);
    sim.at(sim.now + lat, () => {
      objectCalls++;
      core.release(copy, sim.now);
    });
  };

  const client = (c: number) => {
    const iso = isolates[c % isolates.length]!;
    const go = () => {
      if (sim.now >= o.durationMs) return;
      requests++;
      iso.table.take('hot', config, sim.now, acquireVia(iso.lat), releaseVia(iso.lat)).then((r) => {
        if (r.allowed) allowedAt.push(sim.now);
        else {
          deniedAt.push(sim.now);
          allowedBefore.push(allowedAt.length);
        }
        sim.at(sim.now + rand() * 2 * o.thinkMs, go);
      });
    };
    sim.at(rand() * o.thinkMs, go);
  };
  for (let c = 0; c < o.clients; c++) client(c);
  await sim.run(o.durationMs + 5_000);

  // Sliding-window counts over the answer times (already in time order).
  let maxInAnyWindow = 0;
  for (let i = 0, j = 0; i < allowedAt.length; i++) {
    while (allowedAt[j]! <= allowedAt[i]! - o.windowMs) j++;
    maxInAnyWindow = Math.max(maxInAnyWindow, i - j + 1);
  }
  let deniedUnder90 = 0;
  let deniedUnder90FirstWindow = 0;
  for (let d = 0, lo = 0; d < deniedAt.length; d++) {
    const t = deniedAt[d]!;
    // Only answers given before the denial count, not those later in the same millisecond.
    const hi = allowedBefore[d]!;
    while (lo < hi && allowedAt[lo]! <= t - o.windowMs) lo++;
    if (hi - lo < 0.9 * o.limit) {
      deniedUnder90++;
      if (t < o.windowMs) deniedUnder90FirstWindow++;
    }
  }
  return {
    limit: o.limit,
    windowMs: o.windowMs,
    durationMs: o.durationMs,
    requests,
    allowed: allowedAt.filter((t) => t < o.durationMs).length,
    ideal: Math.ceil((o.limit * o.durationMs) / o.windowMs),
    maxInAnyWindow,
    deniedUnder90,
    deniedUnder90FirstWindow,
    denied: deniedAt.length,
    objectCallsPerSecond: Math.round(objectCalls / (o.durationMs / 1000)),
  };
}

const isMain = typeof process !== 'undefined' && process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (isMain) {
  const t0 = performance.now();
  const r = await runRateLimitAccuracy();
  const over = ((r.maxInAnyWindow - r.limit) / r.limit) * 100;
  console.log(JSON.stringify({ ...r, realMs: Math.round(performance.now() - t0) }, null, 2));
  console.log(
    `allowed ${r.allowed} over ${r.durationMs / 1000}s (ideal ${r.ideal}); max in any ${r.windowMs / 1000}s window ${r.maxInAnyWindow} vs limit ${r.limit} (${over.toFixed(1)}% over); denied while under 90%: ${r.deniedUnder90} of ${r.denied} denials (${r.deniedUnder90FirstWindow} of them in the cold first window)`,
  );
}
