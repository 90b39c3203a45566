import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { nextGeneration } from '../../runtime/mirror/generation.js';
import type { Generation } from '../../runtime/mirror/types.js';
import { initialWitnessState, restartedWitnessState, witnessReducer, type WitnessInput, type WitnessState } from '../../runtime/mirror/witness-lease.js';

const cfg = { leaseMs: 1500 };
const reduce = witnessReducer(cfg);
const init: Generation = { id: 'init', supersedes: [] };
const g1 = nextGeneration(init, 'a.1.1');
const g2 = nextGeneration(g1, 'a.1.2');
const other = nextGeneration(init, 'b.1.1');

const req = (node: string, at: number, generation: Generation = init, committed = true): WitnessInput => ({ type: 'request', node, sentAt: at, generation, committed, at });

function run(inputs: readonly WitnessInput[], start: WitnessState = initialWitnessState()) {
  let state = start;
  const outs = [];
  for (const i of inputs) {
    const r = reduce(state, i);
    state = r.state;
    outs.push(r.output);
  }
  return { state, outs };
}

describe('witness lease', () => {
  it('grants one holder at a time; the other is told how long to wait', () => {
    const { outs } = run([req('a', 0), req('b', 100)]);
    assert.equal(outs[0]?.type, 'granted');
    assert.deepEqual(outs[1], { type: 'denied', node: 'b', sentAt: 100, reason: 'held', holder: 'a', latest: init, retryAfterMs: 1400 });
  });

  it('the holder renews; after expiry or release the other gets it', () => {
    const { outs } = run([req('a', 0), req('a', 1000), req('b', 2000), req('b', 2600)]);
    assert.deepEqual(outs.map((o) => o?.type), ['granted', 'granted', 'denied', 'granted']);
    const rel = run([req('a', 0), { type: 'release', node: 'a', upTo: 10, at: 10 }, req('b', 20)]);
    assert.equal(rel.outs[2]?.type, 'granted');
    // A release by a non-holder changes nothing.
    const bad = run([req('a', 0), { type: 'release', node: 'b', upTo: 10, at: 10 }, req('b', 20)]);
    assert.equal(bad.outs[2]?.type, 'denied');
    // A release overtaken by a newer request of the holder (reordered messages) does not release it.
    const late = run([req('a', 0), { type: 'request', node: 'a', sentAt: 50, generation: init, committed: true, at: 60 }, { type: 'release', node: 'a', upTo: 40, at: 70 }, req('b', 80)]);
    assert.equal(late.outs[3]?.type, 'denied');
  });

  it('registers generations and refuses stale or diverged requesters', () => {
    const { outs, state } = run([req('a', 0, g1), req('a', 100, g2), { type: 'release', node: 'a', upTo: 200, at: 200 }, req('b', 300, g1), req('b', 400, other)]);
    assert.deepEqual(outs.map((o) => (o?.type === 'denied' ? o.reason : o?.type)), ['granted', 'granted', undefined, 'stale', 'diverged']);
    assert.equal(state.latest?.id, 'a.1.2');
    // An uncommitted generation whose parent the registry supersedes is merely stale.
    const unc = nextGeneration(g1, 'b.2.1');
    const r = reduce(state, req('b', 500, unc, false));
    assert.ok(r.output?.type === 'denied' && r.output.reason === 'stale');
  });

  it('after a restart it grants nothing for one lease duration', () => {
    const s = restartedWitnessState(g1, 10_000, cfg);
    const { outs } = run([req('a', 10_100, g1), req('a', 11_600, g1)], s);
    assert.ok(outs[0]?.type === 'denied' && outs[0].reason === 'unavailable' && outs[0].retryAfterMs === 1400);
    assert.equal(outs[1]?.type, 'granted');
  });

  it('property: never two valid holders at the same time', () => {
    const input = fc.record({ node: fc.constantFrom('a', 'b', 'c'), release: fc.boolean(), dt: fc.integer({ min: 0, max: 2000 }) });
    fc.assert(
      fc.property(fc.array(input, { maxLength: 200 }), (steps) => {
        let state = initialWitnessState();
        let t = 0;
        const grants: Array<{ node: string; from: number; until: number }> = [];
        for (const s of steps) {
          t += s.dt;
          const r = reduce(state, s.release ? { type: 'release', node: s.node, upTo: t, at: t } : req(s.node, t));
          state = r.state;
          if (s.release) {
            // The releasing node stops using its lease now.
            for (const g of grants) if (g.node === s.node && g.until > t) g.until = t;
          }
          if (r.output?.type === 'granted') grants.push({ node: s.node, from: t, until: t + r.output.durationMs });
        }
        for (const x of grants) {
          for (const y of grants) {
            if (x.node !== y.node) assert.ok(x.until <= y.from || y.until <= x.from, `overlap ${JSON.stringify([x, y])}`);
          }
        }
      }),
    );
  });
});
