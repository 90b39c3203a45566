// Install-time parameters: `--set key=value` strings checked against the plan's typed parameters,
// and plan values ({ param } references) resolved with them. Pure.
import { checkParamValue } from '../../compiler/rules/network.js';
import type { CompiledPlan, PlanInt, PlanString } from '../../compiler/plan/types.js';

export type ParamValues = Record<string, string | number | boolean>;

export class ParamError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'ParamError';
  }
}

/** Parses `key=value` pairs; every problem is reported at once and nothing is returned on error. */
export function parseSetFlags(sets: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const problems: string[] = [];
  for (const s of sets) {
    const i = s.indexOf('=');
    if (i <= 0) { problems.push(`--set ${JSON.stringify(s)}: expected key=value`); continue; }
    const k = s.slice(0, i);
    if (k in out) problems.push(`--set ${k} is given twice`);
    out[k] = s.slice(i + 1);
  }
  if (problems.length) throw new ParamError(problems);
  return out;
}

/** Validates given values against the plan and fills defaults. Throws ParamError listing all problems. */
export function resolveParams(plan: CompiledPlan, given: Record<string, string>): ParamValues {
  const problems: string[] = [];
  const out: ParamValues = {};
  const declared = new Set(plan.parameters.map((p) => p.name));
  for (const k of Object.keys(given)) if (!declared.has(k)) problems.push(`unknown parameter "${k}" (module ${plan.module.name} declares: ${[...declared].join(', ') || 'none'})`);
  for (const p of plan.parameters) {
    const raw = given[p.name];
    if (raw === undefined) {
      if (p.default !== undefined) out[p.name] = p.default;
      else problems.push(`parameter "${p.name}" (${p.type}) is required: --set ${p.name}=...`);
      continue;
    }
    const problem = checkParamValue(p, raw);
    if (problem) { problems.push(`parameter "${p.name}" ${problem} (got ${p.type === 'secret' ? '***' : JSON.stringify(raw)})`); continue; }
    out[p.name] = p.type === 'integer' || p.type === 'port' ? Number(raw) : p.type === 'boolean' ? raw === 'true' : raw;
  }
  if (problems.length) throw new ParamError(problems);
  return out;
}

export function resolveString(v: PlanString, params: ParamValues): string {
  if (typeof v === 'string') return v;
  if ('param' in v) return String(params[v.param] ?? '');
  return v.concat.map((p) => (typeof p === 'string' ? p : String(params[p.param] ?? ''))).join('');
}

export function resolveInt(v: PlanInt, params: ParamValues): number {
  return typeof v === 'number' ? v : Number(params[v.param]);
}

/** Environment for a module's scripts: HAMOD_PARAM_* for every parameter, plus identity. */
export function scriptEnv(plan: CompiledPlan, params: ParamValues, extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };
  for (const p of plan.parameters) env[p.env] = String(params[p.name] ?? '');
  env.HAMOD_MODULE = plan.module.name;
  env.HAMOD_MODULE_VERSION = plan.module.version;
  return { ...env, ...extra };
}

/** Values that must never appear in logs: the module's secret parameters. */
export function secretValues(plan: CompiledPlan, params: ParamValues): string[] {
  return plan.parameters.filter((p) => p.type === 'secret').map((p) => String(params[p.name] ?? '')).filter((s) => s.length > 0);
}
