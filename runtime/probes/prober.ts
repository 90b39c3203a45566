// Runs one probe periodically, on a fixed-rate tick, never two at once: a tick that finds the
// previous probe still running is skipped and counted. The clock and timers are injectable so the
// scheduling is unit-tested without waiting.
import { errText, type ProbeResult } from './result.js';

/** A probe bound to its target; the signal fires when the Prober is stopped. Should not throw
 * (a rejection is reported as a failed result). */
export type ProbeFn = (signal: AbortSignal) => Promise<ProbeResult>;

export interface ProberClock {
  /** Wall-clock ms (Date.now()). */
  now(): number;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export const systemClock: ProberClock = {
  now: () => Date.now(),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};

export interface ProbeRun {
  /** 1, 2, … per probe actually run. */
  seq: number;
  startedAt: number;
  finishedAt: number;
  /** Ticks skipped so far because a probe was still running. */
  skipped: number;
}

export interface ProberOptions {
  probe: ProbeFn;
  intervalMs: number;
  /** Must not throw (a throw is re-raised as an uncaught exception). */
  onResult: (result: ProbeResult, run: ProbeRun) => void;
  /** Called on each skipped tick with the total skipped. */
  onSkip?: (skipped: number) => void;
  /** Run a probe at start() rather than one interval later. Default true. */
  immediate?: boolean;
  clock?: ProberClock;
}

export class Prober {
  private readonly clock: ProberClock;
  private handle: unknown = null;
  private inFlight: Promise<void> | null = null;
  private controller: AbortController | null = null;
  private seq = 0;
  private skippedCount = 0;

  constructor(private readonly opts: ProberOptions) {
    if (!(opts.intervalMs > 0)) throw new Error(`Prober: intervalMs must be > 0 (got ${opts.intervalMs})`);
    this.clock = opts.clock ?? systemClock;
  }

  get running(): boolean {
    return this.handle !== null;
  }
  /** A probe is in progress. */
  get busy(): boolean {
    return this.inFlight !== null;
  }
  get skipped(): number {
    return this.skippedCount;
  }
  get runs(): number {
    return this.seq;
  }

  start(): void {
    if (this.handle !== null) return;
    this.handle = this.clock.setInterval(() => this.tick(), this.opts.intervalMs);
    if (this.opts.immediate ?? true) this.tick();
  }

  /** Stops the ticks and aborts a running probe; its result is not reported. Resolves once it has
   * settled. */
  stop(): Promise<void> {
    if (this.handle !== null) this.clock.clearInterval(this.handle);
    this.handle = null;
    this.controller?.abort();
    return this.inFlight ?? Promise.resolve();
  }

  private tick(): void {
    if (this.handle === null) return;
    if (this.inFlight !== null) {
      this.skippedCount += 1;
      this.opts.onSkip?.(this.skippedCount);
      return;
    }
    const seq = ++this.seq;
    const startedAt = this.clock.now();
    const controller = new AbortController();
    this.controller = controller;
    let p: Promise<ProbeResult>;
    try {
      p = this.opts.probe(controller.signal);
    } catch (err) {
      p = Promise.reject(err);
    }
    this.inFlight = p
      .catch((err: unknown): ProbeResult => ({ ok: false, detail: `probe threw: ${errText(err)}`, durationMs: this.clock.now() - startedAt }))
      .then((result) => {
        this.inFlight = null;
        this.controller = null;
        if (controller.signal.aborted) return; // stopped meanwhile
        try {
          this.opts.onResult(result, { seq, startedAt, finishedAt: this.clock.now(), skipped: this.skippedCount });
        } catch (err) {
          // A bug in the callback: surface it (uncaught) rather than leave a rejected promise here.
          process.nextTick(() => {
            throw err;
          });
        }
      });
  }
}
