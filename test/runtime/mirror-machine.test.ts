// Unit tests of the pure mirror machine: an exhaustive sweep of reachable states (collected from the
// simulator) × every event kind with several payloads × several clock values, checking structural
// invariants of every transition; then a table of expected transitions.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { authorityUntil, grantsClear } from '../../runtime/mirror/authority.js';
import { DEFAULT_MIRROR_CONFIG } from '../../runtime/mirror/config.js';
import { initialData, nextGeneration } from '../../runtime/mirror/generation.js';
import { initialState, nextWakeup, transition } from '../../runtime/mirror/machine.js';
import { holdsPrimary, usesGrant } from '../../runtime/mirror/phases.js';
import {
  PHASE_NAMES,
  type Effect,
  type EffectType,
  type MirrorContext,
  type MirrorEvent,
  type MirrorEventType,
  type MirrorState,
  type PeerMessage,
  type PhaseName,
} from '../../runtime/mirror/types.js';
import { Sim, type NodeId } from './mirror-sim.js';

const EFFECT_TYPES: readonly EffectType[] = [
  'log',
  'warning',
  'reply',
  'startApp',
  'stopApp',
  'addVip',
  'removeVip',
  'sendToPeer',
  'requestLease',
  'releaseLease',
  'beginResync',
  'abortResync',
  'setReplication',
  'persistData',
];

const EVENT_TYPES: readonly MirrorEventType[] = [
  'command',
  'peerMessage',
  'peerUp',
  'peerLost',
  'peerDegraded',
  'leaseGranted',
  'leaseDenied',
  'leaseNoAnswer',
  'appStarted',
  'appStartFailed',
  'appStopped',
  'checkerAction',
  'replInSync',
  'replOutOfSync',
  'resyncDone',
  'resyncFailed',
  'heartbeatDue',
  'tick',
];

interface Sample {
  readonly state: MirrorState;
  readonly ctx: MirrorContext;
}

/** Reachable states, a few per phase, from simulated runs with faults. */
function collectSamples(): Map<PhaseName, Sample[]> {
  const byPhase = new Map<PhaseName, Sample[]>();
  const seen = new Map<PhaseName, number>();
  const keep = (state: MirrorState, ctx: MirrorContext): void => {
    // Keep the 1st, 2nd, 4th, 8th... state seen in each phase: spread over the runs, bounded.
    const n = (seen.get(state.phase.name) ?? 0) + 1;
    seen.set(state.phase.name, n);
    if ((n & (n - 1)) !== 0) return;
    const list = byPhase.get(state.phase.name) ?? [];
    list.push({ state, ctx });
    byPhase.set(state.phase.name, list);
  };
  const scripts: Array<(sim: Sim) => void> = [
    (sim) => sim.run(2000),
    (sim) => {
      sim.run(1000);
      sim.crash('a');
      sim.run(2000);
      sim.restart('a');
      sim.run(2000);
    },
    (sim) => {
      sim.run(1000);
      sim.command('a', 'swap');
      sim.run(2000);
      sim.command('b', 'stop');
      sim.run(1500);
      sim.command('b', 'start');
      sim.run(1500);
    },
    (sim) => {
      sim.run(1000);
      sim.cut.add('ab');
      sim.run(2000);
      sim.freeze('a');
      sim.run(2000);
      sim.cut.clear();
      sim.thaw('a');
      sim.run(3000);
    },
    (sim) => {
      sim.run(1000);
      sim.nodes.b.failStarts = 2;
      sim.inject('a', { type: 'checkerAction', checker: 'c', action: 'failover', reason: 'x' });
      sim.run(4000);
    },
    (sim) => {
      sim.forcedUsed = true;
      sim.crashWitness();
      sim.crash('b');
      sim.run(3000);
      sim.command('a', 'prim', true);
      sim.run(2000);
      sim.restart('b');
      sim.run(3000);
    },
  ];
  for (const script of scripts) {
    const sim = new Sim({ offsets: { a: 12_345, b: 7, w: 0 } });
    sim.observer = (_n, _before, _event, after, ctx) => keep(after, ctx);
    script(sim);
  }
  // Diverged nodes.
  const base = initialData('source');
  const sim = new Sim({
    data: {
      a: { ...base, gen: nextGeneration(base.gen, 'node-a.1.1'), counter: 1 },
      b: { ...base, gen: nextGeneration(base.gen, 'node-b.1.1'), counter: 1 },
    },
  });
  sim.forcedUsed = true;
  sim.observer = (_n, _before, _event, after, ctx) => keep(after, ctx);
  sim.run(2000);
  return byPhase;
}

