// Level-triggered part of the machine: after every event, look at the facts (phase, peer's last
// status, authority, deadlines, data) and move on until nothing changes. Edge-triggered reactions
// (commands, application and replication events) are in machine.ts and commands.ts.
import { authorityUntil, grantsClear, hasAuthority } from './authority.js';
import type { Builder } from './builder.js';
import { chooseWinner, type Candidate } from './decide.js';
import { compareData } from './generation.js';
import {
  bumpGeneration,
  enterSecond,
  enterSyncing,
  fence,
  goAlone,
  leasePendingFresh,
  leaveSecond,
  markDiverged,
  markRegistered,
  promote,
  recordError,
  releaseLease,
  requestLease,
  setWait,
  startPrimary,
  stepDown,
  syncReplication,
} from './moves.js';
import { holdsPrimary, isActivePrimaryName, maintainsAuthority } from './phases.js';
import type { NodeName, PeerMessage } from './types.js';

export function evaluate(b: Builder): void {
  for (let i = 0; i < 12; i++) {
    const before = b.s.phase;
    stepOnce(b);
    if (b.s.phase === before) break;
  }
  maintainLease(b);
  syncReplication(b);
}

/**
 * Fence when a node claiming the primary role has lost its authority; kill at once an application
 * that is still stopping when authority runs out. True if it did either.
 */
export function fenceIfNoAuthority(b: Builder): boolean {
  const s = b.s;
  if (s.auth.forced || hasAuthority(s.auth, b.now)) return false;
  const p = s.phase;
  if (p.name === 'STOPPING_PRIM' && !p.killed && p.next !== 'RESTART') {
    b.go({ ...p, killed: true, fenced: true, deadline: b.now + b.cfg.killTimeoutMs }, 'authority expired while stopping');
    b.emit({ type: 'stopApp', role: 'primary', force: true });
    syncReplication(b);
    if (b.s.vip) {
      b.emit({ type: 'removeVip' });
      b.patch({ vip: false });
    }
    b.warn('authority expired while the application was stopping: killed it');
    return true;
  }
  if (!holdsPrimary(p)) return false;
  const until = authorityUntil(s.auth);
  const since = Number.isFinite(until) ? `${Math.round(b.now - until)} ms ago` : 'never held';
  fence(b, `no authority to run as primary (peer grant and witness lease expired: ${since}): stepping down at once`);
  return true;
}

function me(b: Builder): Candidate {
  return { name: b.ctx.self, data: b.s.data, ...b.s.intent };
}

function winner(b: Builder, v: PeerMessage): NodeName | null {
  return chooseWinner(me(b), { name: b.ctx.peer, data: v.data, yielding: v.yielding, wantsPrimary: v.wantsPrimary, secondaryOnly: v.secondaryOnly }, b.cfg.defaultPrimary);
}

/** The peer runs the primary-role application (or is stopping it). */
function peerRuns(v: PeerMessage): boolean {
  return v.usesGrant && (isActivePrimaryName(v.phase) || v.phase === 'STOPPING_PRIM');
}

function stepOnce(b: Builder): void {
  if (fenceIfNoAuthority(b)) return;
  switch (b.s.phase.name) {
    case 'STOP':
      return;
    case 'WAIT':
      return stepWait(b);
    case 'PROMOTING':
      return stepPromoting(b);
    case 'STARTING_PRIM':
      return stepStarting(b);
    case 'PRIM':
      return stepPrim(b);
    case 'ALONE':
      return stepAlone(b);
    case 'STOPPING_PRIM':
      return stepStopping(b);
    case 'SYNCING':
      return stepSyncing(b);
    case 'SECOND':
      return stepSecond(b);
    case 'DIVERGED':
      return stepDiverged(b);
  }
}

function refusalFor(b: Builder): void {
  const d = b.s.data;
  if (d.status === 'stale') {
    setWait(
      b,
      'stale',
      `data is stale (generation ${d.gen.id}; ${d.newerKnown ?? 'a newer one'} exists): not starting as primary; ` +
        `start the node with the newest data first, or 'hamod prim --force' here to discard it`,
    );
  } else {
    setWait(b, 'inconsistent', `data is inconsistent (a resynchronisation did not finish): not starting as primary; 'hamod prim --force' accepts it as is`);
  }
}

