import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  compareData,
  compareGenerations,
  initialData,
  MAX_SUPERSEDED,
  nextGeneration,
  orderGenerations,
} from '../../runtime/mirror/generation.js';
import type { Generation } from '../../runtime/mirror/types.js';

const init: Generation = { id: 'init', supersedes: [] };
const a1 = nextGeneration(init, 'a.1.1');
const a2 = nextGeneration(a1, 'a.1.2');
const b1 = nextGeneration(init, 'b.1.1');

describe('data generations', () => {
  it('orders by ancestry', () => {
    assert.equal(compareGenerations(a1, a1), 'same');
    assert.equal(compareGenerations(a2, a1), 'newer');
    assert.equal(compareGenerations(a1, a2), 'older');
    assert.equal(compareGenerations(a2, init), 'newer');
    assert.equal(compareGenerations(a1, b1), 'diverged');
  });

  it('an uncommitted generation (no acknowledged write) gives way instead of diverging', () => {
    assert.equal(orderGenerations({ gen: a1, committed: false }, { gen: b1, committed: true }), 'older');
    assert.equal(orderGenerations({ gen: a1, committed: true }, { gen: b1, committed: false }), 'newer');
    assert.equal(orderGenerations({ gen: a1, committed: true }, { gen: b1, committed: true }), 'diverged');
    // Both uncommitted from the same parent: the same winner seen from both sides.
    const x = orderGenerations({ gen: a1, committed: false }, { gen: b1, committed: false });
    const y = orderGenerations({ gen: b1, committed: false }, { gen: a1, committed: false });
    assert.deepEqual([x, y].sort(), ['newer', 'older']);
    // An uncommitted generation whose parent is not superseded by the other side still diverges.
    const c2 = nextGeneration(nextGeneration(init, 'c.1.1'), 'c.1.2');
    assert.equal(orderGenerations({ gen: c2, committed: false }, { gen: b1, committed: true }), 'diverged');
  });

  it('compares data: usable data beats unusable data, then generations decide', () => {
    const ok = (gen: Generation) => ({ gen, status: 'up-to-date' as const, committed: true });
    assert.equal(compareData(ok(a2), ok(a1)), 'mine-newer');
    assert.equal(compareData(ok(a1), ok(a2)), 'theirs-newer');
    assert.equal(compareData(ok(a1), ok(b1)), 'diverged');
    assert.equal(compareData(ok(a1), { ...ok(a2), status: 'stale' }), 'mine-newer');
    assert.equal(compareData({ ...ok(a1), status: 'resyncing' }, ok(init)), 'theirs-newer');
    assert.equal(compareData({ ...ok(a1), status: 'stale' }, { ...ok(b1), status: 'resyncing' }), 'neither');
  });

  it('compareData is antisymmetric', () => {
    const gens = [init, a1, a2, b1];
    const swap: Record<string, string> = { same: 'same', 'mine-newer': 'theirs-newer', 'theirs-newer': 'mine-newer', diverged: 'diverged', neither: 'neither' };
    for (const g of gens) {
      for (const h of gens) {
        for (const s1 of ['up-to-date', 'stale'] as const) {
          for (const c1 of [true, false]) {
            const m = { gen: g, status: s1, committed: c1 };
            const t = { gen: h, status: 'up-to-date' as const, committed: !c1 };
            assert.equal(compareData(t, m), swap[compareData(m, t)]);
          }
        }
      }
    }
  });

  it('nextGeneration keeps a bounded, duplicate-free history, newest first', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), (n) => {
        let g = init;
        for (let i = 1; i <= n; i++) g = nextGeneration(g, `n.1.${i}`, i % 7 === 0 ? ['foreign', g.id] : []);
        assert.ok(g.supersedes.length <= MAX_SUPERSEDED);
        assert.equal(new Set(g.supersedes).size, g.supersedes.length);
        assert.ok(!g.supersedes.includes(g.id));
        assert.equal(g.supersedes[0], `n.1.${n - 1}` === 'n.1.0' ? 'init' : `n.1.${n - 1}`);
      }),
    );
  });

  it('initial data: the source is up to date, the replica stale until resynchronised from it', () => {
    const src = initialData('source');
    const rep = initialData('replica');
    assert.equal(compareData(src, rep), 'mine-newer');
    assert.equal(rep.newerKnown, src.gen.id);
  });
});
