// ModuleDefinition (validated, rules passed) -> CompiledPlan. Pure: no I/O. Defaults are applied
// here, so the runtime never has to know what the author left out.
import type { CheckerDef, ModuleDefinition, Role } from '../model.js';
import { findRefs, wholeRef } from '../util/refs.js';
import { durationMs, sizeBytes } from '../util/units.js';
import { paramEnvName } from '../render/shell-quote.js';
import { normalizeRel } from '../load/files.js';
import { DEFAULTS, PLAN_VERSION, type CompiledPlan, type PlanChecker, type PlanInt, type PlanScript, type PlanService, type PlanString } from './types.js';

/** Digest of each rendered script, by its path in the bundle. */
export type ScriptDigests = ReadonlyMap<string, string>;

export function compilePlan(def: ModuleDefinition, scripts: ScriptDigests): CompiledPlan {
  const mirror = def.mode === 'mirror';
  const defaultRole: Role = mirror ? 'primary' : 'every';
  const script = (p: string | undefined): PlanScript | undefined => {
    if (p === undefined) return undefined;
    const key = normalizeRel(p);
    const sha = scripts.get(key);
    if (sha === undefined) throw new Error(`internal: script ${p} was not rendered`);
    return { path: key, sha256: sha };
  };
  const services: PlanService[] = startOrder(def).map((s, order) => {
    const out: PlanService = {
      name: s.name,
      order,
      role: s.role ?? defaultRole,
      environment: Object.fromEntries(Object.entries(s.environment ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, planString(v)])),
      startTimeoutMs: durationMs(s.timeouts?.start ?? DEFAULTS.startTimeout),
      stopTimeoutMs: durationMs(s.timeouts?.stop ?? DEFAULTS.stopTimeout),
      stopSignal: s.stopSignal ?? DEFAULTS.stopSignal,
      after: [...(s.after ?? [])],
    };
    const run = script(s.run); if (run) out.run = run;
    const start = script(s.start); if (start) out.start = start;
    const stop = script(s.stop); if (stop) out.stop = stop;
    if (s.user !== undefined) out.user = s.user;
    if (s.group !== undefined) out.group = s.group;
    if (s.workingDirectory !== undefined) out.workingDirectory = planString(s.workingDirectory);
    return out;
  });
  const vips = (def.virtualIps ?? []).map((v) => ({ address: planString(v.address), prefix: v.prefix ?? null, interface: v.interface !== undefined ? planString(v.interface) : null }));
  return {
    planVersion: PLAN_VERSION,
    module: { name: def.name, version: def.version, mode: def.mode },
    parameters: Object.entries(def.parameters ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, p]) => {
      const out: CompiledPlan['parameters'][number] = { name, type: p.type, required: p.required ?? p.default === undefined, env: paramEnvName(name) };
      if (p.default !== undefined) out.default = p.default;
      if (p.values !== undefined) out.values = [...p.values];
      if (p.minimum !== undefined) out.minimum = p.minimum;
      if (p.maximum !== undefined) out.maximum = p.maximum;
      if (p.pattern !== undefined) out.pattern = p.pattern;
      if (p.description !== undefined) out.description = p.description;
      return out;
    }),
    services,
    replication: def.replication ? {
      directories: def.replication.directories.map((d) => ({ path: planString(d.path.replace(/(.)\/+$/, '$1')), include: [...(d.include ?? [])], exclude: [...(d.exclude ?? [])] })),
      zoneSizeBytes: sizeBytes(def.replication.zoneSize ?? DEFAULTS.zoneSize),
      activityLogBytes: def.replication.activityLog === 'off' ? 0 : sizeBytes(def.replication.activityLog ?? DEFAULTS.activityLog),
      timeoutMs: durationMs(def.replication.timeout ?? DEFAULTS.replicationTimeout),
      resyncBandwidthBytesPerSec: def.replication.resyncBandwidth !== undefined ? sizeBytes(def.replication.resyncBandwidth) : null,
    } : null,
    checkers: (def.checkers ?? []).map((c) => compileChecker(c, mirror, script)),
    virtualIps: vips,
    failover: {
      defaultPrimary: mirror && def.failover?.defaultPrimary !== undefined ? planString(def.failover.defaultPrimary) : null,
      failback: mirror ? def.failover?.failback ?? false : false,
      autoStart: def.failover?.autoStart ?? true,
      maxErrors: { count: def.failover?.maxErrors?.count ?? DEFAULTS.maxErrors.count, windowMs: durationMs(def.failover?.maxErrors?.window ?? DEFAULTS.maxErrors.window) },
    },
    loadBalancing: def.loadBalancing ? {
      buckets: 256,
      defaultWeight: def.loadBalancing.defaultWeight ?? DEFAULTS.defaultWeight,
      rules: def.loadBalancing.rules.map((r) => ({
        name: r.name,
        vip: r.vip !== undefined ? planString(r.vip) : vips[0]!.address,
        protocol: r.protocol,
        ports: r.ports.map((p) => {
          if (typeof p === 'string' && /^[0-9]+-[0-9]+$/.test(p)) {
            const [a, b] = p.split('-').map(Number) as [number, number];
            return { from: a, to: b };
          }
          const v = planInt(p);
          return { from: v, to: v };
        }),
        affinity: r.affinity ?? 'client-ip',
      })),
    } : null,
    dependencies: (def.dependencies ?? []).map((d) => ({ name: d.name, range: d.version, optional: d.optional ?? false })),
    heartbeat: { intervalMs: durationMs(def.heartbeat?.interval ?? DEFAULTS.heartbeatInterval), timeoutMs: durationMs(def.heartbeat?.timeout ?? DEFAULTS.heartbeatTimeout) },
  };
}

