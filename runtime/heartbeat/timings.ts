// Heartbeat timings and why these defaults.
//
// interval 100 ms, timeout 600 ms: a peer is declared lost after 600 ms without a beat on ANY
// network, i.e. after 5 consecutive beats lost or late on every network at once. Detection of a dead
// or frozen peer therefore takes 600-700 ms (timeout + up to one interval of phase), well under a
// second, which leaves room for the witness round trip (~1 ms on a LAN) and the application start
// inside the 1 s failover budget.
//
// Why not shorter: with both CPUs saturated by ordinary (same-priority) work, CFS gives a waking task
// the CPU within its scheduling latency (6-24 ms by default), and the agent's own pauses (a GC of a
// small heap, a slow synchronous call) stay under ~100 ms; a sender late by 200-300 ms is already
// pathological. 600 ms tolerates a stall of 500 ms on the sender, the network and the receiver
// together without a false failover. Run the agent at a raised priority (Nice=-10 in the unit) so
// that a runaway application on the same node cannot starve it.
//
// Flapping: a peer that comes back after being lost must beat without a gap for holdDownMs before it
// counts as up again; every further loss within flapWindowMs doubles the hold-down (up to
// maxHoldDownMs), so a link that flaps every few seconds stops driving decisions. The first contact
// after the agent starts has no hold-down (cluster formation is not delayed).
export interface HeartbeatTimings {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly holdDownMs: number;
  readonly maxHoldDownMs: number;
  readonly flapWindowMs: number;
}

export const DEFAULT_HEARTBEAT_TIMINGS: HeartbeatTimings = {
  intervalMs: 100,
  timeoutMs: 600,
  holdDownMs: 1000,
  maxHoldDownMs: 30_000,
  flapWindowMs: 60_000,
};

/** Problems with a set of timings (empty when usable). */
export function checkHeartbeatTimings(t: HeartbeatTimings): string[] {
  const problems: string[] = [];
  if (!(t.intervalMs > 0)) problems.push('intervalMs must be positive');
  if (!(t.timeoutMs >= 2 * t.intervalMs)) problems.push('timeoutMs must be at least two intervals (one lost beat must not declare the peer lost)');
  if (!(t.holdDownMs >= 0)) problems.push('holdDownMs must be >= 0');
  if (!(t.maxHoldDownMs >= t.holdDownMs)) problems.push('maxHoldDownMs must be >= holdDownMs');
  if (!(t.flapWindowMs > 0)) problems.push('flapWindowMs must be positive');
  return problems;
}
