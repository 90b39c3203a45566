// References between parts of a module: `{{params.NAME}}` in any field, `after`, checker
// `service`, load-balancing `vip`, and start-order cycles.
import type { PathSegment } from '../load/yaml-source.js';
import { closest } from '../util/suggest.js';
import { findRefs } from '../util/refs.js';
import type { Rule, RuleContext } from './context.js';
import { report } from './context.js';

const SKIP_KEYS = new Set(['description', 'parameters']);

export const paramReferences: Rule = (ctx) => {
  const declared = Object.keys(ctx.def.parameters ?? {});
  walkStrings(ctx.def, [], (s, path) => {
    for (const r of findRefs(s)) {
      if (r.param !== undefined && declared.includes(r.param)) continue;
      const name = r.param ?? r.expr;
      const guess = closest(r.param ?? r.expr.replace(/^params\./, ''), declared);
      report(ctx, 'HM304', path, {
        message: r.param !== undefined
          ? `"{{${r.expr}}}" references parameter "${r.param}", which is not declared${guess ? `; did you mean "${guess}"?` : ''}`
          : `"{{${r.expr}}}" is not a parameter reference; fields can only use {{params.NAME}}${guess ? ` (did you mean {{params.${guess}}}?)` : ''}`,
        expected: declared.length ? `one of ${declared.map((d) => `params.${d}`).join(', ')}` : 'a declared parameter (none are declared)',
        actual: name,
        hint: guess ? `use {{params.${guess}}}` : 'declare it under "parameters"',
      });
    }
  });
};

function walkStrings(v: unknown, path: PathSegment[], visit: (s: string, path: PathSegment[]) => void): void {
  const stack: Array<[unknown, PathSegment[]]> = [[v, path]];
  while (stack.length) {
    const [cur, p] = stack.pop()!;
    if (typeof cur === 'string') visit(cur, p);
    else if (Array.isArray(cur)) cur.forEach((x, i) => stack.push([x, [...p, i]]));
    else if (cur && typeof cur === 'object') {
      for (const [k, x] of Object.entries(cur)) if (!SKIP_KEYS.has(k)) stack.push([x, [...p, k]]);
    }
  }
}

export const nameReferences: Rule = (ctx) => {
  const services = ctx.def.services.map((s) => s.name);
  ctx.def.services.forEach((s, i) => {
    s.after?.forEach((a, j) => {
      if (a === s.name) report(ctx, 'HM316', ['services', i, 'after', j], { message: `service "${s.name}" cannot start after itself` });
      else if (!services.includes(a)) unknown(ctx, ['services', i, 'after', j], 'service', a, services);
    });
  });
  ctx.def.checkers?.forEach((c, i) => {
    if (c.type === 'process') {
      if (!services.includes(c.service)) unknown(ctx, ['checkers', i, 'service'], 'service', c.service, services);
      else {
        const svc = ctx.def.services.find((s) => s.name === c.service)!;
        if (svc.run === undefined) report(ctx, 'HM308', ['checkers', i, 'service'], { message: `process checker "${c.name}" watches service "${c.service}", which has no "run" process to watch`, hint: 'give the service a "run" script, or use a tcp/http/command checker' });
      }
    }
    if (c.type === 'module' && c.module === ctx.def.name) report(ctx, 'HM307', ['checkers', i, 'module'], { message: 'a module checker cannot watch its own module' });
  });
  const vips = (ctx.def.virtualIps ?? []).map((v) => v.address);
  ctx.def.loadBalancing?.rules.forEach((r, i) => {
    if (r.vip !== undefined && !vips.includes(r.vip)) unknown(ctx, ['loadBalancing', 'rules', i, 'vip'], 'virtual IP', r.vip, vips);
  });
  if (ctx.def.loadBalancing && vips.length === 0) report(ctx, 'HM308', ['loadBalancing'], { message: 'load balancing needs a virtual IP: add one under "virtualIps"' }, 'key');
  startOrderCycles(ctx);
};

function unknown(ctx: RuleContext, path: PathSegment[], what: string, name: string, known: string[]): void {
  const guess = closest(name, known);
  report(ctx, 'HM308', path, {
    message: `unknown ${what} "${name}"${guess ? `; did you mean "${guess}"?` : ''}`,
    expected: known.length ? `one of ${known.map((k) => `"${k}"`).join(', ')}` : `a declared ${what}`,
    actual: name,
  });
}

function startOrderCycles(ctx: RuleContext): void {
  const byName = new Map(ctx.def.services.map((s, i) => [s.name, { s, i }]));
  const state = new Map<string, 'visiting' | 'done'>();
  const reported = new Set<string>();
  const visit = (name: string, trail: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(name)), name];
      const key = [...cycle].sort().join(',');
      if (!reported.has(key)) {
        reported.add(key);
        const at = byName.get(name)!;
        report(ctx, 'HM316', ['services', at.i, 'after'], { message: `start order cycle: ${cycle.join(' -> ')}` }, 'key');
      }
      return;
    }
    state.set(name, 'visiting');
    for (const a of byName.get(name)?.s.after ?? []) if (a !== name && byName.has(a)) visit(a, [...trail, name]);
    state.set(name, 'done');
  };
  for (const s of ctx.def.services) visit(s.name, []);
}
