// Heartbeat bookkeeping for one peer over several networks, as a reducer
// `(state, input) -> { state, output }`. Time comes in the inputs (`at`, from the actor's monotonic
// clock); nothing here reads a clock or arms a timer (`nextHeartbeatDeadline` says when to tick).
//
// - A network is down after `timeoutMs` without a beat on it; while others still carry beats this
//   is reported as `networkDown` / `degraded`, never as a lost peer.
// - The peer is lost only when every network has been silent for `timeoutMs`.
// - A lost peer must beat continuously for the hold-down (doubling with each loss in the flap window)
//   before it is reported up again. The very first contact is reported at once. A peer whose agent
//   restarted (new boot id) starts a new flap history: a node rebooted after a crash is not a
//   flapping link, and doubling its hold-down only delays its reintegration.
import type { HeartbeatTimings } from './timings.js';

export type PeerLiveness = 'unknown' | 'up' | 'lost' | 'recovering';

export interface NetworkLiveness {
  readonly lastSeen: number | null;
  readonly up: boolean;
}

export interface HeartbeatState {
  readonly networks: Readonly<Record<string, NetworkLiveness>>;
  readonly liveness: PeerLiveness;
  /** Last beat on any network. */
  readonly lastSeen: number | null;
  /** Start of the current uninterrupted run of beats while recovering. */
  readonly recoveringSince: number | null;
  /** Times the peer was declared lost (within the flap window). */
  readonly losses: readonly number[];
  /** Networks reported down while the peer is up (last `degraded` output). */
  readonly degraded: readonly string[];
}

export type HeartbeatInput =
  | { readonly type: 'beat'; readonly network: string; readonly at: number }
  | { readonly type: 'tick'; readonly at: number }
  /** The peer's agent restarted (a new boot id): its earlier losses were not a flapping link. */
  | { readonly type: 'restarted'; readonly at: number };

export type HeartbeatOutput =
  | { readonly type: 'peerUp'; readonly at: number }
  | { readonly type: 'peerLost'; readonly at: number; readonly silentMs: number }
  | { readonly type: 'networkDown'; readonly network: string; readonly at: number }
  | { readonly type: 'networkUp'; readonly network: string; readonly at: number }
  | { readonly type: 'degraded'; readonly down: readonly string[]; readonly at: number };

export interface HeartbeatStep {
  readonly state: HeartbeatState;
  readonly output: readonly HeartbeatOutput[];
}

export function initialHeartbeatState(networks: readonly string[]): HeartbeatState {
  const nets: Record<string, NetworkLiveness> = {};
  for (const n of networks) nets[n] = { lastSeen: null, up: false };
  return { networks: nets, liveness: 'unknown', lastSeen: null, recoveringSince: null, losses: [], degraded: [] };
}

/** Hold-down for a peer coming back after `losses` recent losses. */
export function holdDownFor(losses: number, t: HeartbeatTimings): number {
  if (losses <= 1) return t.holdDownMs;
  return Math.min(t.maxHoldDownMs, t.holdDownMs * 2 ** Math.min(losses - 1, 30));
}

export function heartbeatReducer(t: HeartbeatTimings): (state: HeartbeatState, input: HeartbeatInput) => HeartbeatStep {
  return (state, input) => {
    if (input.type === 'beat') return beat(state, input.network, input.at, t);
    if (input.type === 'restarted') return { state: state.losses.length ? { ...state, losses: [] } : state, output: [] };
    return tick(state, input.at, t);
  };
}

function downList(nets: Readonly<Record<string, NetworkLiveness>>): string[] {
  return Object.keys(nets)
    .filter((n) => nets[n]?.up !== true)
    .sort();
}

function withDegraded(state: HeartbeatState, out: HeartbeatOutput[], at: number): HeartbeatState {
  if (state.liveness !== 'up') return state;
  const down = downList(state.networks);
  if (down.join(',') === state.degraded.join(',')) return state;
  out.push({ type: 'degraded', down, at });
  return { ...state, degraded: down };
}

