// The mirror state machine: `transition(state, event, ctx) -> { state, effects }`, pure.
// One instance per module and per node. The actor feeds it one event at a time, with `ctx.now` from
// its monotonic clock, and executes the effects in order. See types.ts for the safety argument.
import { authorityUntil, validUntil } from './authority.js';
import { Builder } from './builder.js';
import { onCommand } from './commands.js';
import { evaluate, fenceIfNoAuthority, peerCanTakeOver } from './evaluate.js';
import { compareData, orderGenerations } from './generation.js';
import {
  bumpGeneration,
  enterSecond,
  enterSyncing,
  finishStop,
  goAlone,
  markRegistered,
  recordError,
  releaseLease,
  restartPrimary,
  setWait,
  stepDown,
} from './moves.js';
import { receiveMessage } from './peer.js';
import { appMayRunAsPrimary, isActivePrimaryName, maintainsAuthority, usesGrant } from './phases.js';
import type { DataState, MirrorContext, MirrorEvent, MirrorState, Millis, TransitionResult } from './types.js';

/**
 * The state of a freshly started agent: STOP, with the data state read from disk. Until `grantMs`
 * has passed (or the peer releases us) it will not start the application: a previous incarnation of
 * this agent may have granted the peer authority that is still running.
 */
export function initialState(ctx: MirrorContext, opts: { incarnation: number; data: DataState }): MirrorState {
  return {
    phase: { name: 'STOP' },
    since: ctx.now,
    last: null,
    incarnation: opts.incarnation,
    seq: 0,
    data: opts.data,
    peer: { present: false, everSeen: false, last: null, knownGen: null, degraded: [] },
    auth: { peerUntil: null, leaseUntil: null, leasePending: null, releasedAt: null, forced: false },
    grants: { until: ctx.now + ctx.config.grantMs, lastSeq: 0 },
    intent: { yielding: false, wantsPrimary: false, secondaryOnly: false },
    alone: null,
    replInSync: false,
    replication: { mode: 'off', genId: opts.data.gen.id },
    vip: false,
    errors: [],
    peerWaitUntil: null,
  };
}

export function transition(state: MirrorState, event: MirrorEvent, ctx: MirrorContext): TransitionResult {
  const b = new Builder(state, ctx);
  // A node that resumes after a freeze must stop claiming the primary role before anything else.
  fenceIfNoAuthority(b);
  const before = b.s;
  handle(b, event);
  evaluate(b);
  if (
    b.s.intent !== before.intent &&
    (b.s.intent.yielding !== before.intent.yielding ||
      b.s.intent.wantsPrimary !== before.intent.wantsPrimary ||
      b.s.intent.secondaryOnly !== before.intent.secondaryOnly)
  ) {
    b.wantSend = true;
  }
  if (b.wantSend || event.type === 'heartbeatDue') b.send();
  return b.result();
}

function handle(b: Builder, e: MirrorEvent): void {
  switch (e.type) {
    case 'command':
      return onCommand(b, e.command, e.force);
    case 'peerMessage':
      return onPeerMessage(b, e.message);
    case 'peerUp':
      b.patch({ peer: { ...b.s.peer, present: true, everSeen: true } });
      b.wantSend = true;
      return;
    case 'peerLost':
      b.patch({ peer: { ...b.s.peer, present: false, degraded: [] } });
      return;
    case 'peerDegraded':
      if (e.down.join(',') !== b.s.peer.degraded.join(',')) {
        b.patch({ peer: { ...b.s.peer, degraded: [...e.down] } });
        b.warn(e.down.length === 0 ? 'all heartbeat networks are up again' : `heartbeat network(s) down: ${e.down.join(', ')} (peer still reachable: no failover)`);
      }
      return;
    case 'leaseGranted':
      return onLeaseGranted(b, e.sentAt, e.durationMs, e.genId);
    case 'leaseDenied':
      return onLeaseDenied(b, e);
    case 'leaseNoAnswer':
      return onLeaseNoAnswer(b, e.sentAt);
    case 'appStarted':
      return onAppStarted(b, e.role);
    case 'appStartFailed':
      return onAppStartFailed(b, e.role, e.reason);
    case 'appStopped':
      return onAppStopped(b, e.role, e.reason);
    case 'checkerAction':
      return onCheckerAction(b, e.checker, e.action, e.reason);
    case 'replInSync':
      if (maintainsAuthority(b.s.phase)) b.patch({ replInSync: true });
      return;
    case 'replOutOfSync':
      return onReplOutOfSync(b, e.reason);
    case 'resyncDone':
      return onResyncDone(b, e.generation);
    case 'resyncFailed':
      return onResyncFailed(b, e.reason);
    case 'heartbeatDue':
    case 'tick':
      return;
  }
}

