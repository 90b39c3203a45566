// A small accumulator used inside one call of `transition`: the state being built and the effects
// emitted so far, in order. Local mutation only; `transition` stays a pure function.
import { composeMessage } from './peer.js';
import type {
  DataState,
  Effect,
  MirrorConfig,
  MirrorContext,
  MirrorState,
  Millis,
  OperatorCommand,
  PeerMessage,
  Phase,
  TransitionResult,
} from './types.js';

export class Builder {
  s: MirrorState;
  readonly fx: Effect[] = [];
  readonly ctx: MirrorContext;
  /** Send our status to the peer at the end of this transition. */
  wantSend = false;

  constructor(state: MirrorState, ctx: MirrorContext) {
    this.s = state;
    this.ctx = ctx;
  }

  get now(): Millis {
    return this.ctx.now;
  }

  get cfg(): MirrorConfig {
    return this.ctx.config;
  }

  patch(p: Partial<MirrorState>): void {
    this.s = { ...this.s, ...p };
  }

  emit(e: Effect): void {
    this.fx.push(e);
  }

  /** Enter `phase`. A change of phase name (or of WAIT's reason) is logged with `reason`. */
  go(phase: Phase, reason: string): void {
    const from = this.s.phase;
    const renamed = from.name !== phase.name;
    const rewaited = !renamed && from.name === 'WAIT' && phase.name === 'WAIT' && from.why !== phase.why;
    this.s = { ...this.s, phase, since: renamed ? this.now : this.s.since };
    if (renamed || rewaited) {
      const record = { from: from.name, to: phase.name, reason, at: this.now };
      this.s = { ...this.s, last: record };
      this.emit({ type: 'log', ...record });
      this.wantSend = true;
    }
  }

  setData(data: DataState): void {
    this.s = { ...this.s, data };
    this.emit({ type: 'persistData', data });
    this.wantSend = true;
  }

  reply(command: OperatorCommand, ok: boolean, message: string): void {
    this.emit({ type: 'reply', command, ok, message });
  }

  warn(message: string): void {
    this.emit({ type: 'warning', message });
  }

  /** The peer's last message, if the heartbeat layer considers the peer up. */
  view(): PeerMessage | null {
    return this.s.peer.present ? (this.s.peer.last?.message ?? null) : null;
  }

  /**
   * The peer's last message if it arrived within `grantMs`, present or not: what the peer said
   * recently still counts for safety (it runs, it has newer data) even while the heartbeat layer
   * holds it down as flapping.
   */
  recent(): PeerMessage | null {
    const last = this.s.peer.last;
    return last !== null && this.now - last.receivedAt < this.cfg.grantMs ? last.message : null;
  }

  send(): void {
    const { state, message } = composeMessage(this.s, this.ctx);
    this.s = state;
    this.emit({ type: 'sendToPeer', message });
    this.wantSend = false;
  }

  result(): TransitionResult {
    return { state: this.s, effects: this.fx };
  }
}