function beat(state: HeartbeatState, network: string, at: number, t: HeartbeatTimings): HeartbeatStep {
  const net = state.networks[network];
  if (net === undefined) return { state, output: [] }; // not a configured network: ignored
  const out: HeartbeatOutput[] = [];
  const lastSeen = Math.max(net.lastSeen ?? at, at);
  let s: HeartbeatState = { ...state, networks: { ...state.networks, [network]: { lastSeen, up: true } }, lastSeen: Math.max(state.lastSeen ?? at, at) };
  if (!net.up) out.push({ type: 'networkUp', network, at });
  switch (s.liveness) {
    case 'unknown':
      s = { ...s, liveness: 'up', degraded: downList(s.networks) };
      out.push({ type: 'peerUp', at });
      if (s.degraded.length > 0) out.push({ type: 'degraded', down: s.degraded, at });
      break;
    case 'lost':
      s = { ...s, liveness: 'recovering', recoveringSince: at };
      s = promoteIfStable(s, at, t, out);
      break;
    case 'recovering':
      // A gap longer than the timeout since the previous beat restarts the stability period.
      if (state.lastSeen !== null && at - state.lastSeen >= t.timeoutMs) s = { ...s, recoveringSince: at };
      s = promoteIfStable(s, at, t, out);
      break;
    case 'up':
      s = withDegraded(s, out, at);
      break;
  }
  return { state: s, output: out };
}

function promoteIfStable(s: HeartbeatState, at: number, t: HeartbeatTimings, out: HeartbeatOutput[]): HeartbeatState {
  if (s.recoveringSince === null) return s;
  const recent = s.losses.filter((l) => at - l < t.flapWindowMs).length;
  if (at - s.recoveringSince < holdDownFor(recent, t)) return s;
  out.push({ type: 'peerUp', at });
  const up: HeartbeatState = { ...s, liveness: 'up', recoveringSince: null, degraded: [] };
  return withDegraded(up, out, at);
}

function tick(state: HeartbeatState, at: number, t: HeartbeatTimings): HeartbeatStep {
  const out: HeartbeatOutput[] = [];
  const nets: Record<string, NetworkLiveness> = { ...state.networks };
  let changed = false;
  for (const [name, n] of Object.entries(state.networks)) {
    if (n.up && (n.lastSeen === null || at - n.lastSeen >= t.timeoutMs)) {
      nets[name] = { ...n, up: false };
      changed = true;
      out.push({ type: 'networkDown', network: name, at });
    }
  }
  let s: HeartbeatState = changed ? { ...state, networks: nets } : state;
  const silent = s.lastSeen === null ? Number.POSITIVE_INFINITY : at - s.lastSeen;
  switch (s.liveness) {
    case 'up':
      if (silent >= t.timeoutMs) {
        const losses = [...s.losses.filter((l) => at - l < t.flapWindowMs), at];
        s = { ...s, liveness: 'lost', losses, degraded: [], recoveringSince: null };
        out.push({ type: 'peerLost', at, silentMs: silent });
      } else {
        s = withDegraded(s, out, at);
      }
      break;
    case 'recovering':
      if (silent >= t.timeoutMs) s = { ...s, liveness: 'lost', recoveringSince: null };
      else s = promoteIfStable(s, at, t, out);
      break;
    case 'lost':
    case 'unknown':
      break;
  }
  return { state: s, output: out };
}

/** When the next `tick` may produce an output (a network or the peer timing out, a hold-down ending). */
export function nextHeartbeatDeadline(s: HeartbeatState, t: HeartbeatTimings): number | null {
  const times: number[] = [];
  for (const n of Object.values(s.networks)) if (n.up && n.lastSeen !== null) times.push(n.lastSeen + t.timeoutMs);
  const since = s.recoveringSince;
  if (s.liveness === 'recovering' && since !== null) {
    const recent = s.losses.filter((l) => since - l < t.flapWindowMs).length;
    times.push(since + holdDownFor(recent, t));
  }
  return times.length === 0 ? null : Math.min(...times);
}