function compileChecker(c: CheckerDef, mirror: boolean, script: (p: string | undefined) => PlanScript | undefined): PlanChecker {
  const action = c.action ?? (c.type === 'ping' && 'witness' in c && c.witness ? 'stop' : 'restart');
  const base = {
    name: c.name,
    when: c.when ?? (mirror ? 'primary' : 'every'),
    intervalMs: durationMs(c.interval ?? DEFAULTS.checkerInterval),
    timeoutMs: durationMs(c.timeout ?? DEFAULTS.checkerTimeout),
    // A process death is seen at once from the exit event: one is enough.
    threshold: c.threshold ?? (c.type === 'process' ? 1 : DEFAULTS.checkerThreshold),
    action,
    escalation: action === 'restart' ? {
      restarts: c.escalation?.restarts ?? DEFAULTS.escalation.restarts,
      windowMs: durationMs(c.escalation?.window ?? DEFAULTS.escalation.window),
      then: c.escalation?.then ?? (mirror ? 'failover' : 'stop'),
    } : null,
  } as const;
  switch (c.type) {
    case 'process': return { ...base, type: 'process', service: c.service };
    case 'tcp': return { ...base, type: 'tcp', host: planString(c.host ?? '127.0.0.1'), port: planInt(c.port) };
    case 'http': return { ...base, type: 'http', url: planString(c.url), method: c.method ?? 'GET', expectStatus: c.expectStatus ? [...c.expectStatus] : null, expectBody: c.expectBody ?? null };
    case 'command': return { ...base, type: 'command', script: script(c.script)! };
    case 'ping': return { ...base, type: 'ping', addresses: c.addresses.map(planString), witness: c.witness ?? false };
    case 'interface': return { ...base, type: 'interface', interface: planString(c.interface) };
    case 'module': return { ...base, type: 'module', module: c.module, states: c.states ? [...c.states] : ['PRIM', 'ALONE', 'UP'] };
  }
}

export function planString(s: string): PlanString {
  const whole = wholeRef(s);
  if (whole !== undefined) return { param: whole };
  const refs = findRefs(s);
  if (refs.length === 0) return s;
  const parts: Array<string | { param: string }> = [];
  let last = 0;
  for (const r of refs) {
    if (r.index > last) parts.push(s.slice(last, r.index));
    parts.push({ param: r.param! });
    last = r.index + r.length;
  }
  if (last < s.length) parts.push(s.slice(last));
  return { concat: parts };
}

function planInt(v: number | string): PlanInt {
  if (typeof v === 'number') return v;
  const ref = wholeRef(v);
  if (ref === undefined) throw new Error(`internal: ${v} is neither a number nor a reference`);
  return { param: ref };
}

/** Services ordered so each comes after those in its `after` list; ties keep the written order. */
export function startOrder(def: ModuleDefinition): ModuleDefinition['services'] {
  const remaining = [...def.services];
  const done = new Set<string>();
  const out: ModuleDefinition['services'] = [];
  while (remaining.length) {
    const i = remaining.findIndex((s) => (s.after ?? []).every((a) => done.has(a) || !def.services.some((x) => x.name === a)));
    const next = remaining.splice(i === -1 ? 0 : i, 1)[0]!;
    out.push(next);
    done.add(next.name);
  }
  return out;
}
