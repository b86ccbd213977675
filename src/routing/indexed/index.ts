/** Production matcher: hostname index, then per hostname an Exact-path map, indexed regex lists and a PathPrefix map. */
import type { CompileRoutes, MatchRequest, RouteMatch, RouteMatcher } from '../../routing.js';
import type { HTTPRoute } from '../../schema.js';
import { conditionsPass } from '../conditions.js';
import { HostKind, matcherHost } from '../hostname.js';
import { normalizeRequestPath, pathSegment, prefixMatches, regexSegmentLiterals, segmentIs } from '../path.js';
import { compareWithinHost, countMatches, expandRoutes, PathKind, type Entry } from '../precedence.js';

/*
 * Every candidate list below is sorted by the precedence that remains inside one hostname group (path kind, prefix
 * length, method, headers, query, age, name, rule, match), so the first entry whose conditions pass wins. Across
 * lists of one group, Exact beats every regex, which beats every prefix; longer prefixes are looked up first.
 * Regex entries get `rank` = position among the group's regexes so two regex lists can be merged without sorting.
 * Hostname groups are tried best first (exact host, wildcard suffixes longest first, then routes without
 * hostnames), falling through when a group has no matching rule.
 * Groups of at most `smallGroup` entries (most hosts in a big table) are one sorted list scanned in order: that
 * touches less memory than a map per path kind and builds faster. Hostname groups are sorted and indexed on their
 * first lookup, not at compile time (see `Unbuilt`).
 * Cost per request: one Map lookup for the exact host, at most one per wildcard suffix length present in the table,
 * and per group one Exact lookup, one regex-bucket lookup and one lookup per prefix length present - none of it
 * grows with the number of routes. Regexes without a usable pinned segment (e.g. "/(a|b)/.*") are the exception:
 * they are scanned per group, so large host-less regex sets would grow linearly.
 */

export interface IndexedOptions {
  /** Groups with at most this many entries are scanned as one list (default 8; 0 forces the full index). */
  smallGroup?: number;
  /** Build a hostname group on its first lookup instead of at compile time (default true). */
  lazyGroups?: boolean;
}

/** Index fields stay null when unused: a 10k-route table has thousands of groups. */
interface Group {
  exact: Map<string, Entry[]> | null;
  /** Regexes that pin path segment number `regexPosition` to a literal, keyed by that literal. */
  regexBySegment: Map<string, Entry[]> | null;
  regexPosition: number;
  /** Regexes that could match any path. */
  regexAny: Entry[];
  hasRegex: boolean;
  /** PathPrefix entries keyed by normalised prefix ("" for "/"). */
  prefix: Map<string, Entry[]> | null;
  /** Length of the longest prefix in `prefix`: shorter request-path cuts are the only ones worth looking up. */
  maxPrefix: number;
  /** prefixLengths[n] === 1 when some prefix has n characters: other cuts are skipped without slicing. */
  prefixLengths: Uint8Array | null;
}

const NO_ENTRIES: Entry[] = [];

function newGroup(): Group {
  return {
    exact: null,
    regexBySegment: null,
    regexPosition: 0,
    regexAny: NO_ENTRIES,
    hasRegex: false,
    prefix: null,
    maxPrefix: 0,
    prefixLengths: null,
  };
}

function push<K>(map: Map<K, Entry[]>, key: K, e: Entry): void {
  const list = map.get(key);
  if (list) list.push(e);
  else map.set(key, [e]);
}

/**
 * Sorts a hostname's entries once; a small group is that sorted list, a big one is indexed by distributing the
 * sorted entries, which keeps every index list sorted too.
 */
function buildSlot(all: Entry[], smallGroup: number, arena: Arena): Slot {
  all.sort(compareWithinHost);
  if (all.length === 1 && smallGroup > 0) return all[0]!;
  if (all.length <= smallGroup) return appendSmall(arena, all);
  const g = newGroup();
  const regexes: Entry[] = [];
  for (const e of all) {
    if (e.pathKind === PathKind.Exact) push((g.exact ??= new Map()), e.path, e);
    else if (e.pathKind === PathKind.RegularExpression) regexes.push(e);
    else {
      push((g.prefix ??= new Map()), e.path, e);
      if (e.path.length > g.maxPrefix) g.maxPrefix = e.path.length;
    }
  }
  if (regexes.length > 0) indexRegexes(g, regexes);
  if (g.prefix !== null) {
    g.prefixLengths = new Uint8Array(g.maxPrefix + 1);
    for (const prefix of g.prefix.keys()) g.prefixLengths[prefix.length] = 1;
  }
  return g;
}

/**
 * Buckets the group's regexes by the literal they pin at one segment position, chosen as the position with the most
 * distinct literals (so a table of "/api/v[0-9]+/<resource>/..." regexes is keyed by resource, not by "api").
 * Regexes without a literal there stay in `regexAny`. Both lists keep precedence order via `rank`.
 */