function onPeerMessage(b: Builder, msg: Parameters<typeof receiveMessage>[1]): void {
  const r = receiveMessage(b.s, msg, b.ctx);
  if (!r.accepted) return;
  b.s = r.state;
  if (r.changed) b.wantSend = true;
  // Learn from the peer's data: a newer generation makes ours stale (persisted before we tell the
  // peer we saw it, which is what lets a primary writing alone count us as a registration).
  const d = b.s.data;
  const older = d.status === 'up-to-date' && msg.data.status === 'up-to-date' && orderGenerations(d, msg.data) === 'older';
  // A fenced node (killing its application after its authority ran out) no longer writes: it may
  // learn that its data is older like any non-primary.
  const fenced = b.s.phase.name === 'STOPPING_PRIM' && b.s.phase.fenced;
  if (older && (!appMayRunAsPrimary(b.s.phase) || fenced)) {
    b.setData({ ...d, status: 'stale', newerKnown: msg.data.gen.id });
  } else if (older) {
    // Not acknowledged: we did not record that our data is older.
    b.warn(`${b.ctx.peer} reports generation ${msg.data.gen.id}, newer than ours (${d.gen.id}), while we are primary`);
    return;
  }
  b.patch({ peer: { ...b.s.peer, knownGen: msg.data.gen.id } });
}

function onLeaseGranted(b: Builder, sentAt: Millis, durationMs: Millis, genId: string): void {
  const a = b.s.auth;
  if (a.releasedAt !== null && sentAt <= a.releasedAt) {
    // Answers a request older than our last release: void. Not released again (a release could
    // cancel a newer lease of ours at the witness); it lapses by itself.
    if (a.leasePending !== null && a.leasePending.sentAt === sentAt) b.patch({ auth: { ...a, leasePending: null } });
    return;
  }
  const until = validUntil(sentAt, durationMs, b.cfg);
  const pending = a.leasePending !== null && a.leasePending.sentAt === sentAt ? null : a.leasePending;
  const running = usesGrant(b.s.phase) && !(b.s.phase.name === 'STOPPING_PRIM' && b.s.phase.fenced);
  if (!running) {
    // Late answer: we do not need it; give it back so that the peer is not blocked.
    b.patch({ auth: { ...a, leasePending: pending, leaseUntil: Math.max(a.leaseUntil ?? until, until) } });
    releaseLease(b);
    return;
  }
  b.patch({ auth: { ...a, leasePending: pending, leaseUntil: Math.max(a.leaseUntil ?? Number.NEGATIVE_INFINITY, until) } });
  markRegistered(b, genId);
}

function onLeaseDenied(b: Builder, e: Extract<MirrorEvent, { type: 'leaseDenied' }>): void {
  const a = b.s.auth;
  const current = a.leasePending !== null && a.leasePending.sentAt === e.sentAt;
  if (current) b.patch({ auth: { ...a, leasePending: null } });
  const p = b.s.phase;
  const running = appMayRunAsPrimary(p);
  const d = b.s.data;
  // The answer may be about an older request (and generation) of ours: judge the witness's latest
  // generation against the data we have now.
  const order = e.latest === null ? null : orderGenerations(d, { gen: e.latest, committed: true });
  if (order === 'older' && !running && d.status === 'up-to-date' && e.latest !== null) {
    b.setData({ ...d, status: 'stale', newerKnown: e.latest.id });
  } else if (order === 'diverged' && !running && e.latest !== null && d.divergedFrom === null) {
    b.setData({ ...d, divergedFrom: e.latest });
  } else if (running && (order === 'older' || order === 'diverged')) {
    b.warn(`the witness holds generation ${e.latest?.id ?? '?'}, which ours (${d.gen.id}) does not supersede (${order})`);
  }
  if (p.name === 'PROMOTING' && !p.forced && current) {
    releaseLease(b);
    const holder = e.holder === null ? '' : ` (held by ${e.holder})`;
    // Ask again when the holder's lease lapses (it may have died holding it), or after leaseRetryMs.
    const retryAt = b.now + Math.min(b.cfg.leaseRetryMs, e.retryAfterMs === null ? Infinity : Math.max(0, e.retryAfterMs) + 10);
    switch (e.reason) {
      case 'held':
        return setWait(b, 'witness-denied', `the witness denied the lease${holder}`, retryAt);
      case 'unavailable':
        return setWait(b, 'no-witness', 'the witness is not granting leases yet (restarting)', retryAt);
      case 'stale':
      case 'diverged':
        if (order === 'older' || order === 'diverged') return; // data now stale or diverged: evaluate() refuses
        return setWait(b, 'backoff', `the witness refused our generation ${d.gen.id}`, b.now + b.cfg.leaseRetryMs);
    }
  }
}

