// Operator commands: `hamod start|stop|forcestop|restart|swap|prim [--force]|second MODULE`.
// Each answers with a `reply` effect (ok or refused, with the reason an operator can act on).
import type { Builder } from './builder.js';
import { peerCanTakeOver } from './evaluate.js';
import { compareData } from './generation.js';
import { clearIntent, leaveSecond, releaseLease, restartPrimary, setWait, stepDown } from './moves.js';
import { isActivePrimaryName } from './phases.js';
import type { OperatorCommand } from './types.js';

export function onCommand(b: Builder, command: OperatorCommand, force: boolean): void {
  switch (command) {
    case 'start':
      return start(b, 'started by the operator');
    case 'stop':
      return stop(b, false);
    case 'forcestop':
      return stop(b, true);
    case 'restart':
      return restart(b);
    case 'swap':
      return swap(b, 'swap');
    case 'prim':
      return force ? primForced(b) : prim(b);
    case 'second':
      return second(b);
  }
}

function start(b: Builder, reason: string): void {
  if (b.s.phase.name !== 'STOP') return b.reply('start', false, `already started (${b.s.phase.name})`);
  b.patch({ errors: [], peerWaitUntil: b.s.peer.everSeen ? null : b.now + b.cfg.peerWaitMs });
  b.go({ name: 'WAIT', why: 'starting', retryAt: null }, reason);
  b.reply('start', true, 'started');
}

function stop(b: Builder, force: boolean): void {
  const cmd = force ? 'forcestop' : 'stop';
  const p = b.s.phase;
  const reason = force ? 'forced stop by the operator' : 'stopped by the operator';
  switch (p.name) {
    case 'STOP':
      return b.reply(cmd, true, 'already stopped');
    case 'STARTING_PRIM':
    case 'PRIM':
    case 'ALONE':
      stepDown(b, 'STOP', reason, { force, yielding: false, afterError: false });
      break;
    case 'STOPPING_PRIM':
      b.go({ ...p, next: 'STOP', killed: p.killed || force, deadline: force && !p.killed ? b.now + b.cfg.killTimeoutMs : p.deadline }, reason);
      if (force && !p.killed) b.emit({ type: 'stopApp', role: 'primary', force: true });
      break;
    case 'PROMOTING':
      releaseLease(b);
      b.go({ name: 'STOP' }, reason);
      break;
    case 'SECOND':
      b.emit({ type: 'stopApp', role: 'secondary', force });
      b.go({ name: 'STOP' }, reason);
      break;
    case 'SYNCING':
      b.emit({ type: 'abortResync' });
      b.go({ name: 'STOP' }, reason);
      break;
    case 'WAIT':
    case 'DIVERGED':
      b.go({ name: 'STOP' }, reason);
      break;
  }
  clearIntent(b);
  b.reply(cmd, true, p.name === 'STOPPING_PRIM' || isActivePrimaryName(p.name) ? 'stopping' : 'stopped');
}

function restart(b: Builder): void {
  const p = b.s.phase;
  if (p.name === 'PRIM' || p.name === 'ALONE') {
    restartPrimary(b, 'restart requested by the operator');
    return b.reply('restart', true, 'restarting the application locally');
  }
  if (p.name === 'SECOND') {
    b.emit({ type: 'stopApp', role: 'secondary', force: false });
    b.emit({ type: 'startApp', role: 'secondary' });
    return b.reply('restart', true, 'restarting the secondary-role services');
  }
  b.reply('restart', false, `nothing to restart in ${p.name}`);
}

function swap(b: Builder, cmd: 'swap' | 'second'): void {
  const p = b.s.phase;
  const v = b.view();
  if (p.name === 'PRIM' || p.name === 'ALONE') {
    if (!peerCanTakeOver(b)) {
      return b.reply(cmd, false, `${b.ctx.peer} cannot take over now (${v === null ? 'unreachable' : `${v.phase}, data ${v.data.status}`}); it must be SECOND and in sync`);
    }
    stepDown(b, 'WAIT', `${cmd} requested by the operator: handing over to ${b.ctx.peer}`, { force: false, yielding: true, afterError: false });
    return b.reply(cmd, true, `handing over to ${b.ctx.peer}`);
  }
  if (p.name === 'SECOND' && cmd === 'swap') {
    if (v === null || !isActivePrimaryName(v.phase)) return b.reply(cmd, false, `${b.ctx.peer} is not primary`);
    b.patch({ intent: { ...b.s.intent, wantsPrimary: true, secondaryOnly: false } });
    b.wantSend = true;
    return b.reply(cmd, true, `asked ${b.ctx.peer} to hand over`);
  }
  b.reply(cmd, false, `cannot ${cmd} in ${p.name}: needs a PRIM/SECOND pair in sync`);
}