function peerMessageVariants(s: MirrorState, ctx: MirrorContext): PeerMessage[] {
  const seq = (s.peer.last?.message.seq ?? 0) + 1;
  const inc = s.peer.last?.message.incarnation ?? 1;
  const newer = nextGeneration(s.data.gen, `${ctx.peer}.9.9`);
  const diverged = { id: `${ctx.peer}.8.8`, supersedes: ['init-other'] };
  const out: PeerMessage[] = [];
  let i = 0;
  for (const phase of PHASE_NAMES) {
    for (const [gen, status] of [
      [s.data.gen, 'up-to-date'],
      [newer, 'up-to-date'],
      [diverged, 'up-to-date'],
      [s.data.gen, 'stale'],
    ] as const) {
      const uses = phase === 'PROMOTING' || phase === 'STARTING_PRIM' || phase === 'PRIM' || phase === 'ALONE' || phase === 'STOPPING_PRIM';
      out.push({
        from: ctx.peer,
        incarnation: inc,
        seq: seq + i++,
        sentAt: 1000,
        phase,
        role: uses ? 'primary' : phase === 'SECOND' || phase === 'SYNCING' ? 'secondary' : 'none',
        usesGrant: uses,
        forced: false,
        data: { gen, status, committed: true },
        knownPeerGen: s.data.gen.id,
        yielding: i % 3 === 0,
        wantsPrimary: i % 5 === 0,
        secondaryOnly: false,
        ack: { incarnation: s.incarnation, seq: s.seq, sentAt: ctx.now - 5 },
        grantMs: uses ? 0 : 600,
      });
    }
  }
  return out;
}

function eventsFor(s: MirrorState, ctx: MirrorContext): MirrorEvent[] {
  const events: MirrorEvent[] = [];
  for (const command of ['start', 'stop', 'forcestop', 'restart', 'swap', 'prim', 'second'] as const) {
    events.push({ type: 'command', command, force: false }, { type: 'command', command, force: true });
  }
  for (const message of peerMessageVariants(s, ctx)) events.push({ type: 'peerMessage', message });
  events.push({ type: 'peerUp' }, { type: 'peerLost' }, { type: 'peerDegraded', down: ['net1'] }, { type: 'peerDegraded', down: [] });
  const sentAt = s.auth.leasePending?.sentAt ?? ctx.now - 3;
  events.push({ type: 'leaseGranted', sentAt, durationMs: 1500, genId: s.data.gen.id });
  events.push({ type: 'leaseGranted', sentAt: ctx.now - 5000, durationMs: 1500, genId: 'old' });
  for (const reason of ['held', 'stale', 'diverged', 'unavailable'] as const) {
    events.push({ type: 'leaseDenied', sentAt, reason, holder: ctx.peer, latest: nextGeneration(s.data.gen, 'w.1.1'), retryAfterMs: 200 });
    events.push({ type: 'leaseDenied', sentAt, reason, holder: null, latest: s.data.gen, retryAfterMs: null });
  }
  events.push({ type: 'leaseNoAnswer', sentAt });
  for (const role of ['primary', 'secondary'] as const) {
    events.push({ type: 'appStarted', role }, { type: 'appStartFailed', role, reason: 'exit 1' }, { type: 'appStopped', role, reason: 'exit 0' });
  }
  for (const action of ['restart', 'failover', 'stop'] as const) events.push({ type: 'checkerAction', checker: 'http', action, reason: 'down' });
  events.push({ type: 'replInSync' }, { type: 'replOutOfSync', reason: 'timeout' });
  events.push({ type: 'resyncDone', generation: s.data.gen }, { type: 'resyncDone', generation: nextGeneration(s.data.gen, 'x.1.1') });
  events.push({ type: 'resyncFailed', reason: 'io' }, { type: 'heartbeatDue' }, { type: 'tick' });
  return events;
}

