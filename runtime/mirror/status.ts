// What `hamod status` shows for one module on one node, derived from the machine's state.
import { authorityUntil } from './authority.js';
import { roleOf } from './phases.js';
import type { DataStatus, Millis, MirrorState, NodeRole, PhaseName, TransitionRecord } from './types.js';

export interface MirrorStatus {
  readonly state: PhaseName;
  readonly role: NodeRole;
  readonly since: Millis;
  /** WAIT's reason code (stale, no-witness...), else null. */
  readonly waiting: string | null;
  readonly lastTransition: TransitionRecord | null;
  readonly data: { readonly generation: string; readonly status: DataStatus; readonly newerKnown: string | null; readonly diverged: boolean };
  /** How long this node may still run as primary without hearing from the peer or the witness (ms), when primary. */
  readonly authorityLeftMs: Millis | null;
  readonly forced: boolean;
  readonly peer: { readonly present: boolean; readonly state: PhaseName | null; readonly degradedNetworks: readonly string[] };
}

export function mirrorStatus(s: MirrorState, now: Millis): MirrorStatus {
  const role = roleOf(s.phase.name);
  const until = authorityUntil(s.auth);
  return {
    state: s.phase.name,
    role,
    since: s.since,
    waiting: s.phase.name === 'WAIT' ? s.phase.why : null,
    lastTransition: s.last,
    data: { generation: s.data.gen.id, status: s.data.status, newerKnown: s.data.newerKnown, diverged: s.data.divergedFrom !== null },
    authorityLeftMs: role === 'primary' && Number.isFinite(until) ? Math.max(0, until - now) : null,
    forced: s.auth.forced,
    peer: { present: s.peer.present, state: s.peer.last?.message.phase ?? null, degradedNetworks: s.peer.degraded },
  };
}
