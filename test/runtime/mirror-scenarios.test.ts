// Scenario tests of the mirror machine in the simulated two-node cluster (mirror-sim.ts): the
// simulator checks after every transition that there are never two valid primaries, that no stale
// node is promoted and that nothing diverges without a forced command.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initialData } from '../../runtime/mirror/generation.js';
import { mirrorStatus } from '../../runtime/mirror/status.js';
import type { DataState, Effect } from '../../runtime/mirror/types.js';
import { Sim, type NodeId } from './mirror-sim.js';

function formed(sim: Sim): boolean {
  return sim.phase('a') === 'PRIM' && sim.phase('b') === 'SECOND';
}

function cluster(opts: ConstructorParameters<typeof Sim>[0] = {}): Sim {
  const sim = new Sim(opts);
  assert.ok(sim.runUntil(() => formed(sim), 3000), `cluster did not form: ${sim.describe()}`);
  return sim;
}

/** Transitions of `node` logged since history index `mark` (take `sim.history.length` as a mark). */
function transitionsOf(sim: Sim, node: NodeId, mark: number): string[] {
  return sim.history.slice(mark).filter((h) => h.node === node).map((h) => `${h.from}->${h.to}`);
}

function everyAckedWriteOn(sim: Sim, node: NodeId): void {
  for (const w of sim.acked) assert.ok(sim.nodes[node].applied.has(w), `acknowledged write #${w} missing on ${node}`);
}

