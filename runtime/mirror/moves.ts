// Compound moves of the mirror machine: each enters a phase together with the effects that go with
// it, in the order the actor must execute them.
import { generationId, nextGeneration, compareGenerations } from './generation.js';
import type { Builder } from './builder.js';
import type { Generation, MirrorState, Millis, PeerMessage, ReplicationMode, StopNext, WaitWhy } from './types.js';

/** Record an error in the module's budget; true when the budget is exhausted (give up: STOP). */
export function recordError(b: Builder): boolean {
  const { count, windowMs } = b.cfg.maxErrors;
  const errors = [...b.s.errors.filter((t) => b.now - t < windowMs), b.now];
  b.patch({ errors });
  return errors.length >= count;
}

/** Enter or stay in WAIT; `retryAt` undefined keeps the current one. */
export function setWait(b: Builder, why: WaitWhy, reason: string, retryAt?: Millis | null): void {
  const cur = b.s.phase;
  const keep = cur.name === 'WAIT' ? cur.retryAt : null;
  const r = retryAt === undefined ? keep : retryAt;
  if (cur.name === 'WAIT' && cur.why === why && cur.retryAt === r) return;
  b.go({ name: 'WAIT', why, retryAt: r }, reason);
}

export function clearIntent(b: Builder): void {
  b.patch({ intent: { yielding: false, wantsPrimary: false, secondaryOnly: false } });
}

export function requestLease(b: Builder): void {
  const a = b.s.auth;
  const renew = a.leaseUntil !== null && a.leaseUntil > b.now;
  b.emit({ type: 'requestLease', sentAt: b.now, generation: b.s.data.gen, committed: b.s.data.committed, renew });
  b.patch({ auth: { ...a, leasePending: { sentAt: b.now, genId: b.s.data.gen.id } } });
}

/** A lease request is out and may still be answered. */
export function leasePendingFresh(b: Builder): boolean {
  const p = b.s.auth.leasePending;
  return p !== null && b.now - p.sentAt < b.cfg.leaseAnswerTimeoutMs;
}

/** Give the witness lease back (only once the application is stopped, or was never started). */
export function releaseLease(b: Builder): void {
  const a = b.s.auth;
  if (a.leaseUntil !== null || a.leasePending !== null) {
    b.emit({ type: 'releaseLease', upTo: b.now });
    b.patch({ auth: { ...a, leaseUntil: null, leasePending: null, releasedAt: b.now } });
  }
}

/** Start a new generation (persisted before anything is written under it). */
export function bumpGeneration(b: Builder, alsoSupersedes: readonly string[], committed: boolean): Generation {
  const d = b.s.data;
  const counter = d.counter + 1;
  const gen = nextGeneration(d.gen, generationId(b.ctx.self, b.s.incarnation, counter), alsoSupersedes);
  b.setData({ gen, status: 'up-to-date', committed, newerKnown: null, divergedFrom: null, counter });
  return gen;
}

export function promote(b: Builder, via: 'peer' | 'witness', forced: boolean, reason: string): void {
  b.go({ name: 'PROMOTING', via, forced, deadline: b.now + b.cfg.promoteTimeoutMs }, reason);
}

/** Add the VIP, set the replication mode, start the primary-role application. */
export function startPrimary(b: Builder, target: 'PRIM' | 'ALONE', forced: boolean, reason: string): void {
  const t = forced ? 'ALONE' : target;
  b.go({ name: 'STARTING_PRIM', target: t, deadline: b.now + b.cfg.startTimeoutMs }, reason);
  let alone = null;
  if (forced) {
    const d = b.s.data;
    const discarded = [d.newerKnown, d.divergedFrom?.id ?? null].filter((x): x is string => x !== null);
    const gen = bumpGeneration(b, discarded, true);
    alone = { genId: gen.id };
    b.patch({ auth: { ...b.s.auth, forced: true } });
  } else if (t === 'ALONE') {
    const gen = bumpGeneration(b, [], false);
    alone = { genId: gen.id };
  }
  b.patch({ alone, replInSync: false });
  clearIntent(b);
  if (!b.s.vip) {
    b.emit({ type: 'addVip' });
    b.patch({ vip: true });
  }
  syncReplication(b);
  b.emit({ type: 'startApp', role: 'primary' });
}

/** PRIM -> ALONE: write under a new generation, held until it is registered. */
export function goAlone(b: Builder, reason: string): void {
  b.go({ name: 'ALONE' }, reason);
  const gen = bumpGeneration(b, [], b.s.auth.forced);
  b.patch({ alone: { genId: gen.id }, replInSync: false });
}

/** The generation we write alone under is registered (witness or peer): writes may be acknowledged. */
export function markRegistered(b: Builder, genId: string): void {
  const a = b.s.alone;
  const d = b.s.data;
  if (a !== null && a.genId === genId && d.gen.id === genId && !d.committed) b.setData({ ...d, committed: true });
}

/** Graceful (or forced) stop of the primary-role application; the VIP goes first. */
export function stepDown(
  b: Builder,
  next: Exclude<StopNext, 'RESTART'>,
  reason: string,
  opts: { force: boolean; yielding: boolean; afterError: boolean },
): void {
  b.patch({ intent: { ...b.s.intent, yielding: opts.yielding, wantsPrimary: false } });
  b.go(
    {
      name: 'STOPPING_PRIM',
      next,
      deadline: b.now + (opts.force ? b.cfg.killTimeoutMs : b.cfg.stopTimeoutMs),
      killed: opts.force,
      fenced: false,
      afterError: opts.afterError,
      cause: reason,
    },
    reason,
  );
  if (b.s.vip) {
    b.emit({ type: 'removeVip' });
    b.patch({ vip: false });
  }
  b.emit({ type: 'stopApp', role: 'primary', force: opts.force });
}

