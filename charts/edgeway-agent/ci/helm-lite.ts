/**
 * A small renderer for the Go-template subset this chart uses (no helm binary here): {{ }} with -trim, field paths,
 * $, string/number literals, parentheses, pipelines, if/else if/else, range, with, define/include, and the Sprig
 * functions listed in FUNCS. Anything else throws, so templates cannot silently drift outside what is tested.
 */
import { stringify } from 'yaml';

type Ctx = Record<string, unknown>;
type Node =
  | { t: 'text'; v: string }
  | { t: 'out'; expr: string }
  | { t: 'if'; branches: { cond: string | null; body: Node[] }[] }
  | { t: 'range' | 'with'; expr: string; body: Node[]; elseBody: Node[] };

interface Token {
  kind: 'text' | 'action';
  v: string;
}

function lex(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      out.push({ kind: 'text', v: src.slice(i) });
      break;
    }
    let text = src.slice(i, open);
    const close = src.indexOf('}}', open);
    if (close < 0) throw new Error(`unclosed action at ${open}`);
    let body = src.slice(open + 2, close);
    if (body.startsWith('-')) {
      text = text.replace(/\s+$/, '');
      body = body.slice(1);
    }
    let next = close + 2;
    if (body.endsWith('-')) {
      body = body.slice(0, -1);
      const m = /^\s*/.exec(src.slice(next))!;
      next += m[0].length;
    }
    out.push({ kind: 'text', v: text });
    out.push({ kind: 'action', v: body.trim() });
    i = next;
  }
  return out;
}

function parse(tokens: Token[], defines: Map<string, Node[]>): Node[] {
  let pos = 0;
  const block = (stops: string[]): { nodes: Node[]; stop: string } => {
    const nodes: Node[] = [];
    while (pos < tokens.length) {
      const tok = tokens[pos++]!;
      if (tok.kind === 'text') {
        if (tok.v) nodes.push({ t: 'text', v: tok.v });
        continue;
      }
      const a = tok.v;
      const word = a.split(/\s+/)[0]!;
      if (a.startsWith('/*')) continue;
      if (stops.includes(word) || (word === 'else' && stops.includes('else'))) return { nodes, stop: a };
      if (word === 'if') {
        const branches: { cond: string | null; body: Node[] }[] = [];
        let cond: string | null = a.slice(2).trim();
        for (;;) {
          const b = block(['else', 'end']);
          branches.push({ cond, body: b.nodes });
          if (b.stop === 'end') break;
          const rest = b.stop.slice(4).trim();
          cond = rest.startsWith('if ') ? rest.slice(3).trim() : null;
          if (cond === null) {
            const last = block(['end']);
            branches.push({ cond: null, body: last.nodes });
            break;
          }
        }
        nodes.push({ t: 'if', branches });
      } else if (word === 'range' || word === 'with') {
        const b = block(['else', 'end']);
        let elseBody: Node[] = [];
        if (b.stop !== 'end') elseBody = block(['end']).nodes;
        nodes.push({ t: word, expr: a.slice(word.length).trim(), body: b.nodes, elseBody });
      } else if (word === 'define') {
        const name = JSON.parse(a.slice(6).trim()) as string;
        defines.set(name, block(['end']).nodes);
      } else if (word === 'end' || word === 'else') throw new Error(`unexpected {{ ${a} }}`);
      else nodes.push({ t: 'out', expr: a });
    }
    if (stops.length) throw new Error(`missing {{ end }} (wanted ${stops.join('/')})`);
    return { nodes, stop: '' };
  };
  return block([]).nodes;
}

const truthy = (v: unknown) =>
  !(v === undefined || v === null || v === false || v === 0 || v === '' || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0));

const toYaml = (v: unknown) => (v === undefined || v === null ? '' : stringify(v, { lineWidth: 0 }).replace(/\n$/, ''));
const indent = (n: number, s: string) => s.split('\n').map((l) => ' '.repeat(n) + l).join('\n');

export class HelmLite {
  private defines = new Map<string, Node[]>();
  readonly FUNCS: Record<string, (...a: unknown[]) => unknown> = {
    quote: (v) => JSON.stringify(v === undefined || v === null ? '' : String(v)),
    toYaml: (v) => toYaml(v),
    toJson: (v) => JSON.stringify(v ?? null),
    nindent: (n, s) => `\n${indent(n as number, String(s))}`,
    indent: (n, s) => indent(n as number, String(s)),
    default: (d, v) => (truthy(v) ? v : d),
    trunc: (n, s) => String(s).slice(0, n as number),
    trimSuffix: (suf, s) => (String(s).endsWith(suf as string) ? String(s).slice(0, -(suf as string).length) : String(s)),
    printf: (fmt, ...args) => {
      let i = 0;
      return String(fmt).replace(/%[sdv]/g, () => String(args[i++]));
    },
    b64enc: (s) => Buffer.from(String(s)).toString('base64'),
    toString: (v: unknown) => String(v),
    not: (v) => !truthy(v),
    and: (...a) => a.every(truthy),
    or: (...a) => a.find(truthy) ?? a[a.length - 1],
    eq: (a, b) => a === b,
    ne: (a, b) => a !== b,
    empty: (v) => !truthy(v),
    required: (msg, v) => {
      if (!truthy(v)) throw new Error(String(msg));
      return v;
    },
    include: (name, ctx) => {
      const body = this.defines.get(name as string);
      if (!body) throw new Error(`no template "${name}"`);
      return this.exec(body, ctx as Ctx, ctx as Ctx);
    },
  };

