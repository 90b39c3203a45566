import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  heartbeatReducer,
  holdDownFor,
  initialHeartbeatState,
  nextHeartbeatDeadline,
  type HeartbeatInput,
  type HeartbeatOutput,
  type HeartbeatState,
} from '../../runtime/heartbeat/tracker.js';
import { checkHeartbeatTimings, DEFAULT_HEARTBEAT_TIMINGS, type HeartbeatTimings } from '../../runtime/heartbeat/timings.js';

const T = DEFAULT_HEARTBEAT_TIMINGS;

/** Feed inputs in order; return the final state and every output with its input time. */
function feed(inputs: readonly HeartbeatInput[], timings: HeartbeatTimings = T, networks = ['net0', 'net1']): { state: HeartbeatState; out: HeartbeatOutput[] } {
  const reduce = heartbeatReducer(timings);
  let state = initialHeartbeatState(networks);
  const out: HeartbeatOutput[] = [];
  for (const i of inputs) {
    const r = reduce(state, i);
    state = r.state;
    out.push(...r.output);
  }
  return { state, out };
}

/** Beats every `every` ms on `nets` from `from` to `to`, with ticks every 10 ms. */
function schedule(from: number, to: number, every: number, nets: readonly string[]): HeartbeatInput[] {
  const inputs: HeartbeatInput[] = [];
  for (let t = from; t <= to; t += 10) {
    if ((t - from) % every === 0) for (const n of nets) inputs.push({ type: 'beat', network: n, at: t });
    inputs.push({ type: 'tick', at: t });
  }
  return inputs;
}

const types = (out: readonly HeartbeatOutput[]): string[] => out.map((o) => o.type);