/** Authority is gone: application killed, writes refused, VIP off, before anything else. */
export function fence(b: Builder, reason: string): void {
  b.go(
    { name: 'STOPPING_PRIM', next: 'WAIT', deadline: b.now + b.cfg.killTimeoutMs, killed: true, fenced: true, afterError: false, cause: reason },
    reason,
  );
  // The kill first (sent at once), writes refused, then the VIP (removing it waits for a command).
  b.emit({ type: 'stopApp', role: 'primary', force: true });
  syncReplication(b);
  if (b.s.vip) {
    b.emit({ type: 'removeVip' });
    b.patch({ vip: false });
  }
  b.patch({ intent: { ...b.s.intent, yielding: false, wantsPrimary: false } });
}

/** Local restart of the primary-role application: VIP and authority kept. */
export function restartPrimary(b: Builder, reason: string): void {
  b.go(
    { name: 'STOPPING_PRIM', next: 'RESTART', deadline: b.now + b.cfg.stopTimeoutMs, killed: false, fenced: false, afterError: false, cause: reason },
    reason,
  );
  b.emit({ type: 'stopApp', role: 'primary', force: false });
}

/** The primary-role application has stopped. */
export function finishStop(b: Builder, reason: string): void {
  const p = b.s.phase;
  if (p.name !== 'STOPPING_PRIM') return;
  if (p.next === 'RESTART') {
    b.go({ name: 'STARTING_PRIM', target: b.s.alone === null ? 'PRIM' : 'ALONE', deadline: b.now + b.cfg.startTimeoutMs }, reason);
    b.emit({ type: 'startApp', role: 'primary' });
    return;
  }
  releaseLease(b);
  b.patch({ auth: { ...b.s.auth, peerUntil: null, leaseUntil: null, leasePending: null, forced: false }, alone: null, replInSync: false });
  if (b.s.vip) {
    b.emit({ type: 'removeVip' });
    b.patch({ vip: false });
  }
  if (p.next === 'STOP') {
    clearIntent(b);
    b.go({ name: 'STOP' }, reason);
  } else {
    setWait(b, p.afterError ? 'backoff' : 'peer', reason, p.afterError ? b.now + b.cfg.restartBackoffMs : null);
  }
  syncReplication(b);
}

/** Follow the peer's data: mark ours inconsistent (unless identical) and ask for a resync. */
export function enterSyncing(b: Builder, v: PeerMessage, reason: string): void {
  const d = b.s.data;
  const order = compareGenerations(d.gen, v.data.gen);
  if (b.s.phase.name === 'SECOND') b.emit({ type: 'stopApp', role: 'secondary', force: false });
  if (!(order === 'same' && d.status === 'up-to-date') && d.status !== 'resyncing') b.setData({ ...d, status: 'resyncing' });
  b.go({ name: 'SYNCING', target: v.data.gen }, reason);
  syncReplication(b);
  b.emit({ type: 'beginResync', from: d.gen, to: v.data.gen, full: order === 'diverged' || order === 'newer' });
}

export function enterSecond(b: Builder, reason: string): void {
  clearIntent(b);
  b.go({ name: 'SECOND' }, reason);
  syncReplication(b);
  b.emit({ type: 'startApp', role: 'secondary' });
}

export function leaveSecond(b: Builder): void {
  if (b.s.phase.name === 'SECOND') b.emit({ type: 'stopApp', role: 'secondary', force: false });
}

export function markDiverged(b: Builder, theirs: Generation, reason: string): void {
  leaveSecond(b);
  if (b.s.phase.name === 'SYNCING') b.emit({ type: 'abortResync' });
  const d = b.s.data;
  if (d.divergedFrom === null || d.divergedFrom.id !== theirs.id) b.setData({ ...d, divergedFrom: theirs });
  clearIntent(b);
  b.go({ name: 'DIVERGED', peerGen: theirs }, reason);
  b.warn(
    `both nodes wrote while apart: our data (generation ${d.gen.id}) and the peer's (${theirs.id}) diverged. ` +
      `Nothing is started automatically. Keep one side: run 'hamod second MODULE --node NODE' on the node whose ` +
      `changes are to be discarded; it will then be resynchronised from the other, which becomes primary.`,
  );
}

export function desiredReplication(s: MirrorState): ReplicationMode {
  const p = s.phase;
  switch (p.name) {
    case 'STARTING_PRIM':
      if (p.target === 'PRIM') return 'sync';
      return s.data.committed ? 'alone' : 'hold';
    case 'PRIM':
      return 'sync';
    case 'ALONE':
      return s.data.committed ? 'alone' : 'hold';
    case 'STOPPING_PRIM':
      // A stopping application still writes (it flushes on shutdown) under the mode it had.
      if (p.fenced) return 'off';
      if (s.alone !== null) return s.data.committed ? 'alone' : 'hold';
      return s.replication.mode;
    case 'SYNCING':
    case 'SECOND':
      return 'receive';
    default:
      return 'off';
  }
}

/** Tell the replication layer when the wanted mode (or the generation it writes under) changes. */
export function syncReplication(b: Builder): void {
  const mode = desiredReplication(b.s);
  const gen = b.s.data.gen;
  const cur = b.s.replication;
  if (mode !== cur.mode || (mode !== 'off' && gen.id !== cur.genId)) {
    b.emit({ type: 'setReplication', mode, generation: gen });
    b.patch({ replication: { mode, genId: gen.id } });
  }
}
