// `{{params.NAME}}` references inside YAML string fields.

export const WHOLE_REF = /^\{\{\s*params\.([a-z][a-z0-9_]{0,62})\s*\}\}$/;
const ANY_MUSTACHE = /\{\{\s*([^}]*?)\s*\}\}/g;

export interface RefMatch {
  /** The expression between the braces, e.g. `params.port`. */
  expr: string;
  /** The parameter name when the expression is `params.NAME`. */
  param?: string;
  index: number;
  length: number;
}

export function findRefs(s: string): RefMatch[] {
  const out: RefMatch[] = [];
  for (const m of s.matchAll(ANY_MUSTACHE)) {
    const expr = m[1] ?? '';
    const pm = /^params\.([a-z][a-z0-9_]{0,62})$/.exec(expr);
    const r: RefMatch = { expr, index: m.index ?? 0, length: m[0].length };
    if (pm) r.param = pm[1]!;
    out.push(r);
  }
  return out;
}

export function wholeRef(s: unknown): string | undefined {
  return typeof s === 'string' ? WHOLE_REF.exec(s)?.[1] : undefined;
}
