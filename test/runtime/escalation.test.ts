import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  escalationReducer,
  initialEscalationState,
  nextCheckDeadline,
  type CheckerPolicy,
  type EscalatedAction,
  type EscalationInput,
  type EscalationState,
  type ModuleCheckPolicy,
} from '../../runtime/checkers/escalation.js';

const http: CheckerPolicy = { name: 'http', intervalMs: 1000, timeoutMs: 500, threshold: 3, action: 'restart', escalation: { restarts: 3, windowMs: 60_000, then: 'failover' } };
/** A push-style checker (process exits are reported as `failure` inputs): it is polled rarely. */
const proc: CheckerPolicy = { name: 'process', intervalMs: 1e9, timeoutMs: 500, threshold: 1, action: 'restart', escalation: null };

class Harness {
  state: EscalationState;
  readonly reduce: ReturnType<typeof escalationReducer>;
  readonly actions: EscalatedAction[] = [];
  readonly runs: Array<{ checker: string; runId: number; deadline: number }> = [];
  constructor(readonly policy: ModuleCheckPolicy) {
    this.state = initialEscalationState(policy);
    this.reduce = escalationReducer(policy);
  }
  in(i: EscalationInput): void {
    const r = this.reduce(this.state, i);
    this.state = r.state;
    this.actions.push(...r.output.actions);
    this.runs.push(...r.output.run);
  }
  /** Answer the latest run of `checker` at time `at`. */
  answer(checker: string, ok: boolean, at: number): void {
    const run = [...this.runs].reverse().find((r) => r.checker === checker);
    assert.ok(run !== undefined, `no run of ${checker}`);
    this.in({ type: 'result', checker, runId: run.runId, ok, detail: ok ? 'ok' : 'HTTP 503', at });
  }
}