function onLeaseNoAnswer(b: Builder, sentAt: Millis): void {
  const a = b.s.auth;
  if (a.leasePending === null || a.leasePending.sentAt !== sentAt) return;
  b.patch({ auth: { ...a, leasePending: null } });
  const p = b.s.phase;
  if (p.name === 'PROMOTING' && !p.forced && b.view() === null) {
    releaseLease(b);
    setWait(b, 'no-witness', `${b.ctx.peer} unreachable and the witness does not answer: not starting alone ('hamod prim --force' to override)`, b.now + b.cfg.leaseRetryMs);
  }
}

function onAppStarted(b: Builder, role: 'primary' | 'secondary'): void {
  const p = b.s.phase;
  if (role === 'secondary') return;
  if (p.name !== 'STARTING_PRIM') {
    if (!isActivePrimaryName(p.name)) b.warn(`late report: primary application started while ${p.name}`);
    return;
  }
  if (p.target === 'PRIM') b.go({ name: 'PRIM' }, 'application started; secondary in sync');
  else b.go({ name: 'ALONE' }, 'application started; no synchronised secondary');
}

function onAppStartFailed(b: Builder, role: 'primary' | 'secondary', reason: string): void {
  const p = b.s.phase;
  if (role === 'secondary') {
    const exceeded = recordError(b);
    b.warn(`secondary-role services failed to start: ${reason}`);
    if (exceeded && p.name === 'SECOND') {
      b.emit({ type: 'stopApp', role: 'secondary', force: false });
      b.go({ name: 'STOP' }, 'too many errors: giving up');
    }
    return;
  }
  if (p.name !== 'STARTING_PRIM') return;
  const exceeded = recordError(b);
  stepDown(b, exceeded ? 'STOP' : 'WAIT', `application failed to start: ${reason}${exceeded ? '; too many errors, giving up' : ''}`, {
    force: false,
    yielding: peerCanTakeOver(b) || b.view() !== null,
    afterError: true,
  });
}

function onAppStopped(b: Builder, role: 'primary' | 'secondary', reason: string): void {
  const p = b.s.phase;
  if (role === 'secondary') {
    if (p.name === 'SECOND') b.warn(`secondary-role services stopped: ${reason}`);
    return;
  }
  if (p.name === 'STOPPING_PRIM') {
    return finishStop(
      b,
      p.fenced
        ? 'application stopped after losing authority'
        : p.next === 'RESTART'
          ? 'application stopped: starting it again (local restart)'
          : `application stopped (${reason}) after: ${p.cause}`,
    );
  }
  if (p.name === 'STARTING_PRIM') return onAppStartFailed(b, 'primary', `exited while starting: ${reason}`);
  if (isActivePrimaryName(p.name)) b.warn(`primary application stopped unexpectedly (${reason}); the process checker decides what to do`);
}

function onCheckerAction(b: Builder, checker: string, action: 'restart' | 'failover' | 'stop', reason: string): void {
  const p = b.s.phase;
  const why = `checker ${checker}: ${reason}`;
  if (action === 'stop') {
    if (isActivePrimaryName(p.name)) return stepDown(b, 'STOP', `${why}: stopping the module`, { force: false, yielding: false, afterError: true });
    if (p.name === 'SECOND' || p.name === 'SYNCING' || p.name === 'WAIT' || p.name === 'DIVERGED') {
      if (p.name === 'SECOND') b.emit({ type: 'stopApp', role: 'secondary', force: false });
      if (p.name === 'SYNCING') b.emit({ type: 'abortResync' });
      b.go({ name: 'STOP' }, `${why}: stopping the module`);
    }
    return;
  }
  if (p.name === 'PRIM' || p.name === 'ALONE') {
    if (action === 'failover') {
      if (peerCanTakeOver(b)) return stepDown(b, 'WAIT', `${why}: failing over to ${b.ctx.peer}`, { force: false, yielding: true, afterError: true });
      b.warn(`${why}: no synchronised secondary to fail over to; restarting locally`);
    }
    return restartPrimary(b, `${why}: restarting the application`);
  }
  if (p.name === 'SECOND' && action === 'restart') {
    b.emit({ type: 'stopApp', role: 'secondary', force: false });
    b.emit({ type: 'startApp', role: 'secondary' });
  }
}