describe('heartbeat tracker', () => {
  it('defaults are consistent and detect a dead or frozen peer in well under a second', () => {
    assert.deepEqual(checkHeartbeatTimings(T), []);
    assert.ok(T.timeoutMs + T.intervalMs < 1000);
    assert.ok(T.timeoutMs >= 5 * T.intervalMs, 'tolerates several lost or late beats');
  });

  it('rejects inconsistent timings', () => {
    assert.ok(checkHeartbeatTimings({ ...T, timeoutMs: T.intervalMs }).length > 0);
    assert.ok(checkHeartbeatTimings({ ...T, maxHoldDownMs: 10 }).length > 0);
  });

  it('reports the first contact at once', () => {
    const { out, state } = feed([{ type: 'beat', network: 'net0', at: 5 }]);
    assert.deepEqual(types(out), ['networkUp', 'peerUp', 'degraded']);
    assert.equal(state.liveness, 'up');
  });

  it('declares the peer lost only when every network is silent past the timeout, once', () => {
    const inputs = [...schedule(0, 1000, 100, ['net0', 'net1']), ...schedule(1010, 3000, 1_000_000, [])];
    const { out } = feed(inputs);
    const lost = out.filter((o) => o.type === 'peerLost');
    assert.equal(lost.length, 1);
    const l = lost[0];
    assert.ok(l?.type === 'peerLost' && l.at === 1000 + T.timeoutMs && l.silentMs === T.timeoutMs, JSON.stringify(l));
  });

  it('the loss of one network of two is reported as degraded, never as a lost peer', () => {
    const inputs = [...schedule(0, 1000, 100, ['net0', 'net1']), ...schedule(1010, 5000, 100, ['net0'])].map((i) =>
      i.type === 'beat' && i.at > 1000 ? { ...i, at: i.at - (i.at % 10) } : i,
    );
    const { out, state } = feed(inputs);
    assert.ok(!types(out).includes('peerLost'));
    assert.ok(out.some((o) => o.type === 'networkDown' && o.network === 'net1'));
    assert.ok(out.some((o) => o.type === 'degraded' && o.down.join() === 'net1'));
    assert.equal(state.liveness, 'up');
    // net1 comes back: degraded clears.
    const back = feed([...inputs, { type: 'beat', network: 'net1', at: 5010 }, { type: 'tick', at: 5010 }]);
    assert.ok(back.out.slice(out.length).some((o) => o.type === 'degraded' && o.down.length === 0));
  });

  it('tolerates irregular beats (a saturated CPU) with gaps below the timeout', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 10, max: T.timeoutMs - 10 }), { minLength: 5, maxLength: 200 }), (gaps) => {
        const inputs: HeartbeatInput[] = [];
        let t = 0;
        for (const g of gaps) {
          for (let x = t + 10; x < t + g; x += 10) inputs.push({ type: 'tick', at: x });
          t += g;
          inputs.push({ type: 'beat', network: 'net0', at: t }, { type: 'tick', at: t });
        }
        const { out } = feed(inputs, T, ['net0']);
        assert.ok(!types(out).includes('peerLost'));
      }),
    );
  });

  it('damps flapping: a returning peer must be stable for the hold-down, doubled for each recent loss', () => {
    let inputs: HeartbeatInput[] = [...schedule(0, 500, 100, ['net0'])];
    inputs.push(...schedule(510, 1200, 1_000_000, [])); // lost at 1100
    inputs.push(...schedule(1210, 3000, 100, ['net0'])); // back at 1210: up after holdDown
    const first = feed(inputs, T, ['net0']);
    const up1 = first.out.filter((o) => o.type === 'peerUp');
    assert.equal(up1.length, 2);
    assert.equal(up1[1]?.at, 1210 + T.holdDownMs);
    // Second loss within the window: hold-down doubles.
    inputs = [...inputs, ...schedule(3010, 3700, 1_000_000, []), ...schedule(3710, 8000, 100, ['net0'])];
    const second = feed(inputs, T, ['net0']);
    const up2 = second.out.filter((o) => o.type === 'peerUp');
    assert.equal(up2[2]?.at, 3710 + 2 * T.holdDownMs);
    assert.equal(holdDownFor(20, T), T.maxHoldDownMs);
  });

  it('a peer whose agent restarted (new boot id) starts a new flap history: base hold-down, not doubled', () => {
    const lossesThenBack = (restart: boolean): HeartbeatInput[] => [
      ...schedule(0, 500, 100, ['net0']),
      ...schedule(510, 1200, 1_000_000, []), // lost at 1100
      ...schedule(1210, 3000, 100, ['net0']), // back, up after the hold-down
      ...schedule(3010, 3700, 1_000_000, []), // lost again at 3600
      ...(restart ? [{ type: 'restarted', at: 3710 } as HeartbeatInput] : []),
      ...schedule(3710, 8000, 100, ['net0']),
    ];
    const flapping = feed(lossesThenBack(false), T, ['net0']).out.filter((o) => o.type === 'peerUp');
    assert.equal(flapping[2]?.at, 3710 + 2 * T.holdDownMs, 'same boot: the hold-down doubles');
    const rebooted = feed(lossesThenBack(true), T, ['net0']).out.filter((o) => o.type === 'peerUp');
    assert.equal(rebooted[2]?.at, 3710 + T.holdDownMs, 'new boot id: the base hold-down');
  });

  it('a gap during the hold-down restarts it', () => {
    const inputs: HeartbeatInput[] = [
      ...schedule(0, 300, 100, ['net0']),
      ...schedule(310, 1000, 1_000_000, []), // lost at 900
      { type: 'beat', network: 'net0', at: 1000 }, // recovering
      ...schedule(1010, 1700, 1_000_000, []), // silent again: back to lost
      ...schedule(1710, 4000, 100, ['net0']),
    ];
    const { out } = feed(inputs, T, ['net0']);
    const ups = out.filter((o) => o.type === 'peerUp');
    // Two losses within the window by then? Only one declared loss (the second silence happened while recovering).
    assert.equal(out.filter((o) => o.type === 'peerLost').length, 1);
    assert.equal(ups[1]?.at, 1710 + T.holdDownMs);
  });

  it('ignores beats on networks it does not know', () => {
    const { out, state } = feed([{ type: 'beat', network: 'rogue', at: 1 }]);
    assert.deepEqual(out, []);
    assert.equal(state.liveness, 'unknown');
  });

  it('property: peerLost only when all networks are silent past the timeout; peerUp and peerLost alternate', () => {
    const input = fc.oneof(
      fc.record({ type: fc.constant('beat' as const), network: fc.constantFrom('net0', 'net1'), dt: fc.integer({ min: 0, max: 400 }) }),
      fc.record({ type: fc.constant('tick' as const), dt: fc.integer({ min: 0, max: 800 }) }),
    );
    fc.assert(
      fc.property(fc.array(input, { maxLength: 300 }), (steps) => {
        const reduce = heartbeatReducer(T);
        let state = initialHeartbeatState(['net0', 'net1']);
        let t = 0;
        let last: 'up' | 'lost' | null = null;
        const lastBeat: Record<string, number> = {};
        for (const s of steps) {
          t += s.dt;
          const r = reduce(state, s.type === 'beat' ? { type: 'beat', network: s.network, at: t } : { type: 'tick', at: t });
          if (s.type === 'beat') lastBeat[s.network] = t;
          for (const o of r.output) {
            if (o.type === 'peerLost') {
              assert.notEqual(last, 'lost');
              for (const b of Object.values(lastBeat)) assert.ok(t - b >= T.timeoutMs, 'lost while a network beat recently');
              last = 'lost';
            }
            if (o.type === 'peerUp') {
              assert.notEqual(last, 'up');
              last = 'up';
            }
          }
          state = r.state;
          const d = nextHeartbeatDeadline(state, T);
          if (d !== null) assert.ok(Number.isFinite(d));
        }
      }),
    );
  });
});