describe('checker escalation', () => {
  it('schedules checks: at once when armed, then every interval after the start of the previous one', () => {
    const h = new Harness({ checkers: [http], maxErrors: null });
    h.in({ type: 'arm', at: 0, checkers: null, reset: true });
    assert.deepEqual(h.runs.map((r) => [r.checker, r.deadline]), [['http', 500]]);
    h.answer('http', true, 20);
    h.in({ type: 'tick', at: 900 });
    assert.equal(h.runs.length, 1);
    h.in({ type: 'tick', at: 1000 });
    assert.equal(h.runs.length, 2);
    assert.equal(nextCheckDeadline(h.state), 1501);
  });

  it('acts after `threshold` consecutive failures; a success resets the count', () => {
    const h = new Harness({ checkers: [http], maxErrors: null });
    h.in({ type: 'arm', at: 0, checkers: null, reset: true });
    h.answer('http', false, 10);
    h.in({ type: 'tick', at: 1000 });
    h.answer('http', false, 1010);
    h.in({ type: 'tick', at: 2000 });
    h.answer('http', true, 2010); // reset
    for (let t = 3000; t <= 5000; t += 1000) {
      h.in({ type: 'tick', at: t });
      h.answer('http', false, t + 10);
    }
    assert.equal(h.actions.length, 1);
    assert.deepEqual({ ...h.actions[0], reason: undefined }, { checker: 'http', action: 'restart', reason: undefined, escalated: false });
    assert.match(h.actions[0]?.reason ?? '', /3 consecutive failure\(s\): HTTP 503/);
  });

  it('a check without an answer within its timeout is a failure; its late answer is ignored', () => {
    const h = new Harness({ checkers: [{ ...http, threshold: 1 }], maxErrors: null });
    h.in({ type: 'arm', at: 0, checkers: null, reset: true });
    h.in({ type: 'tick', at: 501 });
    assert.equal(h.actions.length, 1);
    assert.match(h.actions[0]?.reason ?? '', /no answer within 500 ms/);
    h.answer('http', false, 600); // late: ignored
    assert.equal(h.actions.length, 1);
  });

  it('restart escalates to failover after N restarts within the window', () => {
    const h2 = new Harness({ checkers: [{ ...proc, escalation: { restarts: 3, windowMs: 60_000, then: 'failover' } }], maxErrors: null });
    h2.in({ type: 'arm', at: 0, checkers: null, reset: true });
    h2.answer('process', true, 1);
    for (let i = 0; i < 5; i++) h2.in({ type: 'failure', checker: 'process', detail: 'exited with code 1', at: 1000 * (i + 1) });
    assert.deepEqual(h2.actions.map((a) => a.action), ['restart', 'restart', 'restart', 'failover', 'restart']);
    assert.equal(h2.actions[3]?.escalated, true);
    // Outside the window, restarts are counted afresh.
    const h3 = new Harness({ checkers: [{ ...proc, escalation: { restarts: 2, windowMs: 10_000, then: 'stop' } }], maxErrors: null });
    h3.in({ type: 'arm', at: 0, checkers: null, reset: true });
    h3.answer('process', true, 1);
    for (const at of [1000, 20_000, 40_000, 41_000, 42_000]) h3.in({ type: 'failure', checker: 'process', detail: 'exit', at });
    assert.deepEqual(h3.actions.map((a) => a.action), ['restart', 'restart', 'restart', 'restart', 'stop']);
  });

  it('the module gives up (stop) after maxErrors within the window, then stays quiet until re-armed with reset', () => {
    const h = new Harness({ checkers: [proc], maxErrors: { count: 3, windowMs: 60_000 } });
    h.in({ type: 'arm', at: 0, checkers: null, reset: true });
    h.answer('process', true, 1);
    for (const at of [1, 2, 3, 4, 5]) h.in({ type: 'failure', checker: 'process', detail: 'exit', at });
    assert.deepEqual(h.actions.map((a) => a.action), ['restart', 'restart', 'stop']);
    assert.equal(h.actions[2]?.escalated, true);
    assert.match(h.actions[2]?.reason ?? '', /3 errors within 60000 ms: giving up/);
    assert.equal(h.state.gaveUp, true);
    h.in({ type: 'arm', at: 100, checkers: null, reset: true });
    h.in({ type: 'failure', checker: 'process', detail: 'exit', at: 101 });
    assert.deepEqual(h.actions.map((a) => a.action), ['restart', 'restart', 'stop', 'restart']);
  });

  it('only armed checkers run; disarm stops everything', () => {
    const h = new Harness({ checkers: [http, proc], maxErrors: null });
    h.in({ type: 'arm', at: 0, checkers: ['process'], reset: true });
    assert.deepEqual(h.runs.map((r) => r.checker), ['process']);
    h.in({ type: 'failure', checker: 'http', detail: 'x', at: 1 });
    assert.equal(h.actions.length, 0);
    h.in({ type: 'disarm', at: 2 });
    h.in({ type: 'tick', at: 5000 });
    assert.equal(h.runs.length, 1);
    assert.equal(nextCheckDeadline(h.state), null);
  });

  it('property: matches a reference model of thresholds and escalation windows', () => {
    const pol: CheckerPolicy = { name: 'c', intervalMs: 100, timeoutMs: 50, threshold: 2, action: 'restart', escalation: { restarts: 2, windowMs: 5000, then: 'failover' } };
    fc.assert(
      fc.property(fc.array(fc.record({ ok: fc.boolean(), dt: fc.integer({ min: 100, max: 4000 }) }), { maxLength: 150 }), (steps) => {
        const h = new Harness({ checkers: [pol], maxErrors: null });
        h.in({ type: 'arm', at: 0, checkers: null, reset: true });
        h.answer('c', true, 1);
        let t = 0;
        let consecutive = 0;
        let restarts: number[] = [];
        const expected: string[] = [];
        for (const s of steps) {
          t += s.dt;
          h.in({ type: 'tick', at: t });
          h.answer('c', s.ok, t + 1);
          if (s.ok) {
            consecutive = 0;
            continue;
          }
          consecutive++;
          if (consecutive < pol.threshold) continue;
          consecutive = 0;
          restarts = restarts.filter((r) => t + 1 - r < 5000);
          if (restarts.length >= 2) {
            expected.push('failover');
            restarts = [];
          } else {
            expected.push('restart');
            restarts.push(t + 1);
          }
        }
        assert.deepEqual(h.actions.map((a) => a.action), expected);
      }),
    );
  });
});
