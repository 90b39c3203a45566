// The message exchange between the two nodes of a mirror module: composing our status (with the
// grant it carries) and taking in the peer's (ordering, grants received, grants released).
//
// Grant protocol, in short:
// - A node that does not run the application (`usesGrant` false) grants the peer `grantMs` in each
//   message, measured from its receipt of the peer message it acknowledges, and records that promise
//   (`grants.until`). The peer's authority is its own send time of that message + grantMs.
// - Each time a node sends a message with `usesGrant` false, it drops every grant it holds: it may
//   only rely again on grants in messages it receives afterwards.
// - So a message with `usesGrant` false acknowledging our last grant-bearing message proves the peer
//   holds none of our grants any more: we are released from our promises at once (a fast swap).
// - Messages are processed in seq order per incarnation; older ones are dropped.
import { max, validUntil } from './authority.js';
import { roleOf, usesGrant } from './phases.js';
import type { MirrorContext, MirrorState, PeerMessage } from './types.js';

export function composeMessage(s: MirrorState, ctx: MirrorContext): { state: MirrorState; message: PeerMessage } {
  const uses = usesGrant(s.phase);
  const last = s.peer.last;
  const seq = s.seq + 1;
  const grantMs = !uses && last !== null ? ctx.config.grantMs : 0;
  const message: PeerMessage = {
    from: ctx.self,
    incarnation: s.incarnation,
    seq,
    sentAt: ctx.now,
    phase: s.phase.name,
    role: roleOf(s.phase.name),
    usesGrant: uses,
    forced: s.auth.forced,
    data: { gen: s.data.gen, status: s.data.status, committed: s.data.committed },
    knownPeerGen: s.peer.knownGen,
    yielding: s.intent.yielding,
    wantsPrimary: s.intent.wantsPrimary,
    secondaryOnly: s.intent.secondaryOnly,
    ack: last === null ? null : { incarnation: last.message.incarnation, seq: last.message.seq, sentAt: last.message.sentAt },
    grantMs,
  };
  const grants = grantMs > 0 && last !== null ? { until: max(s.grants.until, last.receivedAt + grantMs), lastSeq: seq } : s.grants;
  const auth = uses ? s.auth : { ...s.auth, peerUntil: null };
  return { state: { ...s, seq, grants, auth }, message };
}

export interface Received {
  readonly state: MirrorState;
  /** False when the message was dropped (not from our peer, duplicate, out of order, old incarnation). */
  readonly accepted: boolean;
  /** The peer's reported situation changed in a way it may want an answer to at once. */
  readonly changed: boolean;
}

export function receiveMessage(s: MirrorState, msg: PeerMessage, ctx: MirrorContext): Received {
  if (msg.from !== ctx.peer) return { state: s, accepted: false, changed: false };
  const prev = s.peer.last?.message ?? null;
  if (prev !== null) {
    if (msg.incarnation < prev.incarnation) return { state: s, accepted: false, changed: false };
    if (msg.incarnation === prev.incarnation && msg.seq <= prev.seq) return { state: s, accepted: false, changed: false };
  }
  const changed =
    prev === null ||
    prev.incarnation !== msg.incarnation ||
    prev.phase !== msg.phase ||
    prev.usesGrant !== msg.usesGrant ||
    prev.yielding !== msg.yielding ||
    prev.wantsPrimary !== msg.wantsPrimary ||
    prev.secondaryOnly !== msg.secondaryOnly ||
    prev.data.gen.id !== msg.data.gen.id ||
    prev.data.status !== msg.data.status;

  let auth = s.auth;
  if (msg.grantMs > 0 && msg.ack !== null && msg.ack.incarnation === s.incarnation) {
    auth = { ...auth, peerUntil: max(auth.peerUntil, validUntil(msg.ack.sentAt, msg.grantMs, ctx.config)) };
  }
  let grants = s.grants;
  if (!msg.usesGrant && msg.ack !== null && msg.ack.incarnation === s.incarnation && msg.ack.seq >= s.grants.lastSeq) {
    grants = { ...grants, until: null };
  }
  const peer = { ...s.peer, everSeen: true, last: { message: msg, receivedAt: ctx.now } };
  return { state: { ...s, auth, grants, peer }, accepted: true, changed };
}