function stepWait(b: Builder): void {
  const s = b.s;
  if (s.phase.name !== 'WAIT') return;
  if (s.data.divergedFrom !== null) return markDiverged(b, s.data.divergedFrom, 'data diverged from the peer (persisted)');
  const retryOk = s.phase.retryAt === null || b.now >= s.phase.retryAt;
  const peer = b.ctx.peer;
  const v = b.view();
  if (v !== null) {
    const order = compareData(s.data, v.data);
    if (order === 'diverged') return markDiverged(b, v.data.gen, `our generation ${s.data.gen.id} and ${peer}'s ${v.data.gen.id} diverged`);
    if (v.usesGrant) {
      if (!isActivePrimaryName(v.phase)) return setWait(b, 'peer', `${peer} is ${v.phase}`);
      if (order === 'mine-newer') {
        return setWait(b, 'conflict', `${peer} runs as primary with older data than ours: stop it, or 'hamod second' here to discard our changes`);
      }
      if (!retryOk) return;
      if (order === 'same') return enterSecond(b, `${peer} is primary (${v.phase}) with the same data`);
      return enterSyncing(b, v, `${peer} is primary (${v.phase}): resynchronising from it`);
    }
    if (order === 'neither') {
      return setWait(b, 'no-data', `neither node has up-to-date data: 'hamod prim --force' on the node whose data to keep`);
    }
    if (order === 'theirs-newer') {
      if (v.phase === 'STOP') {
        return setWait(b, 'stale', `${peer} has newer data (${v.data.gen.id}) but is stopped: start it, or 'hamod prim --force' here to discard its changes`);
      }
      return setWait(b, 'peer', `${peer} has newer data: waiting for it to start as primary`);
    }
    if (!retryOk) return;
    const w = v.phase === 'STOP' ? b.ctx.self : winner(b, v);
    if (w === b.ctx.self && !s.intent.secondaryOnly) {
      return promote(b, 'peer', false, v.phase === 'STOP' ? `${peer} is stopped: becoming primary` : `elected primary with ${peer} (${order} data)`);
    }
    return setWait(b, 'peer', `waiting for ${peer} to start as primary`);
  }
  if (s.peer.present) return; // the peer is up but its status has not arrived yet
  const r = b.recent();
  if (r !== null && peerRuns(r)) return setWait(b, 'peer', `${peer} was running as primary ${b.now - (s.peer.last?.receivedAt ?? 0)} ms ago`);
  if (s.data.status !== 'up-to-date') return refusalFor(b);
  if (!s.peer.everSeen && s.peerWaitUntil !== null && b.now < s.peerWaitUntil) {
    return setWait(b, 'starting', `waiting up to ${b.cfg.peerWaitMs} ms for ${peer}`, null);
  }
  if (s.intent.secondaryOnly) return setWait(b, 'peer', `told to be secondary: waiting for ${peer}`);
  if (!retryOk) return;
  promote(b, 'witness', false, `${peer} unreachable: asking the witness for the primary lease`);
}

function stepPromoting(b: Builder): void {
  const s = b.s;
  const p = s.phase;
  if (p.name !== 'PROMOTING') return;
  const peer = b.ctx.peer;
  const v = b.view();
  const r = b.recent();
  const abandon = (why: Parameters<typeof setWait>[1], reason: string, retryAt: number | null = null): void => {
    releaseLease(b);
    setWait(b, why, reason, retryAt);
  };
  if (b.now >= p.deadline) return abandon('backoff', 'promotion timed out', b.now + b.cfg.leaseRetryMs);
  if (r !== null && peerRuns(r)) {
    return abandon('peer', `${peer} runs as primary (${r.phase}): not promoting`);
  }
  if (!p.forced) {
    if (s.data.divergedFrom !== null) return markDiverged(b, s.data.divergedFrom, 'data diverged from the peer');
    if (s.data.status !== 'up-to-date') {
      releaseLease(b);
      return refusalFor(b);
    }
    if (r !== null) {
      const order = compareData(s.data, r.data);
      if (order === 'diverged') {
        releaseLease(b);
        return markDiverged(b, r.data.gen, `our generation ${s.data.gen.id} and ${peer}'s ${r.data.gen.id} diverged`);
      }
      if (order === 'theirs-newer' || order === 'neither') return abandon('peer', `${peer} has newer data`);
    }
    if (v !== null && v.phase !== 'STOP' && winner(b, v) !== b.ctx.self) return abandon('peer', `${peer} should be primary`);
    if (!hasAuthority(s.auth, b.now)) {
      if (v === null || p.via === 'witness') {
        const pend = s.auth.leasePending;
        if (pend !== null && !leasePendingFresh(b)) {
          if (v === null) {
            return abandon('no-witness', `${peer} unreachable and the witness does not answer: not starting alone ('hamod prim --force' to override)`, b.now + b.cfg.leaseRetryMs);
          }
          requestLease(b);
        } else if (pend === null) {
          requestLease(b);
        }
      }
      return;
    }
  }
  if (!grantsClear(s.grants, b.now)) return;
  const target = !p.forced && v !== null && v.phase !== 'STOP' && compareData(s.data, v.data) === 'same' ? 'PRIM' : 'ALONE';
  startPrimary(
    b,
    target,
    p.forced,
    p.forced ? 'forced by the operator (prim --force)' : p.via === 'witness' ? 'witness lease granted' : `${peer} agrees`,
  );
}

