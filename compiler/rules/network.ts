// Addresses and ports: literal values must be valid; references must point at a parameter of a
// fitting type (an `ip` parameter for an address, a `port`/`integer` one for a port).
import type { PathSegment } from '../load/yaml-source.js';
import type { ParamType } from '../model.js';
import { isIpAddress } from '../util/net.js';
import { findRefs, wholeRef } from '../util/refs.js';
import type { Rule, RuleContext } from './context.js';
import { report } from './context.js';

function checkAddress(ctx: RuleContext, value: string, path: PathSegment[], what: string, allowHostname = false): void {
  const ref = wholeRef(value);
  if (ref !== undefined) {
    expectParamType(ctx, ref, path, allowHostname ? ['ip', 'string'] : ['ip'], what);
    return;
  }
  if (findRefs(value).length > 0) {
    report(ctx, 'HM306', path, { message: `${what} must be an address or a single {{params.NAME}} reference, not a mix`, actual: value });
    return;
  }
  if (isIpAddress(value)) return;
  if (allowHostname && /^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/.test(value)) return;
  report(ctx, 'HM306', path, { message: `${what} "${value}" is not an IPv4 or IPv6 address`, expected: allowHostname ? 'an IP address or host name' : 'an IP address such as 198.18.0.10 or 2001:db8::10', actual: value });
}

function expectParamType(ctx: RuleContext, name: string, path: PathSegment[], types: ParamType[], what: string): void {
  const p = ctx.def.parameters?.[name];
  if (!p) return; // undeclared: reported by paramReferences
  if (!types.includes(p.type)) {
    report(ctx, 'HM310', path, { message: `${what} uses parameter "${name}" of type ${p.type}`, expected: `a parameter of type ${types.join(' or ')}`, actual: p.type, hint: `declare "${name}" with type: ${types[0]}` });
  }
}

export const addresses: Rule = (ctx) => {
  const d = ctx.def;
  d.virtualIps?.forEach((v, i) => {
    checkAddress(ctx, v.address, ['virtualIps', i, 'address'], 'virtual IP');
    if (v.prefix !== undefined && isIpAddress(v.address) && v.address.includes('.') && v.prefix > 32) {
      report(ctx, 'HM206', ['virtualIps', i, 'prefix'], { message: `prefix /${v.prefix} is too long for an IPv4 address`, expected: '0-32', actual: String(v.prefix) });
    }
  });
  d.checkers?.forEach((c, i) => {
    if (c.type === 'ping') c.addresses.forEach((a, j) => checkAddress(ctx, a, ['checkers', i, 'addresses', j], 'ping address'));
    if (c.type === 'tcp' && c.host !== undefined) checkAddress(ctx, c.host, ['checkers', i, 'host'], 'tcp checker host', true);
  });
};

export const ports: Rule = (ctx) => {
  const d = ctx.def;
  d.checkers?.forEach((c, i) => {
    if (c.type === 'tcp') checkPort(ctx, c.port, ['checkers', i, 'port']);
  });
  d.loadBalancing?.rules.forEach((r, i) => {
    r.ports.forEach((p, j) => {
      const path: PathSegment[] = ['loadBalancing', 'rules', i, 'ports', j];
      if (typeof p === 'string' && /^[0-9]+-[0-9]+$/.test(p)) {
        const [a, b] = p.split('-').map(Number) as [number, number];
        if (a < 1 || a > 65535 || b < 1 || b > 65535) report(ctx, 'HM305', path, { message: `port range "${p}" is outside 1-65535`, expected: 'ports between 1 and 65535', actual: p });
        else if (a > b) report(ctx, 'HM305', path, { message: `port range "${p}" is reversed`, expected: `${b}-${a}`, actual: p });
      } else checkPort(ctx, p, path);
    });
  });
};

function checkPort(ctx: RuleContext, p: number | string, path: PathSegment[]): void {
  const ref = wholeRef(p);
  if (ref !== undefined) expectParamType(ctx, ref, path, ['port', 'integer'], 'port');
}

