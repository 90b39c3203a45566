// Replay protection for heartbeats, as a pure function of the last datagram accepted from a sender
// (on one network) and the next one.
//
// A sender numbers its datagrams with `seq`, strictly increasing for the life of its process
// (bootId). A restarted sender has a new bootId and starts its seq above the previous run's: it
// starts from its wall clock in microseconds (or above a persisted value, see HeartbeatSocket's
// initialSeq), while a run sends far fewer than a million datagrams per second. So a datagram is
// accepted only if its seq is above the last accepted one, same run or not; a new bootId with a
// higher seq is a restart. A captured datagram replayed later, of this run or an older one, is
// refused. What this cannot refuse: a datagram replayed to a receiver that restarted and has not
// yet heard from that sender — it is superseded by the sender's next heartbeat.

export interface SeqWindow {
  readonly bootId: string;
  readonly seq: number;
}

export interface Admission {
  readonly accept: boolean;
  /** The window after this datagram (unchanged when refused). */
  readonly window: SeqWindow | undefined;
  /** Accepted from a new run of the sender (its bootId changed). */
  readonly restarted: boolean;
}

export function admit(prev: SeqWindow | undefined, bootId: string, seq: number): Admission {
  if (prev === undefined) return { accept: true, window: { bootId, seq }, restarted: false };
  if (seq <= prev.seq) return { accept: false, window: prev, restarted: false };
  return { accept: true, window: { bootId, seq }, restarted: bootId !== prev.bootId };
}

/** The first seq of a new run: the wall clock in microseconds, above `floor` (a persisted last seq). */
export function initialSeq(wallClockMs: number, floor = 0): number {
  return Math.max(Math.floor(wallClockMs) * 1000, Math.floor(floor) + 1);
}