function indexRegexes(g: Group, sorted: Entry[]): void {
  g.hasRegex = true;
  sorted.forEach((e, i) => (e.rank = i));
  const literals = sorted.map((e) => new Map(regexSegmentLiterals(e.path)));
  const distinct = new Map<number, Set<string>>();
  for (const lits of literals)
    for (const [pos, lit] of lits) {
      let set = distinct.get(pos);
      if (!set) distinct.set(pos, (set = new Set()));
      set.add(lit);
    }
  let best = 0;
  let bestCount = 0;
  for (const [pos, set] of distinct)
    if (set.size > bestCount || (set.size === bestCount && pos < best)) [best, bestCount] = [pos, set.size];
  g.regexPosition = best;
  sorted.forEach((e, i) => {
    const lit = best === 0 ? undefined : literals[i]!.get(best);
    if (lit === undefined) {
      if (g.regexAny === NO_ENTRIES) g.regexAny = [];
      g.regexAny.push(e);
    } else push((g.regexBySegment ??= new Map()), lit, e);
  });
}

/** A cold regex is costly to run in a 10k table; a pinned segment rules most paths out first. */
function regexMatches(e: Entry, path: string): boolean {
  return (e.pinPosition === 0 || segmentIs(path, e.pinPosition, e.pinLiteral)) && e.regex!.testExact(path);
}

function entryMatches(e: Entry, path: string): boolean {
  return e.pathKind === PathKind.Exact
    ? path === e.path
    : e.pathKind === PathKind.PathPrefix
      ? prefixMatches(e.path, path)
      : regexMatches(e, path);
}

/**
 * Small groups of one matcher live back to back in one flat array, each as its length followed by [pathKind, path
 * length, path, entry] per entry in precedence order; the hostname maps hold the offset, a small integer stored in
 * the map itself. In a big table every object hop is a likely cache miss: this skips the per-group array and its
 * backing store, and the inline kind and length rule most entries out before their Entry or path string is touched.
 */
type Arena = Array<number | string | Entry>;
const STRIDE = 4;

function appendSmall(arena: Arena, sorted: Entry[]): number {
  const at = arena.length;
  arena.push(sorted.length);
  for (const e of sorted) arena.push(e.pathKind, e.path.length, e.path, e);
  return at;
}

function matchSmall(list: Arena, at: number, path: string, req: MatchRequest): RouteMatch | null {
  const n = path.length;
  const end = at + 1 + (list[at] as number) * STRIDE;
  for (let i = at + 1; i < end; i += STRIDE) {
    const kind = list[i] as PathKind;
    const len = list[i + 1] as number;
    if (kind === PathKind.Exact) {
      if (len !== n || path !== list[i + 2]) continue;
    } else if (kind === PathKind.PathPrefix) {
      if (len > n || (len < n && path.charCodeAt(len) !== 47) /* / */ || !path.startsWith(list[i + 2] as string)) continue;
    } else if (!regexMatches(list[i + 3] as Entry, path)) continue;
    const e = list[i + 3] as Entry;
    if (e.plain || conditionsPass(e.conditions, req)) return e.result;
  }
  return null;
}

function firstPassing(list: Entry[], req: MatchRequest): RouteMatch | null {
  for (let i = 0; i < list.length; i++) {
    const e = list[i]!;
    if (e.plain || conditionsPass(e.conditions, req)) return e.result;
  }
  return null;
}

/**
 * The prefixes that can match `path` are the path itself and every cut just before a "/" (whole segments), so we
 * look those up longest first, starting at the longest prefix the group has. `path` starts with "/".
 */
function matchPrefix(g: Group, path: string, req: MatchRequest): RouteMatch | null {
  const prefixes = g.prefix!;
  const lengths = g.prefixLengths!;
  const maxPrefix = g.maxPrefix;
  let cut: number;
  if (path.length <= maxPrefix) cut = path.length;
  else cut = path.charCodeAt(maxPrefix) === 47 /* / */ ? maxPrefix : path.lastIndexOf('/', maxPrefix);
  for (;;) {
    if (lengths[cut] === 1) {
      const list = prefixes.get(cut === path.length ? path : path.slice(0, cut));
      if (list !== undefined) {
        const r = firstPassing(list, req);
        if (r !== null) return r;
      }
    }
    if (cut === 0) return null;
    cut = path.lastIndexOf('/', cut - 1);
  }
}

function matchRegex(g: Group, path: string, req: MatchRequest): RouteMatch | null {
  let a = NO_ENTRIES;
  if (g.regexBySegment !== null) {
    const seg = pathSegment(path, g.regexPosition);
    if (seg !== null) a = g.regexBySegment.get(seg) ?? NO_ENTRIES;
  }
  const b = g.regexAny;
  // Merge the two rank-sorted lists on the fly instead of allocating a combined one.
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const e = j >= b.length || (i < a.length && a[i]!.rank < b[j]!.rank) ? a[i++]! : b[j++]!;
    if (regexMatches(e, path) && (e.plain || conditionsPass(e.conditions, req))) return e.result;
  }
  return null;
}