export const parameterDefaults: Rule = (ctx) => {
  for (const [name, p] of Object.entries(ctx.def.parameters ?? {})) {
    const at = ['parameters', name];
    if (p.type === 'secret' && p.default !== undefined) {
      report(ctx, 'HM311', [...at, 'default'], { message: `secret parameter "${name}" cannot have a default: secrets are given at install time and never stored in bundles`, hint: 'remove the default and mark it required: true' }, 'key');
      continue;
    }
    if (p.type === 'enum' && !p.values) report(ctx, 'HM202', at, { message: `enum parameter "${name}" needs "values"`, expected: 'a "values" list' }, 'key');
    if (p.type !== 'enum' && p.values) report(ctx, 'HM310', [...at, 'values'], { message: `"values" only applies to enum parameters, and "${name}" is ${p.type}` }, 'key');
    if ((p.minimum !== undefined || p.maximum !== undefined) && p.type !== 'integer') report(ctx, 'HM310', at, { message: `"minimum"/"maximum" only apply to integer parameters, and "${name}" is ${p.type}` }, 'key');
    if (p.minimum !== undefined && p.maximum !== undefined && p.minimum > p.maximum) report(ctx, 'HM206', [...at, 'minimum'], { message: `minimum ${p.minimum} is greater than maximum ${p.maximum}` });
    if (p.pattern !== undefined) {
      if (p.type !== 'string') report(ctx, 'HM310', [...at, 'pattern'], { message: `"pattern" only applies to string parameters, and "${name}" is ${p.type}` }, 'key');
      try { new RegExp(p.pattern, 'u'); } catch (e) {
        report(ctx, 'HM205', [...at, 'pattern'], { message: `"${p.pattern}" is not a valid regular expression: ${(e as Error).message}` });
      }
    }
    if (p.required && p.default !== undefined) report(ctx, 'HM310', [...at, 'required'], { message: `parameter "${name}" is required and has a default; a default makes it optional`, severity: 'warning' }, 'key');
    if (p.default !== undefined) {
      const problem = checkParamValue(p, p.default);
      if (problem) report(ctx, 'HM310', [...at, 'default'], { message: `default of "${name}" ${problem}`, expected: `a ${p.type}`, actual: JSON.stringify(p.default) });
    }
  }
};

/** Why `value` does not fit parameter `p`, or undefined. Shared with install-time validation. */
export function checkParamValue(p: { type: ParamType; values?: string[]; minimum?: number; maximum?: number; pattern?: string }, value: unknown): string | undefined {
  const { type } = p;
  switch (type) {
    case 'boolean':
      return typeof value === 'boolean' || value === 'true' || value === 'false' ? undefined : 'must be true or false';
    case 'integer': case 'port': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?[0-9]{1,15}$/.test(value) ? Number(value) : NaN;
      if (!Number.isInteger(n)) return 'must be a whole number';
      if (type === 'port' && (n < 1 || n > 65535)) return `must be a port between 1 and 65535, not ${n}`;
      if (p.minimum !== undefined && n < p.minimum) return `must be at least ${p.minimum}`;
      if (p.maximum !== undefined && n > p.maximum) return `must be at most ${p.maximum}`;
      return undefined;
    }
    default: {
      if (typeof value !== 'string') return 'must be a string';
      if (value.includes('\0')) return 'must not contain NUL bytes';
      if (type === 'ip') return isIpAddress(value) ? undefined : 'must be an IPv4 or IPv6 address';
      if (type === 'cidr') return /^[^/]+\/[0-9]{1,3}$/.test(value) && isIpAddress(value.split('/')[0]!) && Number(value.split('/')[1]) <= (value.includes(':') ? 128 : 32) ? undefined : 'must be an address with a prefix, such as 198.18.0.0/24';
      if (type === 'path') return value.startsWith('/') && !value.split('/').includes('..') ? undefined : 'must be an absolute path without ".."';
      if (type === 'duration') return /^[0-9]{1,9}(ms|s|m|h)$/.test(value) ? undefined : 'must be a duration such as 500ms or 30s';
      if (type === 'enum') return p.values?.includes(value) ? undefined : `must be one of ${(p.values ?? []).join(', ')}`;
      if (type === 'string' && p.pattern !== undefined) {
        try { return new RegExp(p.pattern, 'u').test(value) ? undefined : `must match /${p.pattern}/`; } catch { return undefined; }
      }
      return undefined;
    }
  }
}
