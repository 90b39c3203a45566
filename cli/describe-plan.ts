// A compiled plan summarised for people (`hamod inspect`).
import type { CompiledPlan, PlanString } from '../compiler/plan/types.js';

export function showValue(v: PlanString | number | null): string {
  if (v === null) return '-';
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  if ('param' in v) return `{{params.${v.param}}}`;
  return v.concat.map((p) => (typeof p === 'string' ? p : `{{params.${p.param}}}`)).join('');
}

export function describePlan(p: CompiledPlan): string {
  const out: string[] = [];
  out.push(`plan v${p.planVersion}: ${p.module.name} ${p.module.version}, mode ${p.module.mode}`);
  if (p.parameters.length) {
    out.push('parameters:');
    for (const x of p.parameters) out.push(`  ${x.name}: ${x.type}${x.required ? ' (required)' : ''}${x.default !== undefined ? ` = ${JSON.stringify(x.default)}` : ''}  -> $${x.env}`);
  }
  out.push('services (start order):');
  for (const s of p.services) {
    const cmds = (['start', 'run', 'stop'] as const).filter((k) => s[k]).map((k) => `${k}=${s[k]!.path}`).join(' ');
    out.push(`  ${s.order + 1}. ${s.name} [${s.role}] ${cmds}${s.user ? ` user=${s.user}` : ''} start<=${s.startTimeoutMs}ms stop<=${s.stopTimeoutMs}ms then ${s.stopSignal}/SIGKILL`);
  }
  if (p.replication) {
    const al = p.replication.activityLogBytes;
    out.push(`replication: zones ${p.replication.zoneSizeBytes} B, timeout ${p.replication.timeoutMs} ms, activity log ${al === 0 ? 'off' : al === undefined ? 'default' : `${al / 2 ** 20} MiB`}`);
    for (const d of p.replication.directories) out.push(`  ${showValue(d.path)}${d.include.length ? ` include ${d.include.join(',')}` : ''}${d.exclude.length ? ` exclude ${d.exclude.join(',')}` : ''}`);
  }
  if (p.checkers.length) {
    out.push('checkers:');
    for (const c of p.checkers) {
      const esc = c.escalation ? `, after ${c.escalation.restarts} restarts in ${c.escalation.windowMs / 1000}s: ${c.escalation.then}` : '';
      out.push(`  ${c.name} (${c.type}, on ${c.when}) every ${c.intervalMs}ms, timeout ${c.timeoutMs}ms, ${c.threshold} failure(s) -> ${c.action}${esc}`);
    }
  }
  for (const v of p.virtualIps) out.push(`virtual IP: ${showValue(v.address)}${v.prefix !== null ? `/${v.prefix}` : ''}${v.interface !== null ? ` on ${showValue(v.interface)}` : ''}`);
  if (p.loadBalancing) {
    for (const r of p.loadBalancing.rules) out.push(`load balancing ${r.name}: ${r.protocol} ${showValue(r.vip)} ports ${r.ports.map((x) => (showValue(x.from) === showValue(x.to) ? showValue(x.from) : `${showValue(x.from)}-${showValue(x.to)}`)).join(',')} by ${r.affinity} over ${p.loadBalancing.buckets} buckets`);
  }
  if (p.module.mode === 'mirror') out.push(`failover: failback ${p.failover.failback ? 'on' : 'off'}, default primary ${showValue(p.failover.defaultPrimary)}, give up after ${p.failover.maxErrors.count} errors in ${p.failover.maxErrors.windowMs / 1000}s`);
  out.push(`heartbeat: every ${p.heartbeat.intervalMs} ms, peer lost after ${p.heartbeat.timeoutMs} ms`);
  for (const d of p.dependencies) out.push(`depends on ${d.name} ${d.range}${d.optional ? ' (optional)' : ''}`);
  return out.join('\n');
}