/** Two running primaries can only follow a forced promotion: the unforced one steps down. */
function peerConflict(b: Builder): boolean {
  const v = b.view();
  if (v === null || b.s.auth.forced || !v.usesGrant || !isActivePrimaryName(v.phase)) return false;
  stepDown(b, 'WAIT', `${b.ctx.peer} also runs as primary${v.forced ? ' (forced)' : ''}: stepping down`, { force: true, yielding: false, afterError: false });
  return true;
}

function stepStarting(b: Builder): void {
  const p = b.s.phase;
  if (p.name !== 'STARTING_PRIM') return;
  if (peerConflict(b)) return;
  if (b.now >= p.deadline) {
    const exceeded = recordError(b);
    stepDown(b, exceeded ? 'STOP' : 'WAIT', `start timed out after ${b.cfg.startTimeoutMs} ms${exceeded ? ': too many errors, giving up' : ''}`, {
      force: true,
      yielding: peerCanTakeOver(b),
      afterError: true,
    });
    return;
  }
  const known = b.s.peer.last?.message.knownPeerGen;
  if (known !== undefined && known !== null) markRegistered(b, known);
}

/** The peer is an in-sync secondary able to take over now. */
export function peerCanTakeOver(b: Builder): boolean {
  const v = b.view();
  return v !== null && v.phase === 'SECOND' && !v.secondaryOnly && compareData(b.s.data, v.data) === 'same';
}

function stepPrim(b: Builder): void {
  if (peerConflict(b)) return;
  const v = b.view();
  if (v === null) return goAlone(b, `${b.ctx.peer} lost: continuing alone under a new generation`);
  const order = compareData(b.s.data, v.data);
  if (order !== 'same' || v.phase === 'STOP' || v.phase === 'DIVERGED') {
    return goAlone(b, `${b.ctx.peer} is no longer in sync (${v.phase}, data ${v.data.status})`);
  }
  if (v.wantsPrimary && v.phase === 'SECOND' && !v.secondaryOnly) {
    stepDown(b, 'WAIT', `swap requested by ${b.ctx.peer}: handing over`, { force: false, yielding: true, afterError: false });
  }
}

function stepAlone(b: Builder): void {
  if (peerConflict(b)) return;
  const known = b.s.peer.last?.message.knownPeerGen;
  if (known !== undefined && known !== null) markRegistered(b, known);
  const v = b.view();
  if (v !== null && b.s.replInSync && v.phase === 'SECOND' && compareData(b.s.data, v.data) === 'same') {
    b.patch({ alone: null });
    b.go({ name: 'PRIM' }, `${b.ctx.peer} is synchronised`);
  }
}

function stepStopping(b: Builder): void {
  const p = b.s.phase;
  if (p.name !== 'STOPPING_PRIM') return;
  if (b.now >= p.deadline) {
    if (!p.killed) {
      b.go({ ...p, killed: true, deadline: b.now + b.cfg.killTimeoutMs }, 'stop timed out');
      b.warn(`application did not stop within ${b.cfg.stopTimeoutMs} ms: killing it`);
      b.emit({ type: 'stopApp', role: 'primary', force: true });
    } else {
      b.go({ ...p, deadline: b.now + b.cfg.killTimeoutMs }, 'kill timed out');
      b.warn('application still not reported stopped after a forced kill');
    }
  }
}

