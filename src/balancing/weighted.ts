/** Weighted choice: random for plain requests, weighted rendezvous hashing for sticky sessions. */
import type { WeightedChoice } from '../balancing.js';

/** Index chosen with probability weight/Σweight, or -1 when no candidate has weight. */
export function chooseWeighted(items: readonly WeightedChoice[], rand: () => number, allowed: (i: number) => boolean = () => true): number {
  let total = 0;
  for (let i = 0; i < items.length; i++) if (allowed(i)) total += Math.max(0, items[i]!.weight);
  if (total <= 0) return -1;
  let point = rand() * total;
  let last = -1;
  for (let i = 0; i < items.length; i++) {
    const w = allowed(i) ? Math.max(0, items[i]!.weight) : 0;
    if (w <= 0) continue;
    last = i;
    if (point < w) return i;
    point -= w;
  }
  return last;
}

/** cyrb53-style 53-bit string hash mapped into (0, 1): fast, synchronous, well mixed. */
export function hashToUnit(input: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < input.length; i++) {
    const ch = input.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  const n = 4294967296 * (2097151 & h2) + (h1 >>> 0);
  return (n + 0.5) / 9007199254740992;
}

/**
 * Weighted rendezvous (highest random weight) hashing. Every isolate derives the same choice from the session
 * key alone, so stickiness needs no shared state; removing a candidate moves only the sessions that were on it,
 * and with random keys each candidate gets exactly weight/Σweight of them.
 */
export function chooseSticky(
  items: readonly (WeightedChoice & { id: string })[],
  sessionKey: string,
  allowed: (i: number) => boolean = () => true,
): number {
  let best = -1;
  let bestScore = Infinity;
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if (item.weight <= 0 || !allowed(i)) continue;
    const score = -Math.log(hashToUnit(`${sessionKey}\u0000${item.id}`)) / item.weight;
    if (score < bestScore) {
      bestScore = score;
      best = i;
    }
  }
  return best;
}