function onReplOutOfSync(b: Builder, reason: string): void {
  b.patch({ replInSync: false });
  const p = b.s.phase;
  if (p.name === 'PRIM') return goAlone(b, `replication out of sync (${reason}): continuing alone under a new generation`);
  if (p.name === 'ALONE') {
    // The secondary had caught up with our generation and now misses a write: it must not be able
    // to pass for up to date with it, so writes continue under yet another generation.
    b.warn(`replication out of sync (${reason}): new generation`);
    return goAlone(b, `replication out of sync (${reason})`);
  }
  if (p.name === 'STARTING_PRIM') {
    const gen = bumpGeneration(b, [], b.s.auth.forced);
    b.patch({ alone: { genId: gen.id } });
    b.go({ ...p, target: 'ALONE' }, `replication out of sync (${reason})`);
  }
  if (p.name === 'STOPPING_PRIM' && !p.fenced) {
    // The application still writes while it shuts down: same rule as ALONE.
    b.warn(`replication out of sync while stopping (${reason}): new generation`);
    const gen = bumpGeneration(b, [], b.s.auth.forced);
    b.patch({ alone: { genId: gen.id } });
  }
}

function onResyncDone(b: Builder, generation: MirrorState['data']['gen']): void {
  if (b.s.phase.name !== 'SYNCING') return;
  // If the primary already told us of a newer generation (and we acknowledged it), reaching an
  // older one does not make us up to date.
  const peerGen = b.s.peer.last?.message.data.gen ?? null;
  const behind = peerGen !== null && orderGenerations({ gen: generation, committed: true }, { gen: peerGen, committed: true }) === 'older';
  b.setData({
    ...b.s.data,
    gen: generation,
    status: behind ? 'stale' : 'up-to-date',
    committed: true,
    newerKnown: behind && peerGen !== null ? peerGen.id : null,
    divergedFrom: null,
  });
  const v = b.view();
  if (v === null || !v.usesGrant || !isActivePrimaryName(v.phase)) return;
  const order = compareData(b.s.data, v.data);
  if (order === 'same') return enterSecond(b, `resynchronised to generation ${generation.id}`);
  if (order === 'theirs-newer') return enterSyncing(b, v, `${b.ctx.peer} moved on to ${v.data.gen.id}: resynchronising again`);
}

function onResyncFailed(b: Builder, reason: string): void {
  if (b.s.phase.name !== 'SYNCING') return;
  // Not counted in the module's error budget: a resync fails for network reasons, not the application's.
  b.emit({ type: 'abortResync' });
  setWait(b, 'backoff', `resynchronisation failed: ${reason}`, b.now + b.cfg.restartBackoffMs);
}

/**
 * The earliest time at which a `tick` may change something (a deadline, a retry, authority running
 * low or out), or null. The actor arms one timer for it; heartbeatDue events come on their own.
 */
export function nextWakeup(s: MirrorState, ctx: MirrorContext): Millis | null {
  const times: number[] = [];
  const p = s.phase;
  if (p.name === 'WAIT' && p.retryAt !== null) times.push(p.retryAt);
  if (p.name === 'PROMOTING' || p.name === 'STARTING_PRIM' || p.name === 'STOPPING_PRIM') times.push(p.deadline);
  if (s.peerWaitUntil !== null) times.push(s.peerWaitUntil);
  if (p.name === 'PROMOTING' && s.grants.until !== null) times.push(s.grants.until);
  if (s.auth.leasePending !== null) times.push(s.auth.leasePending.sentAt + ctx.config.leaseAnswerTimeoutMs);
  if (maintainsAuthority(p) && !s.auth.forced) {
    const until = authorityUntil(s.auth);
    if (Number.isFinite(until)) times.push(until, until - ctx.config.leaseRenewLeadMs);
  }
  const future = times.filter((t) => t > ctx.now);
  return future.length === 0 ? null : Math.min(...future);
}

export { appMayRunAsPrimary, holdsPrimary, usesGrant } from './phases.js';