/** Structural invariants of one transition. */
function checkTransition(before: MirrorState, event: MirrorEvent, ctx: MirrorContext, after: MirrorState, effects: readonly Effect[]): void {
  const what = `${before.phase.name} + ${event.type}${event.type === 'command' ? ` ${event.command}${event.force ? ' --force' : ''}` : ''}`;
  assert.ok((PHASE_NAMES as readonly string[]).includes(after.phase.name), `${what}: unknown phase ${after.phase.name}`);
  for (const e of effects) assert.ok(EFFECT_TYPES.includes(e.type), `${what}: unknown effect ${e.type}`);
  // Logs chain from the old phase to the new one, each with a reason.
  const logs = effects.filter((e): e is Extract<Effect, { type: 'log' }> => e.type === 'log');
  for (const l of logs) assert.ok(l.reason.length > 0, `${what}: empty reason`);
  if (before.phase.name !== after.phase.name) {
    assert.ok(logs.length > 0, `${what}: phase changed without a log`);
    assert.equal(logs[0]?.from, before.phase.name, `${what}: first log not from the old phase`);
    assert.equal(logs[logs.length - 1]?.to, after.phase.name, `${what}: last log not to the new phase`);
    assert.equal(after.since, ctx.now);
    assert.equal(after.last?.to, after.phase.name);
  }
  for (let i = 1; i < logs.length; i++) assert.equal(logs[i]?.from, logs[i - 1]?.to, `${what}: logs do not chain`);
  // Authority.
  if (holdsPrimary(after.phase) && !after.auth.forced) assert.ok(authorityUntil(after.auth) > ctx.now, `${what}: ${after.phase.name} without authority`);
  const startsPrimary = effects.some((e) => e.type === 'startApp' && e.role === 'primary');
  if (startsPrimary) {
    assert.equal(after.phase.name, 'STARTING_PRIM', `${what}: primary start outside STARTING_PRIM`);
    assert.ok(after.auth.forced || authorityUntil(after.auth) > ctx.now, `${what}: primary start without authority`);
  }
  if (after.phase.name === 'STARTING_PRIM' && before.phase.name !== 'STARTING_PRIM' && before.phase.name !== 'STOPPING_PRIM') {
    // Unless this very message released us (the peer acknowledges our last grant and holds none).
    const m = event.type === 'peerMessage' ? event.message : null;
    const released = m !== null && !m.usesGrant && m.ack !== null && m.ack.incarnation === before.incarnation && m.ack.seq >= before.grants.lastSeq;
    assert.ok(released || grantsClear(before.grants, ctx.now), `${what}: started while our grant to the peer still binds`);
  }
  if (effects.some((e) => e.type === 'addVip')) assert.equal(after.phase.name, 'STARTING_PRIM', `${what}: VIP added outside STARTING_PRIM`);
  // Messages: a node relying on grants never grants.
  for (const e of effects) {
    if (e.type === 'sendToPeer') {
      assert.equal(e.message.usesGrant, usesGrant(after.phase), `${what}: message usesGrant disagrees with the phase`);
      if (e.message.usesGrant) assert.equal(e.message.grantMs, 0, `${what}: grants while relying on grants`);
    }
  }
  // Data changes are persisted; the last persisted data is the final data.
  const persists = effects.filter((e): e is Extract<Effect, { type: 'persistData' }> => e.type === 'persistData');
  if (before.data !== after.data) assert.ok(persists.length > 0, `${what}: data changed without persistData`);
  if (persists.length > 0) assert.deepEqual(persists[persists.length - 1]?.data, after.data, `${what}: persisted data differs from the state`);
  // Replication mode and VIP bookkeeping follow the effects.
  const repl = effects.filter((e): e is Extract<Effect, { type: 'setReplication' }> => e.type === 'setReplication');
  if (repl.length > 0) assert.equal(repl[repl.length - 1]?.mode, after.replication.mode);
  let vip = before.vip;
  for (const e of effects) {
    if (e.type === 'addVip') vip = true;
    if (e.type === 'removeVip') vip = false;
  }
  assert.equal(after.vip, vip, `${what}: vip flag does not follow the effects`);
  if (!['STARTING_PRIM', 'PRIM', 'ALONE', 'STOPPING_PRIM'].includes(after.phase.name)) assert.equal(after.vip, false, `${what}: VIP kept in ${after.phase.name}`);
  // Commands get exactly one reply, other events none.
  const replies = effects.filter((e) => e.type === 'reply').length;
  assert.equal(replies, event.type === 'command' ? 1 : 0, `${what}: ${replies} replies`);
  // Fencing: when the node loses the primary role for lack of authority, nothing precedes the VIP
  // removal, the write fence and the kill.
  if (after.phase.name === 'STOPPING_PRIM' && after.phase.fenced && !(before.phase.name === 'STOPPING_PRIM' && before.phase.fenced)) {
    const firstOthers = effects.filter((e) => e.type !== 'log' && e.type !== 'warning');
    const upTo = firstOthers.findIndex((e) => e.type === 'stopApp');
    assert.ok(upTo >= 0, `${what}: fenced without a kill`);
    for (const e of firstOthers.slice(0, upTo)) assert.ok(e.type === 'removeVip' || e.type === 'setReplication', `${what}: ${e.type} before the kill`);
  }
}