function prim(b: Builder): void {
  const p = b.s.phase;
  const d = b.s.data;
  if (isActivePrimaryName(p.name)) return b.reply('prim', true, `already primary (${p.name})`);
  if (p.name === 'STOPPING_PRIM' || p.name === 'PROMOTING') return b.reply('prim', false, `busy (${p.name}); try again`);
  if (d.divergedFrom !== null) {
    return b.reply('prim', false, `data diverged from ${b.ctx.peer}: 'hamod second' on the node whose changes to discard, or 'hamod prim --force' here`);
  }
  if (d.status !== 'up-to-date') {
    return b.reply('prim', false, `data is ${d.status}${d.newerKnown === null ? '' : ` (${d.newerKnown} is newer)`}: 'hamod prim --force' to start with it anyway`);
  }
  const v = b.view();
  if (v !== null && v.usesGrant && (isActivePrimaryName(v.phase) || v.phase === 'STOPPING_PRIM')) {
    return b.reply('prim', false, `${b.ctx.peer} is primary: use 'hamod swap'`);
  }
  if (v !== null && compareData(d, v.data) === 'theirs-newer') {
    return b.reply('prim', false, `${b.ctx.peer} has newer data: 'hamod prim --force' to discard it`);
  }
  b.patch({ intent: { yielding: false, wantsPrimary: true, secondaryOnly: false } });
  if (p.name === 'STOP') {
    b.patch({ errors: [], peerWaitUntil: null });
    b.go({ name: 'WAIT', why: 'starting', retryAt: null }, 'started as primary by the operator (prim)');
  } else if (p.name === 'WAIT') {
    b.go({ ...p, retryAt: null }, 'prim requested by the operator');
  } else if (p.name === 'SECOND' || p.name === 'SYNCING') {
    if (p.name === 'SYNCING') b.emit({ type: 'abortResync' });
    leaveSecond(b);
    setWait(b, 'peer', 'prim requested by the operator');
  }
  b.wantSend = true;
  b.reply('prim', true, 'becoming primary (the witness or the peer must agree; --force to override)');
}

function primForced(b: Builder): void {
  const p = b.s.phase;
  const d = b.s.data;
  if (isActivePrimaryName(p.name)) return b.reply('prim', true, `already primary (${p.name})`);
  if (p.name === 'STOPPING_PRIM') return b.reply('prim', false, 'busy (STOPPING_PRIM); try again');
  const v = b.view();
  if (v !== null && v.usesGrant && (isActivePrimaryName(v.phase) || v.phase === 'STOPPING_PRIM')) {
    return b.reply('prim', false, `${b.ctx.peer} runs as primary: refusing even with --force (stop it first)`);
  }
  const risks: string[] = [];
  if (d.status === 'stale') risks.push(`our data is stale: the newer data (${d.newerKnown ?? 'on the peer'}) will be discarded`);
  if (d.status === 'resyncing') risks.push('our data is inconsistent (interrupted resynchronisation)');
  if (d.divergedFrom !== null) risks.push(`the peer's diverged changes (${d.divergedFrom.id}) will be discarded`);
  if (v === null) risks.push(`without witness arbitration: if ${b.ctx.peer} is alive and primary, both nodes run the application`);
  b.warn(`prim --force: starting as primary without the usual safeguards${risks.length > 0 ? `: ${risks.join('; ')}` : ''}`);
  if (p.name === 'SECOND') leaveSecond(b);
  if (p.name === 'SYNCING') b.emit({ type: 'abortResync' });
  b.patch({ intent: { yielding: false, wantsPrimary: true, secondaryOnly: false } });
  b.go({ name: 'PROMOTING', via: 'witness', forced: true, deadline: b.now + b.cfg.promoteTimeoutMs }, 'forced by the operator (prim --force)');
  b.reply('prim', true, 'forcing primary');
}

function second(b: Builder): void {
  const p = b.s.phase;
  const d = b.s.data;
  switch (p.name) {
    case 'PRIM':
    case 'ALONE':
      return swap(b, 'second');
    case 'STARTING_PRIM':
    case 'STOPPING_PRIM':
      return b.reply('second', false, `busy (${p.name}); try again`);
    case 'SECOND':
    case 'SYNCING':
      return b.reply('second', true, `already secondary (${p.name})`);
    case 'STOP':
      b.patch({ errors: [], peerWaitUntil: null, intent: { yielding: false, wantsPrimary: false, secondaryOnly: true } });
      b.go({ name: 'WAIT', why: 'peer', retryAt: null }, 'started as secondary by the operator (second)');
      return b.reply('second', true, 'started as secondary');
    case 'PROMOTING':
      releaseLease(b);
      b.patch({ intent: { yielding: false, wantsPrimary: false, secondaryOnly: true } });
      setWait(b, 'peer', 'second requested by the operator');
      return b.reply('second', true, 'will stay secondary');
    case 'WAIT':
      b.patch({ intent: { yielding: false, wantsPrimary: false, secondaryOnly: true } });
      b.wantSend = true;
      if (p.why === 'conflict' && d.status === 'up-to-date') {
        // The peer runs with older data than ours: the operator chooses to keep the peer's.
        const v = b.view();
        b.setData({ ...d, status: 'stale', newerKnown: v?.data.gen.id ?? d.newerKnown });
        b.warn(`second: discarding this node's newer data (generation ${d.gen.id}); it will be resynchronised from ${b.ctx.peer}`);
        return b.reply('second', true, `local data discarded; resynchronising from ${b.ctx.peer}`);
      }
      return b.reply('second', true, 'will stay secondary');
    case 'DIVERGED': {
      const theirs = d.divergedFrom ?? p.peerGen;
      b.setData({ ...d, status: 'stale', newerKnown: theirs.id, divergedFrom: null });
      b.patch({ intent: { yielding: false, wantsPrimary: false, secondaryOnly: true } });
      b.warn(`second: discarding this node's changes since the divergence (generation ${d.gen.id}); it will be resynchronised from ${b.ctx.peer} (${theirs.id})`);
      setWait(b, 'peer', 'divergence resolved by the operator: this node keeps the peer\'s data');
      return b.reply('second', true, `local changes discarded; resynchronising from ${b.ctx.peer} once it is primary`);
    }
  }
}

