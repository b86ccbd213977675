/** The table-scale section of docs/benchmarks.md (written by bench/scale.ts), kept when report.ts rewrites the file. */
import { readFileSync } from 'node:fs';

export const SCALE_BEGIN = '<!-- scale:begin (bench/scale.ts; kept by bench/harness/report.ts) -->';
export const SCALE_END = '<!-- scale:end -->';

/** Replaces (or appends) the section in a document. */
export function spliceScaleSection(doc: string, section: string): string {
  const a = doc.indexOf(SCALE_BEGIN);
  const b = doc.indexOf(SCALE_END);
  if (a !== -1 && b > a) return doc.slice(0, a) + section + doc.slice(b + SCALE_END.length);
  return `${doc.trimEnd()}\n\n${section}\n`;
}

/** The section as a file holds it now (empty when absent), for a writer that regenerates everything else. */
export function keptScaleSection(file: string): string[] {
  let doc: string;
  try {
    doc = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const a = doc.indexOf(SCALE_BEGIN);
  const b = doc.indexOf(SCALE_END);
  return a !== -1 && b > a ? [doc.slice(a, b + SCALE_END.length), ''] : [];
}