describe('mirror machine: exhaustive sweep', () => {
  const samples = collectSamples();

  it('reaches every phase in the simulator', () => {
    for (const p of PHASE_NAMES) assert.ok((samples.get(p)?.length ?? 0) > 0, `no sample of ${p}`);
  });

  it('every reachable state × every event kind × several clock values: never throws, valid result', () => {
    let count = 0;
    const seenEvents = new Set<string>();
    for (const [, list] of samples) {
      for (const { state, ctx } of list) {
        for (const dt of [0, 1, 700, 2000, 70_000]) {
          const c: MirrorContext = { ...ctx, now: ctx.now + dt };
          for (const event of eventsFor(state, c)) {
            seenEvents.add(event.type);
            const r = transition(state, event, c);
            checkTransition(state, event, c, r.state, r.effects);
            // And the result is itself a good state: a tick right after keeps the invariants.
            const r2 = transition(r.state, { type: 'tick' }, c);
            checkTransition(r.state, { type: 'tick' }, c, r2.state, r2.effects);
            count++;
          }
        }
      }
    }
    assert.deepEqual([...seenEvents].sort(), [...EVENT_TYPES].sort());
    assert.ok(count > 10_000, `only ${count} transitions`);
  });

  it('is pure: the same input gives the same output and the input state is not modified', () => {
    for (const [, list] of samples) {
      for (const { state, ctx } of list.slice(0, 3)) {
        const frozen = structuredClone(state);
        for (const event of eventsFor(state, ctx)) {
          const a = transition(state, event, ctx);
          const b = transition(state, event, ctx);
          assert.deepEqual(a, b);
          assert.deepEqual(state, frozen);
        }
      }
    }
  });

  it('nextWakeup is in the future or null, and nothing changes before it on a tick', () => {
    for (const [, list] of samples) {
      for (const { state, ctx } of list) {
        const w = nextWakeup(state, ctx);
        if (w === null) continue;
        assert.ok(w > ctx.now);
      }
    }
  });
});

// ------------------------------------------------------------------------------------------------
// Table of expected transitions, from states reached in a simulated cluster.

interface Snapshot {
  readonly state: MirrorState;
  readonly ctx: MirrorContext;
}

function snap(sim: Sim, id: NodeId): Snapshot {
  const m = sim.nodes[id].machine;
  assert.ok(m !== null);
  return { state: m, ctx: sim.ctx(sim.nodes[id]) };
}

