// Fields that belong to one mode only.
import type { Rule } from './context.js';
import { report } from './context.js';

export const modeFields: Rule = (ctx) => {
  const { def } = ctx;
  if (def.mode === 'farm') {
    if (def.replication) report(ctx, 'HM302', ['replication'], { message: 'replicated directories are only for mirror modules: in a farm every node keeps its own data', expected: 'no "replication" in farm mode', hint: 'use mode: mirror, or remove "replication"' }, 'key');
    def.services.forEach((s, i) => {
      if (s.role && s.role !== 'every') report(ctx, 'HM309', ['services', i, 'role'], { message: `role "${s.role}" is for mirror modules; farm services run on every node`, expected: 'every', actual: s.role });
    });
    def.checkers?.forEach((c, i) => {
      if (c.when && c.when !== 'every') report(ctx, 'HM309', ['checkers', i, 'when'], { message: `when "${c.when}" is for mirror modules; farm checkers run on every node`, expected: 'every', actual: c.when });
      if (c.action === 'failover') report(ctx, 'HM309', ['checkers', i, 'action'], { message: 'a farm has no failover: a failed node is taken out of the load balancing by "stop" or "restart"', expected: 'restart | stop', actual: 'failover' });
      if (c.escalation?.then === 'failover') report(ctx, 'HM309', ['checkers', i, 'escalation', 'then'], { message: 'a farm has no failover; escalate to "stop"', expected: 'stop', actual: 'failover' });
    });
    if (def.failover?.defaultPrimary !== undefined) report(ctx, 'HM309', ['failover', 'defaultPrimary'], { message: 'a farm has no primary', hint: 'remove defaultPrimary' }, 'key');
    if (def.failover?.failback !== undefined) report(ctx, 'HM309', ['failover', 'failback'], { message: 'a farm has no failback', hint: 'remove failback' }, 'key');
  } else {
    if (def.loadBalancing) report(ctx, 'HM309', ['loadBalancing'], { message: 'load balancing is for farm modules; a mirror serves its virtual IP from the primary only', hint: 'use mode: farm, or remove "loadBalancing"' }, 'key');
    def.services.forEach((s, i) => {
      if (s.role === 'every') report(ctx, 'HM309', ['services', i, 'role'], { message: 'role "every" is for farm modules; in a mirror use primary, secondary or both', expected: 'primary | secondary | both', actual: 'every' });
    });
    def.checkers?.forEach((c, i) => {
      if (c.when === 'every') report(ctx, 'HM309', ['checkers', i, 'when'], { message: 'when "every" is for farm modules; in a mirror use primary, secondary or both', expected: 'primary | secondary | both', actual: 'every' });
    });
  }
};
