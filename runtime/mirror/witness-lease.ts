// The witness's bookkeeping, as a pure reducer: one primary lease at a time, with expiry by the
// witness's own clock, and the registry of the latest data generation written by a lease holder.
// The `hamod witness` service wraps it (authenticated transport, persistence of `latest`).
//
// Guarantees (given the reducer's state survives restarts as documented):
// - Never two holders at once by the witness clock: a lease is granted only when no other node holds
//   an unexpired one. The holder counts its lease from its own send time, so it ends its claim no
//   later than the witness forgets it, whatever the network delay (minus clock-rate drift, covered by
//   the nodes' driftRate margin).
// - A node whose generation is superseded by the registry is refused (`stale`), so a node that missed
//   writes made alone by its peer is never promoted, even with the peer down.
// Limits: `latest` must be persisted before a grant is sent; after a restart the witness grants
// nothing for `leaseMs` (a lease granted before the restart may still run); a witness that loses its
// disk forgets generations (nodes still refuse what they know is stale themselves).
import { orderGenerations } from './generation.js';
import type { Generation, LeaseDenialReason, Millis, NodeName } from './types.js';

export interface WitnessConfig {
  readonly leaseMs: Millis;
}

export const DEFAULT_WITNESS_CONFIG: WitnessConfig = { leaseMs: 1500 };

export interface WitnessState {
  /** `grantedFor`: the newest request (its sender's `sentAt`) this lease was granted or renewed for. */
  readonly holder: { readonly node: NodeName; readonly until: Millis; readonly grantedFor: Millis } | null;
  /** Latest generation registered by a lease holder (persist it). */
  readonly latest: Generation | null;
  /** No lease is granted before this time (after a restart). */
  readonly holdUntil: Millis | null;
}

export type WitnessInput =
  | {
      readonly type: 'request';
      readonly node: NodeName;
      readonly sentAt: Millis;
      readonly generation: Generation;
      /** The requester may have acknowledged writes under `generation` already. */
      readonly committed: boolean;
      readonly at: Millis;
    }
  /** Releases the node's lease if it was granted for requests sent at or before `upTo` only. */
  | { readonly type: 'release'; readonly node: NodeName; readonly upTo: Millis; readonly at: Millis };

export type WitnessReply =
  | { readonly type: 'granted'; readonly node: NodeName; readonly sentAt: Millis; readonly durationMs: Millis; readonly genId: string }
  | {
      readonly type: 'denied';
      readonly node: NodeName;
      readonly sentAt: Millis;
      readonly reason: LeaseDenialReason;
      readonly holder: NodeName | null;
      readonly latest: Generation | null;
      /** Time until the current holder's lease lapses (`held`), or until leases are granted again (`unavailable`). */
      readonly retryAfterMs: Millis | null;
    };

export interface WitnessStep {
  readonly state: WitnessState;
  readonly output: WitnessReply | null;
  /** `latest` changed: persist before sending `output`. */
  readonly persist: boolean;
}

export function initialWitnessState(): WitnessState {
  return { holder: null, latest: null, holdUntil: null };
}

/** State of a witness restarting at `at` with its persisted registry. */
export function restartedWitnessState(latest: Generation | null, at: Millis, config: WitnessConfig): WitnessState {
  return { holder: null, latest, holdUntil: at + config.leaseMs };
}

export function witnessReducer(config: WitnessConfig): (state: WitnessState, input: WitnessInput) => WitnessStep {
  return (state, input) => {
    const at = input.at;
    const holder = state.holder !== null && state.holder.until > at ? state.holder : null;
    if (input.type === 'release') {
      // A release overtaken by a newer request of the same node (messages reordered) is ignored.
      if (holder !== null && holder.node === input.node && holder.grantedFor <= input.upTo) return { state: { ...state, holder: null }, output: null, persist: false };
      return { state: { ...state, holder }, output: null, persist: false };
    }
    const deny = (reason: LeaseDenialReason, retryAfterMs: Millis | null = null): WitnessStep => ({
      state: { ...state, holder },
      output: { type: 'denied', node: input.node, sentAt: input.sentAt, reason, holder: holder?.node ?? null, latest: state.latest, retryAfterMs },
      persist: false,
    });
    if (state.holdUntil !== null && at < state.holdUntil) return deny('unavailable', state.holdUntil - at);
    if (holder !== null && holder.node !== input.node) return deny('held', holder.until - at);
    let latest = state.latest;
    let persist = false;
    if (latest === null) {
      latest = input.generation;
      persist = true;
    } else {
      const order = orderGenerations({ gen: input.generation, committed: input.committed }, { gen: latest, committed: true });
      if (order === 'older') return deny('stale');
      if (order === 'diverged') return deny('diverged');
      if (order === 'newer') {
        latest = input.generation;
        persist = true;
      }
    }
    const renewing = holder !== null && holder.node === input.node;
    const grantedFor = renewing ? Math.max(holder.grantedFor, input.sentAt) : input.sentAt;
    const until = renewing ? Math.max(holder.until, at + config.leaseMs) : at + config.leaseMs;
    return {
      state: { holder: { node: input.node, until, grantedFor }, latest, holdUntil: null },
      output: { type: 'granted', node: input.node, sentAt: input.sentAt, durationMs: config.leaseMs, genId: input.generation.id },
      persist,
    };
  };
}