function formedCluster(): Sim {
  const sim = new Sim();
  assert.ok(sim.runUntil(() => sim.phase('a') === 'PRIM' && sim.phase('b') === 'SECOND', 3000));
  return sim;
}

const fixtures = {
  stop: (): Snapshot => {
    const ctx: MirrorContext = { now: 1000, self: 'node-a', peer: 'node-b', config: DEFAULT_MIRROR_CONFIG };
    return { state: initialState(ctx, { incarnation: 1, data: initialData('source') }), ctx };
  },
  waitAlone: (): Snapshot => {
    const sim = new Sim({ autoStart: false });
    sim.crash('b');
    sim.command('a', 'start');
    return snap(sim, 'a');
  },
  prim: (): Snapshot => snap(formedCluster(), 'a'),
  second: (): Snapshot => snap(formedCluster(), 'b'),
  alone: (): Snapshot => {
    const sim = formedCluster();
    sim.crash('b');
    assert.ok(sim.runUntil(() => sim.phase('a') === 'ALONE', 2000));
    return snap(sim, 'a');
  },
  promoting: (): Snapshot => {
    const sim = formedCluster();
    sim.crash('a');
    assert.ok(sim.runUntil(() => sim.phase('b') === 'PROMOTING', 2000));
    return snap(sim, 'b');
  },
  starting: (): Snapshot => {
    const sim = formedCluster();
    sim.crash('a');
    assert.ok(sim.runUntil(() => sim.phase('b') === 'STARTING_PRIM', 2000));
    return snap(sim, 'b');
  },
  staleWait: (): Snapshot => {
    const sim = formedCluster();
    sim.crash('b');
    sim.run(1500);
    sim.crash('a');
    sim.restart('b');
    sim.run(3000);
    return snap(sim, 'b');
  },
};

function step(f: Snapshot, event: MirrorEvent, dt = 0): { state: MirrorState; effects: readonly Effect[]; types: string[]; reply: Extract<Effect, { type: 'reply' }> | undefined } {
  const ctx = { ...f.ctx, now: f.ctx.now + dt };
  const r = transition(f.state, event, ctx);
  checkTransition(f.state, event, ctx, r.state, r.effects);
  const reply = r.effects.find((e): e is Extract<Effect, { type: 'reply' }> => e.type === 'reply');
  return { state: r.state, effects: r.effects, types: r.effects.map((e) => e.type), reply };
}

const cmd = (command: Extract<MirrorEvent, { type: 'command' }>['command'], force = false): MirrorEvent => ({ type: 'command', command, force });