describe('mirror scenarios', () => {
  it('forms a cluster: the node holding the data becomes PRIM, the replica resyncs and becomes SECOND', () => {
    const sim = cluster();
    assert.deepEqual(sim.primaries(), ['a']);
    assert.equal(sim.nodes.a.vip, true);
    assert.equal(sim.nodes.b.vip, false);
    assert.equal(sim.nodes.b.machine?.data.gen.id, sim.nodes.a.machine?.data.gen.id);
    sim.run(2000);
    everyAckedWriteOn(sim, 'b');
  });

  it('status: state, role, since, last transition and reason, data, authority left', () => {
    const sim = cluster();
    sim.run(200);
    const a = sim.nodes.a.machine;
    const b = sim.nodes.b.machine;
    assert.ok(a !== null && b !== null);
    const sa = mirrorStatus(a, sim.t + sim.nodes.a.offset);
    const sb = mirrorStatus(b, sim.t + sim.nodes.b.offset);
    assert.equal(sa.state, 'PRIM');
    assert.equal(sa.role, 'primary');
    assert.ok(sa.authorityLeftMs !== null && sa.authorityLeftMs > 0 && sa.authorityLeftMs <= 600);
    assert.equal(sa.lastTransition?.to, 'PRIM');
    assert.ok((sa.lastTransition?.reason ?? '').length > 0);
    assert.equal(sb.role, 'secondary');
    assert.equal(sb.authorityLeftMs, null);
    assert.equal(sb.peer.state, 'PRIM');
    assert.equal(sb.data.generation, sa.data.generation);
  });

  it('primary crash: the secondary takes over ALONE with the witness lease, in well under a second', () => {
    const sim = cluster();
    sim.run(500);
    const t0 = sim.t;
    sim.crash('a');
    assert.ok(sim.runUntil(() => sim.phase('b') === 'ALONE', 3000), sim.describe());
    const started = sim.history.find((h) => h.node === 'b' && h.t >= t0 && h.to === 'STARTING_PRIM');
    assert.ok(started !== undefined);
    assert.ok(started.t - t0 < 800, `took ${started.t - t0} ms to start the application on the survivor`);
    const b = sim.nodes.b.machine;
    assert.ok(b !== null && b.auth.leaseUntil !== null && b.auth.leaseUntil > sim.t + sim.nodes.b.offset, 'holds the witness lease');
    assert.equal(sim.witness.holder?.node, 'node-b');
    assert.equal(sim.nodes.b.vip, true);
    everyAckedWriteOn(sim, 'b');
    // Writes go on, under a new generation registered with the witness.
    assert.equal(sim.witness.latest?.id, b.data.gen.id);
  });

  it('the returning node resynchronises and becomes SECOND; the survivor becomes PRIM', () => {
    const sim = cluster();
    sim.crash('a');
    assert.ok(sim.runUntil(() => sim.phase('b') === 'ALONE', 3000));
    sim.run(1000);
    const mark = sim.history.length;
    sim.restart('a');
    assert.ok(sim.runUntil(() => sim.phase('a') === 'SECOND' && sim.phase('b') === 'PRIM', 5000), sim.describe());
    assert.deepEqual(transitionsOf(sim, 'a', mark).slice(0, 3), ['STOP->WAIT', 'WAIT->SYNCING', 'SYNCING->SECOND']);
    assert.ok(!transitionsOf(sim, 'b', mark).some((t) => t.endsWith('STOPPING_PRIM')), 'no second interruption on the survivor');
    sim.run(500);
    everyAckedWriteOn(sim, 'a');
    assert.equal(sim.nodes.a.machine?.data.gen.id, sim.nodes.b.machine?.data.gen.id);
  });

  it('swap: the primary stops (VIP first), the secondary takes over, the old primary becomes SECOND', () => {
    const sim = cluster();
    sim.run(300);
    const t0 = sim.t;
    const fx = sim.command('a', 'swap');
    const kinds = fx.filter((e) => e.type !== 'log').map((e) => e.type);
    assert.deepEqual(kinds.slice(0, 3), ['removeVip', 'stopApp', 'reply']);
    assert.ok(sim.runUntil(() => sim.phase('b') === 'PRIM' && sim.phase('a') === 'SECOND', 3000), sim.describe());
    const bStart = sim.history.find((h) => h.node === 'b' && h.t >= t0 && h.to === 'STARTING_PRIM');
    assert.ok(bStart !== undefined && bStart.t - t0 < 300, `hand-over took ${bStart === undefined ? '?' : bStart.t - t0} ms`);
    sim.run(500);
    everyAckedWriteOn(sim, 'a');
    everyAckedWriteOn(sim, 'b');
  });

  it('swap asked on the secondary works the same way', () => {
    const sim = cluster();
    const fx = sim.command('b', 'swap');
    assert.ok(fx.some((e) => e.type === 'reply' && e.ok));
    assert.ok(sim.runUntil(() => sim.phase('b') === 'PRIM' && sim.phase('a') === 'SECOND', 3000), sim.describe());
  });

  it('swap is refused when the secondary is not in sync', () => {
    const sim = cluster();
    sim.crash('b');
    assert.ok(sim.runUntil(() => sim.phase('a') === 'ALONE', 2000));
    const fx = sim.command('a', 'swap');
    assert.ok(fx.some((e) => e.type === 'reply' && !e.ok));
    assert.equal(sim.phase('a'), 'ALONE');
  });

  it('partition isolating the primary from the peer and the witness: it steps down, the other takes over', () => {
    const sim = cluster();
    const t0 = sim.history.length;
    sim.cut.add('ab');
    sim.cut.add('aw');
    assert.ok(sim.runUntil(() => sim.phase('b') === 'ALONE', 4000), sim.describe());
    sim.run(2000);
    assert.deepEqual(sim.primaries(), ['b']);
    assert.ok(transitionsOf(sim, 'a', t0).includes('ALONE->STOPPING_PRIM') || transitionsOf(sim, 'a', t0).includes('PRIM->STOPPING_PRIM'));
    assert.equal(sim.nodes.a.app.primary, false);
    assert.equal(sim.nodes.a.vip, false);
    // Healed: the isolated node comes back as secondary.
    sim.cut.clear();
    assert.ok(sim.runUntil(() => sim.phase('a') === 'SECOND' && sim.phase('b') === 'PRIM', 8000), sim.describe());
    everyAckedWriteOn(sim, 'a');
  });

  it('inter-node link cut while both reach the witness: exactly one primary, the incumbent keeps running', () => {
    const sim = cluster();
    const t0 = sim.history.length;
    sim.cut.add('ab');
    sim.run(5000);
    assert.deepEqual(sim.primaries(), ['a']);
    assert.ok(!transitionsOf(sim, 'a', t0).some((t) => t.includes('STOPPING')), `needless failover: ${transitionsOf(sim, 'a', t0).join(', ')}`);
    assert.equal(sim.nodes.b.app.primary, false);
    assert.equal(sim.witness.holder?.node, 'node-a');
    const b = sim.nodes.b.machine;
    assert.ok(b !== null && b.phase.name === 'WAIT');
    // b knows it is stale (a writes alone under a generation the witness registered).
    assert.equal(b.data.status, 'stale');
    sim.cut.clear();
    assert.ok(sim.runUntil(() => formed(sim), 8000), sim.describe());
    everyAckedWriteOn(sim, 'b');
  });

  it('the primary loses only the witness: nothing happens', () => {
    const sim = cluster();
    const t0 = sim.history.length;
    sim.cut.add('aw');
    sim.run(5000);
    assert.ok(formed(sim));
    assert.deepEqual(transitionsOf(sim, 'a', t0), []);
  });

  it('frozen primary: the secondary takes over; on resume the old primary fences before anything else and never restarts the app', () => {
    const sim = cluster();
    sim.run(300);
    sim.freeze('a');
    assert.ok(sim.runUntil(() => sim.phase('b') === 'ALONE', 3000), sim.describe());
    sim.run(1000);
    const t0 = sim.history.length;
    const before = sim.nodes.a.effects.length;
    sim.thaw('a');
    const first: Effect[] = sim.nodes.a.effects.slice(before);
    const firstKinds = first.filter((e) => e.type !== 'log').map((e) => e.type);
    assert.deepEqual(firstKinds.slice(0, 3), ['stopApp', 'setReplication', 'removeVip']);
    assert.deepEqual(first.find((e) => e.type === 'stopApp'), { type: 'stopApp', role: 'primary', force: true });
    assert.deepEqual(first.find((e) => e.type === 'setReplication'), { type: 'setReplication', mode: 'off', generation: sim.nodes.a.machine?.data.gen });
    assert.ok(sim.runUntil(() => sim.phase('a') === 'SECOND' && sim.phase('b') === 'PRIM', 5000), sim.describe());
    const after = sim.nodes.a.effects.slice(before);
    assert.ok(!after.some((e) => e.type === 'startApp' && e.role === 'primary'), 'never starts the primary application again');
    assert.ok(!after.some((e) => e.type === 'addVip'));
    assert.ok(!transitionsOf(sim, 'a', t0).includes('PROMOTING->STARTING_PRIM'));
  });

  it('frozen primary holding the witness lease: the takeover waits for the lease to lapse, then the same', () => {
    const sim = cluster({ replTimeoutMs: 2000 }); // writes wait up to 2 s for the secondary (the default)
    sim.cut.add('ab');
    sim.run(350); // heartbeats stall: a takes the witness lease (still PRIM), b has not declared it lost
    assert.equal(sim.phase('a'), 'PRIM');
    const lease = sim.witness.holder;
    assert.equal(lease?.node, 'node-a');
    sim.freeze('a');
    sim.cut.clear();
    assert.ok(sim.runUntil(() => sim.phase('b') === 'ALONE', 5000), sim.describe());
    const started = sim.history.find((h) => h.node === 'b' && h.to === 'STARTING_PRIM');
    assert.ok(started !== undefined && lease !== null && started.t >= lease.until, 'b started only after a\'s lease lapsed');
    const mark = sim.history.length;
    sim.thaw('a');
    assert.ok(sim.runUntil(() => sim.phase('a') === 'SECOND' && sim.phase('b') === 'PRIM', 5000), sim.describe());
    assert.ok(!transitionsOf(sim, 'a', mark).includes('PROMOTING->STARTING_PRIM'));
  });

  it('frozen primary that wrote alone: the stale secondary is refused; on resume the old primary fences, then leads again', () => {
    const sim = cluster();
    sim.cut.add('ab');
    assert.ok(sim.runUntil(() => sim.phase('a') === 'ALONE', 2000)); // a writes alone under a registered generation
    sim.run(300);
    sim.freeze('a');
    sim.cut.clear();
    sim.run(5000);
    assert.equal(sim.phase('b'), 'WAIT');
    assert.equal(sim.nodes.b.machine?.data.status, 'stale');
    assert.equal(sim.nodes.b.app.primary, false);
    const mark = sim.history.length;
    sim.thaw('a');
    assert.deepEqual(transitionsOf(sim, 'a', mark), ['ALONE->STOPPING_PRIM']);
    assert.ok(sim.runUntil(() => formed(sim), 8000), sim.describe());
    everyAckedWriteOn(sim, 'b');
  });

  it('a stale node is refused; after a double failure the node with the newest data starts first', () => {
    const sim = cluster();
    sim.crash('b');
    assert.ok(sim.runUntil(() => sim.phase('a') === 'ALONE', 2000));
    sim.run(1000); // a writes alone
    sim.crash('a'); // double failure
    sim.run(2000);
    sim.restart('b'); // the stale node comes back first
    sim.run(6000);
    assert.equal(sim.phase('b'), 'WAIT');
    const b = sim.nodes.b.machine;
    assert.ok(b !== null && b.phase.name === 'WAIT' && b.phase.why === 'stale', sim.describe());
    assert.equal(b.data.status, 'stale');
    assert.equal(sim.nodes.b.app.primary, false);
    assert.match(b.last?.reason ?? '', /stale|newer/);
    // A plain `prim` is refused with the reason.
    const fx = sim.command('b', 'prim');
    assert.ok(fx.some((e) => e.type === 'reply' && !e.ok && /stale/.test(e.message)));
    // The node with the newest data returns: it becomes primary, the stale one resyncs.
    sim.restart('a');
    assert.ok(sim.runUntil(() => formed(sim), 8000), sim.describe());
    everyAckedWriteOn(sim, 'b');
  });

  it('prim --force starts a stale node with a warning (operator accepts losing the newer data)', () => {
    const sim = cluster();
    sim.crash('b');
    assert.ok(sim.runUntil(() => sim.phase('a') === 'ALONE', 2000));
    sim.run(500);
    sim.crash('a');
    sim.restart('b');
    sim.run(3000);
    assert.equal(sim.phase('b'), 'WAIT');
    const fx = sim.command('b', 'prim', true);
    assert.ok(fx.some((e) => e.type === 'warning' && /stale/.test(e.message)), JSON.stringify(fx));
    assert.ok(sim.runUntil(() => sim.phase('b') === 'ALONE', 3000), sim.describe());
    // The old primary returns: its newer branch was superseded by the operator: it resyncs.
    sim.restart('a');
    assert.ok(sim.runUntil(() => sim.phase('a') === 'SECOND' && sim.phase('b') === 'PRIM', 8000), sim.describe());
  });

  it('diverged data (both wrote while apart) is refused on both nodes until the operator picks a side', () => {
    const base = initialData('source');
    const branch = (id: string): DataState => ({ ...base, gen: { id, supersedes: ['init'] }, counter: 1 });
    const sim = new Sim({ data: { a: branch('node-a.1.1'), b: branch('node-b.1.1') } });
    sim.forcedUsed = true; // divergence is the input of this test
    sim.run(5000);
    assert.equal(sim.phase('a'), 'DIVERGED');
    assert.equal(sim.phase('b'), 'DIVERGED');
    assert.equal(sim.nodes.a.app.primary || sim.nodes.b.app.primary, false);
    assert.ok(sim.nodes.a.log.some((l) => /diverged/.test(l) && /hamod second/.test(l)), 'operator message');
    // Plain prim is refused on a diverged node.
    assert.ok(sim.command('a', 'prim').some((e) => e.type === 'reply' && !e.ok));
    // Resolution: discard b's changes.
    const fx = sim.command('b', 'second');
    assert.ok(fx.some((e) => e.type === 'warning' && /discarding/.test(e.message)));
    assert.ok(sim.runUntil(() => formed(sim), 8000), sim.describe());
    const genA = sim.nodes.a.machine?.data.gen;
    assert.ok(genA?.supersedes.includes('node-b.1.1'), 'the kept side supersedes the discarded branch');
  });

  it('no witness answer: the secondary does not start alone; prim --force starts it with a warning', () => {
    const sim = cluster();
    sim.crashWitness();
    sim.crash('a');
    sim.run(5000);
    const b = sim.nodes.b.machine;
    assert.ok(b !== null && b.phase.name === 'WAIT' && b.phase.why === 'no-witness', sim.describe());
    assert.equal(sim.nodes.b.app.primary, false);
    const fx = sim.command('b', 'prim', true);
    assert.ok(fx.some((e) => e.type === 'warning' && /witness/.test(e.message)));
    assert.ok(sim.runUntil(() => sim.phase('b') === 'ALONE', 2000), sim.describe());
  });

  it('checker failover on the primary: the secondary takes over', () => {
    const sim = cluster();
    sim.inject('a', { type: 'checkerAction', checker: 'http', action: 'failover', reason: '3 consecutive failures' });
    assert.ok(sim.runUntil(() => sim.phase('b') === 'PRIM' && sim.phase('a') === 'SECOND', 3000), sim.describe());
  });

  it('checker restart on the primary: local restart, VIP kept, role kept', () => {
    const sim = cluster();
    const t0 = sim.history.length;
    sim.inject('a', { type: 'checkerAction', checker: 'process', action: 'restart', reason: 'exited' });
    sim.run(500);
    assert.ok(formed(sim), sim.describe());
    assert.deepEqual(transitionsOf(sim, 'a', t0), ['PRIM->STOPPING_PRIM', 'STOPPING_PRIM->STARTING_PRIM', 'STARTING_PRIM->PRIM']);
    assert.equal(sim.nodes.a.vip, true);
  });

  it('application start failure on the new primary: it hands back to the peer if it can', () => {
    const sim = cluster();
    sim.nodes.b.failStarts = 1;
    sim.command('a', 'swap');
    assert.ok(sim.runUntil(() => formed(sim) && sim.t > 500, 5000), sim.describe());
  });

  it('stop on the primary fails over to the secondary; start brings it back as secondary', () => {
    const sim = cluster();
    sim.command('a', 'stop');
    assert.ok(sim.runUntil(() => sim.phase('a') === 'STOP' && sim.phase('b') === 'ALONE', 3000), sim.describe());
    sim.command('a', 'start');
    assert.ok(sim.runUntil(() => sim.phase('a') === 'SECOND' && sim.phase('b') === 'PRIM', 5000), sim.describe());
  });

  it('the module gives up after too many start failures (maxErrors)', () => {
    const sim = new Sim({ mirror: { maxErrors: { count: 3, windowMs: 60_000 }, restartBackoffMs: 100 } });
    sim.crash('b');
    sim.nodes.a.failStarts = 10;
    sim.run(10_000);
    assert.equal(sim.phase('a'), 'STOP');
    assert.match(sim.nodes.a.machine?.last?.reason ?? '', /too many errors/);
  });

  it('works with clocks that disagree wildly between nodes and witness', () => {
    const sim = cluster({ offsets: { a: 1_000_000, b: 5, w: 77_777 } });
    sim.crash('a');
    assert.ok(sim.runUntil(() => sim.phase('b') === 'ALONE', 3000), sim.describe());
    sim.restart('a');
    assert.ok(sim.runUntil(() => sim.phase('a') === 'SECOND', 5000), sim.describe());
  });
});
