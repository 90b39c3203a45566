// Checkers' escalation and timings, heartbeat timings, dependencies and version ranges.
import semver from 'semver';
import { durationMs } from '../util/units.js';
import type { Rule } from './context.js';
import { report } from './context.js';

export const checkerPolicy: Rule = (ctx) => {
  ctx.def.checkers?.forEach((c, i) => {
    const interval = durationMs(c.interval ?? '1s');
    const timeout = durationMs(c.timeout ?? '500ms');
    if (c.type !== 'process' && timeout >= interval) {
      report(ctx, 'HM318', ['checkers', i, c.timeout ? 'timeout' : 'interval'], { message: `checker "${c.name}": timeout ${c.timeout ?? '500ms'} must be shorter than its interval ${c.interval ?? '1s'}`, expected: `a timeout below ${interval}ms` });
    }
    if (interval === 0) report(ctx, 'HM206', ['checkers', i, 'interval'], { message: 'a checker interval must be more than 0', expected: 'at least 1ms' });
    if (c.escalation) {
      const action = c.action ?? 'restart';
      if (action !== 'restart') report(ctx, 'HM317', ['checkers', i, 'escalation'], { message: `escalation only applies to action "restart", and checker "${c.name}" takes "${action}"`, hint: 'remove "escalation" or use action: restart' }, 'key');
      if (durationMs(c.escalation.window) === 0) report(ctx, 'HM317', ['checkers', i, 'escalation', 'window'], { message: 'escalation window must be more than 0' });
    }
  });
  const hb = ctx.def.heartbeat;
  if (hb) {
    const interval = durationMs(hb.interval ?? '100ms');
    const timeout = durationMs(hb.timeout ?? '600ms');
    if (interval === 0) report(ctx, 'HM206', ['heartbeat', 'interval'], { message: 'heartbeat interval must be more than 0' });
    else if (timeout < 3 * interval) report(ctx, 'HM318', ['heartbeat', hb.timeout ? 'timeout' : 'interval'], { message: `heartbeat timeout ${timeout}ms must be at least 3 heartbeat intervals (${3 * interval}ms), or a single lost packet fails over`, expected: `>= ${3 * interval}ms` });
  }
  const rt = ctx.def.replication?.timeout;
  if (rt !== undefined && durationMs(rt) === 0) report(ctx, 'HM206', ['replication', 'timeout'], { message: 'replication timeout must be more than 0' });
  const al = ctx.def.replication?.activityLog;
  if (al !== undefined && al !== 'off') {
    const n = bytesOf(al);
    if (n === null || n < 64 * 1024 ** 2 || n > 1024 ** 4 || n % (4 * 1024 ** 2) !== 0) {
      report(ctx, 'HM206', ['replication', 'activityLog'], { message: `activity log ${al} must be a multiple of 4MiB from 64MiB to 1024GiB, or off`, expected: '64MiB..1024GiB, multiple of 4MiB, or off', actual: al });
    }
  }
  const zs = ctx.def.replication?.zoneSize;
  if (zs !== undefined) {
    const b = sizeOk(zs);
    if (!b) report(ctx, 'HM206', ['replication', 'zoneSize'], { message: `zone size ${zs} must be a power of two between 4KiB and 1MiB (what the replication daemon accepts)`, expected: '4KiB..1MiB, power of two', actual: zs });
  }
};

function bytesOf(s: string): number | null {
  const m = /^([0-9]+)(B|KiB|MiB|GiB)$/.exec(s);
  return m ? Number(m[1]) * ({ B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 } as Record<string, number>)[m[2]!]! : null;
}

function sizeOk(s: string): boolean {
  const n = bytesOf(s);
  if (n === null) return false;
  return n >= 4096 && n <= 1024 ** 2 && (n & (n - 1)) === 0;
}

export const dependencies: Rule = (ctx) => {
  ctx.def.dependencies?.forEach((d, i) => {
    if (d.name === ctx.def.name) report(ctx, 'HM307', ['dependencies', i, 'name'], { message: `module "${d.name}" cannot depend on itself`, hint: 'remove this dependency' });
    if (semver.validRange(d.version) === null) report(ctx, 'HM315', ['dependencies', i, 'version'], { message: `"${d.version}" is not a valid semver range`, expected: 'a range such as ^1.2.0 or >=1.0.0 <2.0.0', actual: d.version });
  });
  const compat = ctx.def.compatibility?.hamod;
  if (compat !== undefined && semver.validRange(compat) === null) report(ctx, 'HM315', ['compatibility', 'hamod'], { message: `"${compat}" is not a valid semver range`, expected: 'a range such as >=0.1.0', actual: compat });
};
