// Default timings of the mirror machine. They go with the heartbeat defaults
// (runtime/heartbeat/timings.ts: a beat every 100 ms, peer lost after 600 ms of silence on every
// network):
//
// - grantMs = 600 ms, the heartbeat timeout. A secondary promises the primary, in each message, not to
//   start the application before receipt + 600 ms. When the primary dies, the secondary declares it
//   lost 600 ms after its last beat, which is also when its last promise ends: the grant adds no delay
//   to a failover. A longer grant would delay every failover by the difference.
// - leaseRenewLeadMs = 350 ms. The primary asks the witness for a lease once its peer authority has
//   less than 350 ms left, i.e. after about 250 ms without a fresh grant (2-3 missed beats), well before
//   the secondary declares it lost (600 ms) and asks the witness itself: on a cut between the nodes the
//   running primary wins the lease and keeps the application, instead of a needless failover.
// - leaseAnswerTimeoutMs = 300 ms: a witness on the same LAN answers in about a millisecond; 300 ms
//   leaves room for a loaded witness and still lets a request be retried before authority runs out.
// - driftRate = 1%: leases and grants are shortened by 1% (6 ms on a grant) against clock rate
//   differences. Monotonic clocks drift by parts per million; the margin is generous.
// - fenceLeadMs = 60 ms: a primary treats its authority as ending 60 ms before the grantor's
//   promise, so that when it fences (SIGKILL sent first, at once; the application's exit confirmed
//   10-45 ms later on a loaded machine; then the VIP removed) the kill is complete before the other
//   node may start. leaseRenewLeadMs is 290 ms so that, as before the lead existed, the primary
//   asks the witness only after about 244 ms without a fresh grant (2 missed beats).
// - Start/stop timeouts are generous defaults; the plan's per-service values override them.
import type { MirrorConfig } from './types.js';

export const DEFAULT_MIRROR_CONFIG: MirrorConfig = {
  defaultPrimary: null,
  grantMs: 600,
  leaseRenewLeadMs: 290,
  leaseAnswerTimeoutMs: 300,
  leaseRetryMs: 1000,
  driftRate: 0.01,
  fenceLeadMs: 60,
  startTimeoutMs: 60_000,
  stopTimeoutMs: 30_000,
  killTimeoutMs: 5_000,
  promoteTimeoutMs: 5_000,
  peerWaitMs: 3_000,
  restartBackoffMs: 1_000,
  maxErrors: { count: 10, windowMs: 10 * 60_000 },
};

/** Problems with a configuration (empty when it is usable). */
export function checkMirrorConfig(c: MirrorConfig): string[] {
  const problems: string[] = [];
  const positive: Array<[string, number]> = [
    ['grantMs', c.grantMs],
    ['leaseRenewLeadMs', c.leaseRenewLeadMs],
    ['leaseAnswerTimeoutMs', c.leaseAnswerTimeoutMs],
    ['leaseRetryMs', c.leaseRetryMs],
    ['startTimeoutMs', c.startTimeoutMs],
    ['stopTimeoutMs', c.stopTimeoutMs],
    ['killTimeoutMs', c.killTimeoutMs],
    ['promoteTimeoutMs', c.promoteTimeoutMs],
    ['restartBackoffMs', c.restartBackoffMs],
  ];
  for (const [name, v] of positive) if (!(Number.isFinite(v) && v > 0)) problems.push(`${name} must be a positive number of ms`);
  if (!(c.peerWaitMs >= 0)) problems.push('peerWaitMs must be >= 0');
  if (!(c.driftRate >= 0 && c.driftRate < 0.5)) problems.push('driftRate must be in [0, 0.5)');
  if (!(c.fenceLeadMs >= 0 && c.fenceLeadMs + c.leaseRenewLeadMs < c.grantMs)) problems.push('fenceLeadMs must be >= 0 and fenceLeadMs + leaseRenewLeadMs shorter than grantMs');
  if (c.leaseRenewLeadMs >= c.grantMs) problems.push('leaseRenewLeadMs must be shorter than grantMs');
  if (!(c.maxErrors.count >= 1 && c.maxErrors.windowMs > 0)) problems.push('maxErrors needs count >= 1 and a positive window');
  return problems;
}
