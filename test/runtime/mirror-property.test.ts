// Property tests of the mirror machine in a simulated two-node cluster with a witness: arbitrary
// sequences of crashes, restarts, freezes, partitions, lossy and slow links, witness outages, clock
// advances, operator commands (never forced), checker actions and application start failures.
// Safety: never two valid primaries, no promotion of stale data, no divergence (checked after every
// single transition by the simulator). Liveness: once every fault is repaired, the cluster settles on
// exactly one primary and one secondary. fast-check prints the seed and the shrunk sequence on failure.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Sim, type Link, type NodeId } from './mirror-sim.js';

type Op =
  | { readonly k: 'run'; readonly ms: number }
  | { readonly k: 'crash' | 'restart' | 'freeze' | 'thaw' | 'failStart'; readonly n: NodeId }
  | { readonly k: 'cut' | 'heal'; readonly link: Link }
  | { readonly k: 'loss'; readonly rate: number }
  | { readonly k: 'latency'; readonly max: number }
  | { readonly k: 'cmd'; readonly n: NodeId; readonly cmd: 'start' | 'stop' | 'forcestop' | 'restart' | 'swap' | 'prim' | 'second' }
  | { readonly k: 'checker'; readonly n: NodeId; readonly action: 'restart' | 'failover' | 'stop' }
  | { readonly k: 'witnessCrash' | 'witnessRestart' };

/** More runs for a soak: HAMOD_PROPERTY_RUNS=5000 node --test dist/test/runtime/mirror-property.test.js */
const RUNS = Number(process.env['HAMOD_PROPERTY_RUNS'] ?? '0') || null;
/** Longer fault sequences for a deep soak: HAMOD_PROPERTY_LENGTH=120 */
const LENGTH = Number(process.env['HAMOD_PROPERTY_LENGTH'] ?? '0') || null;

const node = fc.constantFrom<NodeId>('a', 'b');
const link = fc.constantFrom<Link>('ab', 'aw', 'bw');

const faultOps: Array<fc.WeightedArbitrary<Op>> = [
  { weight: 30, arbitrary: fc.record({ k: fc.constant('run' as const), ms: fc.integer({ min: 10, max: 2500 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('crash' as const), n: node }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('restart' as const), n: node }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('freeze' as const), n: node }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('thaw' as const), n: node }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('cut' as const), link }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('heal' as const), link }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('loss' as const), rate: fc.constantFrom(0, 0, 0.1, 0.3, 0.7) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('latency' as const), max: fc.constantFrom(3, 50, 300, 900) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('witnessCrash' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('witnessRestart' as const) }) },
];

const operatorOps: Array<fc.WeightedArbitrary<Op>> = [
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('cmd' as const),
      n: node,
      cmd: fc.constantFrom('start', 'stop', 'forcestop', 'restart', 'swap', 'prim', 'second') as fc.Arbitrary<
        'start' | 'stop' | 'forcestop' | 'restart' | 'swap' | 'prim' | 'second'
      >,
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('failStart' as const), n: node }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('checker' as const),
      n: node,
      action: fc.constantFrom('restart', 'failover', 'stop') as fc.Arbitrary<'restart' | 'failover' | 'stop'>,
    }),
  },
];

const offsets = fc.record({ a: fc.integer({ min: 0, max: 100_000 }), b: fc.integer({ min: 0, max: 100_000 }), w: fc.integer({ min: 0, max: 100_000 }) });

/** Cluster settings: clock offsets, heartbeat timings (safety must not depend on the failure detector), witness or not. */
const setup = fc.record({
  seed: fc.integer(),
  offsets,
  heartbeat: fc.constantFrom({ intervalMs: 100, timeoutMs: 600 }, { intervalMs: 50, timeoutMs: 250 }, { intervalMs: 200, timeoutMs: 1500 }, { intervalMs: 100, timeoutMs: 400 }),
  witness: fc.constantFrom(true, true, true, false),
});

type Setup = typeof setup extends fc.Arbitrary<infer T> ? T : never;

function simFor(s: Setup): Sim {
  return new Sim({ seed: s.seed, offsets: s.offsets, heartbeat: { ...s.heartbeat, maxHoldDownMs: 4000 }, witness: s.witness });
}

function apply(sim: Sim, op: Op): void {
  switch (op.k) {
    case 'run':
      return sim.run(op.ms);
    case 'crash':
      return sim.crash(op.n);
    case 'restart':
      return sim.restart(op.n);
    case 'freeze':
      return sim.freeze(op.n);
    case 'thaw':
      return sim.thaw(op.n);
    case 'failStart':
      sim.nodes[op.n].failStarts += 1;
      return;
    case 'cut':
      sim.cut.add(op.link);
      return;
    case 'heal':
      sim.cut.delete(op.link);
      return;
    case 'loss':
      sim.lossRate = op.rate;
      return;
    case 'latency':
      sim.latencyMax = op.max;
      return;
    case 'cmd':
      sim.command(op.n, op.cmd);
      return;
    case 'checker':
      sim.inject(op.n, { type: 'checkerAction', checker: 'probe', action: op.action, reason: 'simulated failure' });
      return;
    case 'witnessCrash':
      return sim.crashWitness();
    case 'witnessRestart':
      return sim.restartWitness();
  }
}

/** Repair everything and let the cluster settle. */
function repair(sim: Sim): void {
  for (const id of ['a', 'b'] as const) {
    sim.thaw(id);
    sim.restart(id);
  }
  sim.cut.clear();
  sim.lossRate = 0;
  sim.latencyMax = 3;
  sim.restartWitness();
}

describe('mirror machine: property tests in a simulated cluster', () => {
  it('never two primaries, never a stale promotion, never a divergence (faults + operator commands)', () => {
    fc.assert(
      fc.property(setup, fc.array(fc.oneof(...faultOps, ...operatorOps), { minLength: 1, maxLength: LENGTH ?? 40 }), (s, ops) => {
        const sim = simFor(s);
        for (const op of ops) apply(sim, op);
        repair(sim);
        sim.run(5000);
      }),
      { numRuns: RUNS ?? 300 },
    );
  });

  it('after any sequence of faults, once repaired, settles on exactly one PRIM and one SECOND', () => {
    fc.assert(
      fc.property(setup, fc.array(fc.oneof(...faultOps), { minLength: 1, maxLength: LENGTH ?? 30 }), (s, ops) => {
        const sim = simFor(s);
        for (const op of ops) apply(sim, op);
        repair(sim);
        const settled = sim.runUntil(() => {
          const p = [sim.phase('a'), sim.phase('b')].sort().join(',');
          return p === 'PRIM,SECOND';
        }, 40_000);
        assert.ok(settled, `did not settle: ${sim.describe()}\n${sim.trace.slice(-30).join('\n')}`);
      }),
      { numRuns: RUNS ?? 150 },
    );
  });
});