describe('mirror machine: expected transitions', () => {
  const rows: Array<{ name: string; from: () => Snapshot; event: MirrorEvent; dt?: number; phase: PhaseName; effects?: EffectType[]; ok?: boolean; check?: (s: MirrorState) => void }> = [
    { name: 'STOP + start -> WAIT', from: fixtures.stop, event: cmd('start'), phase: 'WAIT', ok: true },
    { name: 'STOP + stop: already stopped', from: fixtures.stop, event: cmd('stop'), phase: 'STOP', ok: true },
    { name: 'STOP + restart: refused', from: fixtures.stop, event: cmd('restart'), phase: 'STOP', ok: false },
    { name: 'STOP + second -> WAIT, secondary only', from: fixtures.stop, event: cmd('second'), phase: 'WAIT', ok: true, check: (s) => assert.equal(s.intent.secondaryOnly, true) },
    { name: 'STOP + prim (peer unknown) -> PROMOTING at once via the witness', from: fixtures.stop, event: cmd('prim'), phase: 'PROMOTING', ok: true, effects: ['requestLease'] },
    { name: 'WAIT (peer never seen) + tick before peerWait: stays', from: fixtures.waitAlone, event: { type: 'tick' }, dt: 100, phase: 'WAIT' },
    { name: 'WAIT (peer never seen) + tick after peerWait -> PROMOTING, asks the witness', from: fixtures.waitAlone, event: { type: 'tick' }, dt: 2000, phase: 'PROMOTING', effects: ['requestLease'] },
    { name: 'PRIM + peerLost -> ALONE under a new generation, registered via the witness', from: fixtures.prim, event: { type: 'peerLost' }, phase: 'ALONE', effects: ['persistData', 'setReplication', 'requestLease'], check: (s) => assert.equal(s.data.committed, false) },
    { name: 'PRIM + replOutOfSync -> ALONE', from: fixtures.prim, event: { type: 'replOutOfSync', reason: 'timeout' }, phase: 'ALONE', effects: ['persistData'] },
    { name: 'PRIM + checker restart -> STOPPING_PRIM (restart), VIP kept', from: fixtures.prim, event: { type: 'checkerAction', checker: 'p', action: 'restart', reason: 'exited' }, phase: 'STOPPING_PRIM', effects: ['stopApp'], check: (s) => assert.equal(s.vip, true) },
    { name: 'PRIM + checker failover -> STOPPING_PRIM yielding to the in-sync peer', from: fixtures.prim, event: { type: 'checkerAction', checker: 'h', action: 'failover', reason: 'x' }, phase: 'STOPPING_PRIM', effects: ['removeVip', 'stopApp'], check: (s) => assert.equal(s.intent.yielding, true) },
    { name: 'PRIM + checker stop -> STOPPING_PRIM then STOP', from: fixtures.prim, event: { type: 'checkerAction', checker: 'h', action: 'stop', reason: 'x' }, phase: 'STOPPING_PRIM', effects: ['removeVip', 'stopApp'], check: (s) => assert.equal(s.phase.name === 'STOPPING_PRIM' && s.phase.next, 'STOP') },
    { name: 'PRIM + swap -> STOPPING_PRIM, VIP removed first', from: fixtures.prim, event: cmd('swap'), phase: 'STOPPING_PRIM', effects: ['removeVip', 'stopApp'], ok: true },
    { name: 'PRIM + forcestop -> STOPPING_PRIM killing', from: fixtures.prim, event: cmd('forcestop'), phase: 'STOPPING_PRIM', ok: true, check: (s) => assert.equal(s.phase.name === 'STOPPING_PRIM' && s.phase.killed, true) },
    { name: 'PRIM + start: refused (already started)', from: fixtures.prim, event: cmd('start'), phase: 'PRIM', ok: false },
    { name: 'PRIM + prim: already primary', from: fixtures.prim, event: cmd('prim'), phase: 'PRIM', ok: true },
    { name: 'PRIM + tick long after the last grant -> fenced', from: fixtures.prim, event: { type: 'tick' }, dt: 5000, phase: 'STOPPING_PRIM', effects: ['stopApp', 'setReplication', 'removeVip'], check: (s) => assert.equal(s.phase.name === 'STOPPING_PRIM' && s.phase.fenced, true) },
    { name: 'PRIM + appStopped (unexpected): warning only, the process checker decides', from: fixtures.prim, event: { type: 'appStopped', role: 'primary', reason: 'killed' }, phase: 'PRIM', effects: ['warning'] },
    { name: 'ALONE + replInSync alone does not make PRIM without an in-sync peer', from: fixtures.alone, event: { type: 'replInSync' }, phase: 'ALONE' },
    { name: 'ALONE + swap: refused, no in-sync secondary', from: fixtures.alone, event: cmd('swap'), phase: 'ALONE', ok: false },
    { name: 'ALONE + restart -> STOPPING_PRIM (restart)', from: fixtures.alone, event: cmd('restart'), phase: 'STOPPING_PRIM', ok: true },
    { name: 'SECOND + peerLost -> PROMOTING via the witness', from: fixtures.second, event: { type: 'peerLost' }, dt: 600, phase: 'PROMOTING', effects: ['stopApp', 'requestLease'] },
    { name: 'SECOND + peerLost while the primary spoke < grantMs ago: waits (it may still run)', from: fixtures.second, event: { type: 'peerLost' }, phase: 'WAIT', effects: ['stopApp'] },
    { name: 'SECOND + swap: asks the primary to hand over', from: fixtures.second, event: cmd('swap'), phase: 'SECOND', ok: true, effects: ['sendToPeer'], check: (s) => assert.equal(s.intent.wantsPrimary, true) },
    { name: 'SECOND + prim: refused, the peer is primary', from: fixtures.second, event: cmd('prim'), phase: 'SECOND', ok: false },
    { name: 'SECOND + prim --force: refused, the peer runs', from: fixtures.second, event: cmd('prim', true), phase: 'SECOND', ok: false },
    { name: 'SECOND + checker restart: restarts the secondary-role services', from: fixtures.second, event: { type: 'checkerAction', checker: 'c', action: 'restart', reason: 'x' }, phase: 'SECOND', effects: ['stopApp', 'startApp'] },
    { name: 'PROMOTING + leaseDenied (held) -> WAIT, retry when the lease lapses', from: fixtures.promoting, event: { type: 'leaseDenied', sentAt: 0, reason: 'held', holder: 'node-a', latest: null, retryAfterMs: 300 }, phase: 'PROMOTING' },
    { name: 'STARTING_PRIM + appStarted -> ALONE', from: fixtures.starting, event: { type: 'appStarted', role: 'primary' }, phase: 'ALONE' },
    { name: 'STARTING_PRIM + appStartFailed -> STOPPING_PRIM (cleanup)', from: fixtures.starting, event: { type: 'appStartFailed', role: 'primary', reason: 'exit 1' }, phase: 'STOPPING_PRIM', effects: ['removeVip', 'stopApp'] },
    { name: 'STARTING_PRIM + stop -> STOPPING_PRIM (STOP)', from: fixtures.starting, event: cmd('stop'), phase: 'STOPPING_PRIM', ok: true },
    { name: 'stale WAIT + prim: refused', from: fixtures.staleWait, event: cmd('prim'), phase: 'WAIT', ok: false },
    { name: 'stale WAIT + prim --force -> STARTING_PRIM with a warning', from: fixtures.staleWait, event: cmd('prim', true), phase: 'STARTING_PRIM', ok: true, effects: ['warning', 'addVip', 'startApp'], check: (s) => assert.equal(s.auth.forced, true) },
    { name: 'stale WAIT + tick: stays refused', from: fixtures.staleWait, event: { type: 'tick' }, dt: 60_000, phase: 'WAIT' },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const r = step(row.from(), row.event, row.dt ?? 0);
      assert.equal(r.state.phase.name, row.phase, `effects: ${r.types.join(',')}`);
      for (const e of row.effects ?? []) assert.ok(r.types.includes(e), `missing ${e} in ${r.types.join(',')}`);
      if (row.ok !== undefined) assert.equal(r.reply?.ok, row.ok, r.reply?.message);
      row.check?.(r.state);
    });
  }

  it('PROMOTING + leaseDenied for the current request -> WAIT witness-denied with retry at the lapse', () => {
    const f = fixtures.promoting();
    const pending = f.state.auth.leasePending;
    assert.ok(pending !== null);
    const r = step(f, { type: 'leaseDenied', sentAt: pending.sentAt, reason: 'held', holder: 'node-a', latest: null, retryAfterMs: 300 });
    assert.equal(r.state.phase.name, 'WAIT');
    assert.ok(r.state.phase.name === 'WAIT' && r.state.phase.why === 'witness-denied' && r.state.phase.retryAt === f.ctx.now + 310);
  });

  it('PROMOTING + leaseGranted for the current request (own grants lapsed) -> STARTING_PRIM with VIP then app', () => {
    const f = fixtures.promoting();
    const pending = f.state.auth.leasePending;
    assert.ok(pending !== null);
    const r = step(f, { type: 'leaseGranted', sentAt: pending.sentAt, durationMs: 1500, genId: f.state.data.gen.id }, 700);
    assert.equal(r.state.phase.name, 'STARTING_PRIM');
    const order = r.types.filter((t) => ['addVip', 'setReplication', 'startApp'].includes(t));
    assert.deepEqual(order, ['addVip', 'setReplication', 'startApp']);
  });

  it('PROMOTING + leaseGranted answering a request older than our last release: ignored', () => {
    const f = fixtures.promoting();
    const s: MirrorState = { ...f.state, auth: { ...f.state.auth, releasedAt: f.ctx.now } };
    const r = step({ state: s, ctx: f.ctx }, { type: 'leaseGranted', sentAt: f.ctx.now - 1, durationMs: 1500, genId: s.data.gen.id }, 700);
    assert.notEqual(r.state.phase.name, 'STARTING_PRIM');
    assert.equal(r.state.auth.leaseUntil, null);
  });

  it('PROMOTING + leaseNoAnswer with the peer gone -> WAIT no-witness (no start alone)', () => {
    const f = fixtures.promoting();
    const pending = f.state.auth.leasePending;
    assert.ok(pending !== null);
    const r = step(f, { type: 'leaseNoAnswer', sentAt: pending.sentAt });
    assert.ok(r.state.phase.name === 'WAIT' && r.state.phase.why === 'no-witness');
    assert.ok(!r.types.includes('startApp'));
  });

  it('PROMOTING + leaseDenied stale -> data marked stale (persisted), refused', () => {
    const f = fixtures.promoting();
    const pending = f.state.auth.leasePending;
    assert.ok(pending !== null);
    const latest = nextGeneration(f.state.data.gen, 'node-a.1.9');
    const r = step(f, { type: 'leaseDenied', sentAt: pending.sentAt, reason: 'stale', holder: null, latest, retryAfterMs: null });
    assert.ok(r.state.phase.name === 'WAIT' && r.state.phase.why === 'stale');
    assert.equal(r.state.data.status, 'stale');
    assert.equal(r.state.data.newerKnown, 'node-a.1.9');
    assert.ok(r.types.includes('persistData'));
  });

  it('a secondary that learns a newer generation from the primary marks itself stale before acknowledging it', () => {
    const f = fixtures.second();
    const last = f.state.peer.last;
    assert.ok(last !== null);
    const newer = nextGeneration(f.state.data.gen, 'node-a.1.7');
    const message: PeerMessage = { ...last.message, seq: last.message.seq + 1, phase: 'ALONE', data: { gen: newer, status: 'up-to-date', committed: false } };
    const r = step(f, { type: 'peerMessage', message });
    assert.notEqual(r.state.data.status, 'up-to-date');
    const firstPersist = r.effects.find((e): e is Extract<Effect, { type: 'persistData' }> => e.type === 'persistData');
    assert.equal(firstPersist?.data.status, 'stale');
    const iPersist = r.types.indexOf('persistData');
    const iSend = r.types.indexOf('sendToPeer');
    assert.ok(iPersist >= 0 && iSend > iPersist, `persist before acknowledging: ${r.types.join(',')}`);
    const sent = r.effects.find((e): e is Extract<Effect, { type: 'sendToPeer' }> => e.type === 'sendToPeer');
    assert.equal(sent?.message.knownPeerGen, 'node-a.1.7');
    assert.equal(r.state.phase.name, 'SYNCING');
  });

  it('messages out of order or from an older incarnation are ignored', () => {
    const f = fixtures.second();
    const last = f.state.peer.last;
    assert.ok(last !== null);
    for (const message of [
      { ...last.message, seq: last.message.seq - 1, phase: 'STOP' as const },
      { ...last.message, incarnation: last.message.incarnation - 1, seq: 1e9, phase: 'STOP' as const },
      { ...last.message, from: 'intruder', seq: 1e9, phase: 'STOP' as const },
    ]) {
      const r = step(f, { type: 'peerMessage', message });
      assert.equal(r.state.peer.last, f.state.peer.last);
      assert.equal(r.state.phase.name, 'SECOND');
    }
  });

  it('a fresh agent does not start the application before its boot hold (grants of a previous incarnation)', () => {
    const f = fixtures.stop();
    assert.equal(f.state.grants.until, f.ctx.now + DEFAULT_MIRROR_CONFIG.grantMs);
  });
});