function matchGroup(g: Group, path: string, req: MatchRequest): RouteMatch | null {
  if (g.exact !== null) {
    const exact = g.exact.get(path);
    if (exact !== undefined) {
      const r = firstPassing(exact, req);
      if (r !== null) return r;
    }
  }
  if (g.hasRegex) {
    const r = matchRegex(g, path, req);
    if (r !== null) return r;
  }
  if (g.prefix !== null && path.charCodeAt(0) === 47 /* / */) return matchPrefix(g, path, req);
  return null;
}

export function createIndexedCompiler(options: IndexedOptions = {}): CompileRoutes {
  const smallGroup = options.smallGroup ?? 8;
  const lazy = options.lazyGroups ?? true;
  return (routes) => compile(routes, smallGroup, lazy);
}

export const compileIndexed: CompileRoutes = createIndexedCompiler();

/**
 * What a hostname maps to: its only entry, a small group's offset in the arena, or a full group. The first two save
 * the pointer hops through a group object (and an array) that would be cache misses in a 10k-route table.
 */
type Slot = Entry | number | Group;

function matchSlot(arena: Arena, slot: Slot, path: string, req: MatchRequest): RouteMatch | null {
  if (typeof slot === 'number') return matchSmall(arena, slot, path, req);
  if (isGroup(slot)) return matchGroup(slot, path, req);
  return entryMatches(slot, path) && (slot.plain || conditionsPass(slot.conditions, req)) ? slot.result : null;
}

function isGroup(slot: Entry | Group): slot is Group {
  return (slot as Entry).result === undefined;
}

/**
 * A hostname group not built yet. Sorting and indexing thousands of groups dominated compile time, and most hosts of
 * a big table see no request soon after a snapshot swap, so a group is built on its first lookup (regexes were
 * already compiled and validated by `expandRoutes`). The build is a pure function of the group, so answers do not
 * depend on which host is asked first.
 */
class Unbuilt {
  readonly entries: Entry[] = [];
}

/** The slot stored under `key`, building it on first use. */
function slotOf(map: Map<string, Slot | Unbuilt>, key: string, smallGroup: number, arena: Arena): Slot | undefined {
  const v = map.get(key);
  if (!(v instanceof Unbuilt)) return v;
  const slot = buildSlot(v.entries, smallGroup, arena);
  map.set(key, slot);
  return slot;
}

function groupIn(map: Map<string, Slot | Unbuilt>, key: string): Entry[] {
  let g = map.get(key) as Unbuilt | undefined;
  if (g === undefined) map.set(key, (g = new Unbuilt()));
  return g.entries;
}

function buildAll(map: Map<string, Slot | Unbuilt>, smallGroup: number, arena: Arena): void {
  for (const key of map.keys()) slotOf(map, key, smallGroup, arena);
}

function compile(routes: readonly HTTPRoute[], smallGroup: number, lazy: boolean): RouteMatcher {
  const exactSlots = new Map<string, Slot | Unbuilt>();
  const wildcardSlots = new Map<string, Slot | Unbuilt>();
  const arena: Arena = [];
  let any: Entry[] | null = null;
  for (const e of expandRoutes(routes)) {
    if (e.host.kind === HostKind.Exact) groupIn(exactSlots, e.host.hostname).push(e);
    else if (e.host.kind === HostKind.Wildcard) groupIn(wildcardSlots, e.host.suffix).push(e);
    else (any ??= []).push(e);
  }
  if (!lazy) {
    buildAll(exactSlots, smallGroup, arena);
    buildAll(wildcardSlots, smallGroup, arena);
  }
  // Every request that falls through reaches the host-less group: no point in deferring it.
  const anySlot: Slot | null = any === null ? null : buildSlot(any, smallGroup, arena);
  const hasWildcards = wildcardSlots.size > 0;
  // Same trick as prefixLengths: only suffixes whose length some wildcard has are sliced and looked up.
  let maxSuffix = 0;
  for (const suffix of wildcardSlots.keys()) maxSuffix = Math.max(maxSuffix, suffix.length);
  const suffixLengths = new Uint8Array(maxSuffix + 1);
  for (const suffix of wildcardSlots.keys()) suffixLengths[suffix.length] = 1;

  return {
    size: countMatches(routes),
    match(req: MatchRequest): RouteMatch | null {
      const host = matcherHost(req.host);
      const path = normalizeRequestPath(req.path);
      const g = slotOf(exactSlots, host, smallGroup, arena);
      if (g !== undefined) {
        const r = matchSlot(arena, g, path, req);
        if (r !== null) return r;
      }
      if (hasWildcards) {
        // Suffixes at each dot after the first character, longest first: "a.b.c" tries ".b.c", then ".c".
        for (let i = host.indexOf('.', 1); i !== -1; i = host.indexOf('.', i + 1)) {
          const len = host.length - i;
          if (len > maxSuffix || suffixLengths[len] !== 1) continue;
          const w = slotOf(wildcardSlots, host.slice(i), smallGroup, arena);
          if (w !== undefined) {
            const r = matchSlot(arena, w, path, req);
            if (r !== null) return r;
          }
        }
      }
      return anySlot === null ? null : matchSlot(arena, anySlot, path, req);
    },
  };
}
