// Prober scheduling with an injected clock: fixed-rate ticks, no overlap (skipped ticks counted),
// stop aborts the running probe and drops its result.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prober, probeFor, type ProberClock, type ProbeRun } from '../../runtime/probes/index.js';
import type { ProbeResult } from '../../runtime/probes/index.js';

class FakeClock implements ProberClock {
  t = 1_000;
  private timers = new Map<number, { fn: () => void; ms: number; next: number }>();
  private id = 0;
  now(): number {
    return this.t;
  }
  setInterval(fn: () => void, ms: number): unknown {
    this.id += 1;
    this.timers.set(this.id, { fn, ms, next: this.t + ms });
    return this.id;
  }
  clearInterval(h: unknown): void {
    this.timers.delete(h as number);
  }
  get active(): number {
    return this.timers.size;
  }
  /** Advances time, firing due intervals in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let due: { fn: () => void; ms: number; next: number } | undefined;
      for (const tm of this.timers.values()) if (tm.next <= end && (due === undefined || tm.next < due.next)) due = tm;
      if (due === undefined) break;
      this.t = due.next;
      due.next += due.ms;
      due.fn();
    }
    this.t = end;
  }
}

/** A probe whose runs the test settles by hand. */
function manualProbe(): { fn: (s: AbortSignal) => Promise<ProbeResult>; calls: number; signals: AbortSignal[]; settle(ok: boolean): void } {
  const pending: Array<(r: ProbeResult) => void> = [];
  const m = {
    calls: 0,
    signals: [] as AbortSignal[],
    fn: (s: AbortSignal): Promise<ProbeResult> => {
      m.calls += 1;
      m.signals.push(s);
      return new Promise<ProbeResult>((resolve) => pending.push(resolve));
    },
    settle(ok: boolean): void {
      const r = pending.shift();
      assert.ok(r, 'no probe in flight');
      r({ ok, detail: ok ? 'fine' : 'bad', durationMs: 1 });
    },
  };
  return m;
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

test('runs at start and then every interval', async () => {
  const clock = new FakeClock();
  const p = manualProbe();
  const seen: Array<[boolean, ProbeRun]> = [];
  const prober = new Prober({ probe: p.fn, intervalMs: 100, clock, onResult: (r, run) => seen.push([r.ok, run]) });
  prober.start();
  assert.equal(p.calls, 1);
  p.settle(true);
  await flush();
  assert.deepEqual(seen.map(([ok, run]) => [ok, run.seq, run.startedAt]), [[true, 1, 1000]]);
  clock.advance(100);
  assert.equal(p.calls, 2);
  p.settle(false);
  await flush();
  clock.advance(100);
  p.settle(true);
  await flush();
  assert.deepEqual(seen.map(([ok, run]) => [ok, run.seq, run.startedAt, run.skipped]), [
    [true, 1, 1000, 0],
    [false, 2, 1100, 0],
    [true, 3, 1200, 0],
  ]);
  await prober.stop();
  assert.equal(clock.active, 0);
});

test('immediate: false waits one interval', () => {
  const clock = new FakeClock();
  const p = manualProbe();
  const prober = new Prober({ probe: p.fn, intervalMs: 100, clock, immediate: false, onResult: () => undefined });
  prober.start();
  assert.equal(p.calls, 0);
  clock.advance(99);
  assert.equal(p.calls, 0);
  clock.advance(1);
  assert.equal(p.calls, 1);
  void prober.stop();
});

test('a tick that finds the probe still running is skipped and counted', async () => {
  const clock = new FakeClock();
  const p = manualProbe();
  const skips: number[] = [];
  const runs: ProbeRun[] = [];
  const prober = new Prober({ probe: p.fn, intervalMs: 100, clock, onSkip: (n) => skips.push(n), onResult: (_r, run) => runs.push(run) });
  prober.start();
  clock.advance(350); // ticks at 100, 200, 300 all find run 1 busy
  assert.equal(p.calls, 1);
  assert.equal(prober.busy, true);
  assert.deepEqual(skips, [1, 2, 3]);
  clock.t = 1_370;
  p.settle(true);
  await flush();
  assert.equal(prober.busy, false);
  assert.deepEqual(runs.map((r) => [r.seq, r.startedAt, r.finishedAt, r.skipped]), [[1, 1000, 1370, 3]]);
  clock.advance(30); // tick at 400: a new run
  assert.equal(p.calls, 2);
  assert.equal(prober.skipped, 3);
  p.settle(true);
  await prober.stop();
});

test('stop aborts the running probe and drops its result', async () => {
  const clock = new FakeClock();
  const p = manualProbe();
  let results = 0;
  const prober = new Prober({ probe: p.fn, intervalMs: 100, clock, onResult: () => (results += 1) });
  prober.start();
  assert.equal(prober.running, true);
  const stopped = prober.stop();
  assert.equal(p.signals[0]?.aborted, true);
  p.settle(false);
  await stopped;
  assert.equal(results, 0);
  assert.equal(prober.running, false);
  clock.advance(500);
  assert.equal(p.calls, 1);
});

test('a probe that throws is reported as a failure', async () => {
  const clock = new FakeClock();
  const seen: ProbeResult[] = [];
  const prober = new Prober({
    probe: () => {
      throw new Error('boom');
    },
    intervalMs: 100,
    clock,
    onResult: (r) => seen.push(r),
  });
  prober.start();
  await flush();
  assert.equal(seen.length, 1);
  assert.equal(seen[0]?.ok, false);
  assert.match(seen[0]?.detail ?? '', /probe threw: boom/);
  await prober.stop();
});

test('with the real clock and a real probe (probeFor)', async () => {
  const seen: ProbeResult[] = [];
  const prober = new Prober({
    probe: probeFor({ type: 'interface', interface: 'lo' }, 1000),
    intervalMs: 50,
    onResult: (r) => seen.push(r),
  });
  prober.start();
  await new Promise((r) => setTimeout(r, 220));
  await prober.stop();
  assert.ok(seen.length >= 3, `${seen.length} results`);
  assert.ok(seen.every((r) => r.ok));
});