function stepSyncing(b: Builder): void {
  const v = b.view();
  if (v === null) {
    b.emit({ type: 'abortResync' });
    return b.s.data.status === 'up-to-date' ? setWait(b, 'peer', `${b.ctx.peer} lost during resync`) : refusalFor(b);
  }
  if (!peerRuns(v)) {
    b.emit({ type: 'abortResync' });
    return setWait(b, 'peer', `${b.ctx.peer} is no longer primary (${v.phase})`);
  }
  const order = compareData(b.s.data, v.data);
  if (order === 'diverged') return markDiverged(b, v.data.gen, `our generation ${b.s.data.gen.id} and ${b.ctx.peer}'s ${v.data.gen.id} diverged`);
  if (order === 'same' && isActivePrimaryName(v.phase)) return enterSecond(b, 'resynchronised');
  // A resync finished (our data is consistent again) but the primary has moved on: resync again.
  if (b.s.data.status !== 'resyncing' && order === 'theirs-newer' && isActivePrimaryName(v.phase)) {
    enterSyncing(b, v, `${b.ctx.peer} moved on to ${v.data.gen.id}: resynchronising again`);
  }
}

function stepSecond(b: Builder): void {
  const v = b.view();
  const peer = b.ctx.peer;
  if (v === null) {
    leaveSecond(b);
    return setWait(b, 'peer', `${peer} lost`);
  }
  if (v.usesGrant && v.phase === 'STOPPING_PRIM') return;
  if (!(v.usesGrant && isActivePrimaryName(v.phase))) {
    leaveSecond(b);
    return setWait(b, 'peer', `${peer} is no longer primary (${v.phase})`);
  }
  const order = compareData(b.s.data, v.data);
  if (order === 'same') return;
  if (order === 'diverged') return markDiverged(b, v.data.gen, `our generation ${b.s.data.gen.id} and ${peer}'s ${v.data.gen.id} diverged`);
  if (order === 'mine-newer') {
    leaveSecond(b);
    return setWait(b, 'conflict', `${peer} runs as primary with older data than ours`);
  }
  enterSyncing(b, v, `${peer} wrote without us (generation ${v.data.gen.id}): resynchronising`);
}

function stepDiverged(b: Builder): void {
  const v = b.view();
  if (v === null) return;
  const d = b.s.data;
  const order = compareData(d, v.data);
  if (order === 'diverged') return;
  if (order === 'mine-newer' && d.divergedFrom !== null) {
    // The peer discarded its branch ('hamod second' there): supersede it so that the witness accepts ours.
    bumpGeneration(b, [d.divergedFrom.id], true);
  } else if (d.divergedFrom !== null) {
    b.setData({ ...b.s.data, divergedFrom: null });
  }
  setWait(b, 'peer', `divergence resolved (peer data ${v.data.status}, generation ${v.data.gen.id})`);
}

/** Keep authority alive: ask the witness when the peer's grants run low, and to register a new generation. */
function maintainLease(b: Builder): void {
  const s = b.s;
  if (!maintainsAuthority(s.phase)) return;
  const lead = b.cfg.leaseRenewLeadMs;
  const pending = s.auth.leasePending;
  const fresh = leasePendingFresh(b);
  const regNeeded = s.alone !== null && !s.data.committed;
  if (regNeeded && !(fresh && pending?.genId === s.data.gen.id)) return requestLease(b);
  const peerLow = (s.auth.peerUntil ?? Number.NEGATIVE_INFINITY) - b.now < lead;
  const leaseLow = (s.auth.leaseUntil ?? Number.NEGATIVE_INFINITY) - b.now < lead;
  if (peerLow && leaseLow && !fresh) return requestLease(b);
  // In sync with a granting peer, the lease is not needed: give it back, so that if we die the
  // peer gets it at once instead of waiting for it to lapse.
  if (s.phase.name === 'PRIM' && !peerLow && !s.auth.forced && (s.auth.leaseUntil !== null || pending !== null)) releaseLease(b);
}