  load(src: string): Node[] {
    return parse(lex(src), this.defines);
  }

  render(nodes: Node[], root: Ctx): string {
    return this.exec(nodes, root, root);
  }

  private exec(nodes: Node[], dot: unknown, root: Ctx): string {
    let out = '';
    for (const n of nodes) {
      if (n.t === 'text') out += n.v;
      else if (n.t === 'out') {
        const v = this.evalPipeline(n.expr, dot, root);
        out += v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
      } else if (n.t === 'if') {
        const b = n.branches.find((br) => br.cond === null || truthy(this.evalPipeline(br.cond, dot, root)));
        if (b) out += this.exec(b.body, dot, root);
      } else {
        const v = this.evalPipeline(n.expr, dot, root);
        if (n.t === 'with') out += truthy(v) ? this.exec(n.body, v, root) : this.exec(n.elseBody, dot, root);
        else {
          const items = Array.isArray(v) ? v : v && typeof v === 'object' ? Object.values(v) : [];
          out += items.length ? items.map((item) => this.exec(n.body, item, root)).join('') : this.exec(n.elseBody, dot, root);
        }
      }
    }
    return out;
  }

  private tokens(expr: string): string[] {
    const re = /\s*("(?:[^"\\]|\\.)*"|\(|\)|\||[^\s()|]+)/g;
    const out: string[] = [];
    for (const m of expr.matchAll(re)) out.push(m[1]!);
    return out;
  }

  private evalPipeline(expr: string, dot: unknown, root: Ctx): unknown {
    const toks = this.tokens(expr);
    let i = 0;
    const term = (): unknown => {
      const t = toks[i++];
      if (t === undefined) throw new Error(`unexpected end of "${expr}"`);
      if (t === '(') {
        const v = pipeline();
        if (toks[i++] !== ')') throw new Error(`missing ) in "${expr}"`);
        return v;
      }
      if (t.startsWith('"')) return JSON.parse(t);
      if (/^-?\d+$/.test(t)) return Number(t);
      if (t === 'true' || t === 'false') return t === 'true';
      if (t === '.') return dot;
      if (t.startsWith('.') || t.startsWith('$')) {
        const base: unknown = t.startsWith('$') ? root : dot;
        const path = t.replace(/^\$/, '').split('.').filter(Boolean);
        return path.reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Ctx)[k] : undefined), base);
      }
      throw new Error(`unsupported term "${t}" in "${expr}"`);
    };
    const command = (piped: unknown[]): unknown => {
      const t = toks[i];
      if (t && /^[a-zA-Z]\w*$/.test(t) && !['true', 'false'].includes(t)) {
        i++;
        const fn = this.FUNCS[t];
        if (!fn) throw new Error(`unsupported function "${t}"`);
        const args: unknown[] = [];
        while (i < toks.length && toks[i] !== '|' && toks[i] !== ')') args.push(term());
        return fn(...args, ...piped);
      }
      return term();
    };
    const pipeline = (): unknown => {
      let v = command([]);
      while (toks[i] === '|') {
        i++;
        v = command([v]);
      }
      return v;
    };
    const v = pipeline();
    if (i !== toks.length) throw new Error(`trailing tokens in "${expr}"`);
    return v;
  }
}

/** Renders every template of a chart directory: { "templates/x.yaml": text }. Helpers (_*.tpl) load first. */
export async function renderChart(chartDir: string, values: Ctx, release = { Name: 'edgeway-agent', Namespace: 'edgeway-system' }) {
  const { readFileSync, readdirSync } = await import('node:fs');
  const path = await import('node:path');
  const { parse: parseYaml } = await import('yaml');
  const chart = parseYaml(readFileSync(path.join(chartDir, 'Chart.yaml'), 'utf8')) as Ctx;
  const h = new HelmLite();
  const files = readdirSync(path.join(chartDir, 'templates')).sort();
  for (const f of files.filter((f) => f.startsWith('_'))) h.load(readFileSync(path.join(chartDir, 'templates', f), 'utf8'));
  const root: Ctx = { Values: values, Release: { ...release, Service: 'Helm' }, Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion } };
  const out: Record<string, string> = {};
  for (const f of files.filter((f) => !f.startsWith('_') && f.endsWith('.yaml')))
    out[`templates/${f}`] = h.render(h.load(readFileSync(path.join(chartDir, 'templates', f), 'utf8')), root);
  return out;
}

/** Deep merge for --set style overrides (objects merge, everything else replaces). */
export function mergeValues(base: Ctx, over: Ctx): Ctx {
  const out: Ctx = { ...base };
  for (const [k, v] of Object.entries(over))
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object' && !Array.isArray(out[k]) ? mergeValues(out[k] as Ctx, v as Ctx) : v;
  return out;
}
