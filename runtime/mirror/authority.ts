// Authority arithmetic: how long a peer grant or a witness lease lets us run, and whether our own
// promise to the peer still binds us. Every validity is measured from OUR send time of the message
// the grantor answered (echoed back), so network delay only shortens it.
import type { AuthorityState, GrantLedger, MirrorConfig, Millis } from './types.js';

/**
 * End of the validity of a grant or lease of `durationMs` answering our message sent at `sentAt`:
 * shortened by the clock-rate margin and by `fenceLeadMs`, the time fencing needs (kill the
 * application, remove the VIP) to be complete before the grantor may start the application.
 */
export function validUntil(sentAt: Millis, durationMs: Millis, config: MirrorConfig): Millis {
  return sentAt + Math.floor(durationMs * (1 - config.driftRate)) - config.fenceLeadMs;
}

/** End of our authority (−Infinity without any; +Infinity when forced). */
export function authorityUntil(auth: AuthorityState): Millis {
  if (auth.forced) return Number.POSITIVE_INFINITY;
  return Math.max(auth.peerUntil ?? Number.NEGATIVE_INFINITY, auth.leaseUntil ?? Number.NEGATIVE_INFINITY);
}

export function hasAuthority(auth: AuthorityState, now: Millis): boolean {
  return authorityUntil(auth) > now;
}

/** Our promises to the peer have all lapsed (or were released): we may start the application. */
export function grantsClear(grants: GrantLedger, now: Millis): boolean {
  return grants.until === null || now >= grants.until;
}

export function max(a: Millis | null, b: Millis): Millis {
  return a === null ? b : Math.max(a, b);
}
