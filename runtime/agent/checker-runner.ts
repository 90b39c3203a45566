// Runs a module's checkers on this node: the escalation reducer (runtime/checkers) decides when to
// check and what to do; this runs the probes it asks for, feeds back results and process exits,
// and hands escalated actions (restart / failover / stop) to the module's state machine.
import { join } from 'node:path';
import type { CompiledPlan, PlanChecker } from '../../compiler/plan/types.js';
import { escalationReducer, initialEscalationState, nextCheckDeadline, type CheckerPolicy, type EscalatedAction, type EscalationInput, type EscalationState, type ModuleCheckPolicy } from '../checkers/escalation.js';
import { resolveInt, resolveString, type ParamValues } from '../config/params.js';
import type { LogSink } from '../logs/index.js';
import { probeFor, type ProbeSpec } from '../probes/index.js';
import { findVip } from '../vip/index.js';
import type { Clock } from './clock.js';

export type CheckRole = 'primary' | 'secondary' | 'every';

export interface CheckerRunnerDeps {
  plan: CompiledPlan;
  params: ParamValues;
  bundleDir: string;
  env: Record<string, string>;
  clock: Clock;
  log: LogSink;
  daemonAlive: (service: string) => boolean;
  moduleState: (module: string) => string | null;
  onAction: (a: EscalatedAction) => void;
}

interface Armed {
  when: string;
  service?: string;
  /** Implicit checker of a virtual IP's presence. */
  vip?: string;
}

export class CheckerRunner {
  readonly #d: CheckerRunnerDeps;
  readonly #reduce: (s: EscalationState, i: EscalationInput) => ReturnType<ReturnType<typeof escalationReducer>>;
  readonly #checkers: Map<string, { plan: PlanChecker | null; meta: Armed }>;
  #state: EscalationState;
  #timer: NodeJS.Timeout | null = null;
  readonly #inflight = new Map<number, AbortController>();
  #closed = false;

  constructor(deps: CheckerRunnerDeps) {
    this.#d = deps;
    const mirror = deps.plan.module.mode === 'mirror';
    const policies: CheckerPolicy[] = [];
    this.#checkers = new Map();
    for (const c of deps.plan.checkers) {
      policies.push({ name: c.name, intervalMs: c.intervalMs, timeoutMs: c.timeoutMs, threshold: c.threshold, action: c.action, escalation: c.escalation });
      this.#checkers.set(c.name, { plan: c, meta: c.type === 'process' ? { when: c.when, service: c.service } : { when: c.when } });
    }
    // A `run` process nobody watches explicitly still gets restarted, with the default escalation.
    for (const s of deps.plan.services) {
      if (!s.run || deps.plan.checkers.some((c) => c.type === 'process' && c.service === s.name)) continue;
      const name = `process:${s.name}`;
      policies.push({ name, intervalMs: 1000, timeoutMs: 500, threshold: 1, action: 'restart', escalation: { restarts: 3, windowMs: 300_000, then: mirror ? 'failover' : 'stop' } });
      this.#checkers.set(name, { plan: null, meta: { when: s.role, service: s.name } });
    }
    // Each virtual IP is watched on the node that holds it: a VIP removed behind our back (an
    // operator, a network manager) is put back by a local restart, escalating like any checker.
    for (const v of deps.plan.virtualIps) {
      const address = resolveString(v.address, deps.params);
      const name = `vip:${address}`;
      // Tolerant timings: `ip` may be slow on a saturated machine, and a missing VIP is rare.
      policies.push({ name, intervalMs: 2000, timeoutMs: 1500, threshold: 3, action: 'restart', escalation: { restarts: 3, windowMs: 300_000, then: mirror ? 'failover' : 'stop' } });
      this.#checkers.set(name, { plan: null, meta: { when: mirror ? 'primary' : 'every', vip: address } });
    }
    const policy: ModuleCheckPolicy = { checkers: policies, maxErrors: deps.plan.failover.maxErrors };
    this.#reduce = escalationReducer(policy);
    this.#state = initialEscalationState(policy);
  }

  /** Starts the checkers that apply to a node running the module in `role`. */
  arm(role: CheckRole): void {
    const names = [...this.#checkers].filter(([, c]) => appliesTo(c.meta.when, role)).map(([n]) => n);
    this.#step({ type: 'arm', at: this.#d.clock.now(), checkers: names, reset: false });
  }

  /**
   * Readiness after a start: polls (every 50 ms) the tcp, http and command checkers that apply to
   * `role` until each has passed once. Resolves null when ready, or why not (timeout, aborted).
   */
  async waitReady(role: CheckRole, timeoutMs: number, signal: AbortSignal, dead: () => string | null = () => null): Promise<string | null> {
    const pending = [...this.#checkers.values()]
      .map((c) => c.plan)
      .filter((c): c is Exclude<PlanChecker, { type: 'process' } | { type: 'module' } | { type: 'ping' } | { type: 'interface' }> =>
        c !== null && (c.type === 'tcp' || c.type === 'http' || c.type === 'command') && appliesTo(c.when, role));
    const end = this.#d.clock.now() + timeoutMs;
    let last = '';
    for (const c of pending) {
      for (;;) {
        if (signal.aborted) return 'aborted';
        const gone = dead();
        if (gone !== null) return gone;
        const left = end - this.#d.clock.now();
        if (left <= 0) return `not ready after ${timeoutMs} ms: checker ${c.name}: ${last}`;
        const r = await probeFor(this.#probeSpec(c), Math.min(c.timeoutMs, left))(signal);
        if (r.ok) break;
        last = r.detail;
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    return null;
  }

  disarm(): void {
    for (const ac of this.#inflight.values()) ac.abort();
    this.#inflight.clear();
    this.#step({ type: 'disarm', at: this.#d.clock.now() });
  }

  /** A supervised `run` process of `service` exited on its own. */
  daemonExited(service: string, detail: string): void {
    for (const [name, c] of this.#checkers) {
      if (c.meta.service === service && this.#state.armed.includes(name)) this.#step({ type: 'failure', checker: name, detail, at: this.#d.clock.now() });
    }
  }

  status(): Array<{ name: string; armed: boolean; consecutive: number; lastFailure: string | null }> {
    return [...this.#checkers.keys()].map((name) => {
      const b = this.#state.books[name];
      return { name, armed: this.#state.armed.includes(name), consecutive: b?.consecutive ?? 0, lastFailure: b?.lastFailure ?? null };
    });
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    for (const ac of this.#inflight.values()) ac.abort();
  }

  #step(input: EscalationInput): void {
    if (this.#closed) return;
    const { state, output } = this.#reduce(this.#state, input);
    this.#state = state;
    for (const r of output.run) this.#run(r.checker, r.runId, r.deadline);
    for (const a of output.actions) {
      this.#d.log.event(`checker ${a.checker}: ${a.action}${a.escalated ? ' (escalated)' : ''} — ${a.reason}`);
      this.#d.onAction(a);
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const at = nextCheckDeadline(this.#state);
    if (at === null || this.#closed) return;
    this.#timer = setTimeout(() => this.#step({ type: 'tick', at: this.#d.clock.now() }), Math.max(0, at - this.#d.clock.now()));
  }

  #run(checker: string, runId: number, deadline: number): void {
    const c = this.#checkers.get(checker);
    if (!c) return;
    const done = (ok: boolean, detail: string): void => {
      this.#inflight.delete(runId);
      this.#step({ type: 'result', checker, runId, ok, detail, at: this.#d.clock.now() });
    };
    if (c.meta.vip !== undefined) {
      const address = c.meta.vip;
      findVip(address).then(
        (found) => done(found !== null, found !== null ? `${address} is on ${found.ifname}` : `${address} is not configured on any interface`),
        (e: unknown) => done(false, `cannot list addresses: ${String(e)}`),
      );
      return;
    }
    if (c.plan === null || c.plan.type === 'process') {
      const svc = c.meta.service!;
      const alive = this.#d.daemonAlive(svc);
      queueMicrotask(() => done(alive, alive ? 'running' : `process of ${svc} is not running`));
      return;
    }
    if (c.plan.type === 'module') {
      const st = this.#d.moduleState(c.plan.module);
      const ok = st !== null && (c.plan.states as string[]).includes(st);
      queueMicrotask(() => done(ok, `module ${c.plan && c.plan.type === 'module' ? c.plan.module : ''} is ${st ?? 'not installed'}`));
      return;
    }
    const spec = this.#probeSpec(c.plan);
    const ac = new AbortController();
    this.#inflight.set(runId, ac);
    const timeoutMs = Math.max(1, deadline - this.#d.clock.now());
    probeFor(spec, timeoutMs)(ac.signal).then(
      (r) => { if (!ac.signal.aborted) done(r.ok, r.detail); },
      (e: unknown) => { if (!ac.signal.aborted) done(false, String(e)); },
    );
  }

  #probeSpec(c: Exclude<PlanChecker, { type: 'process' } | { type: 'module' }>): ProbeSpec {
    const p = this.#d.params;
    switch (c.type) {
      case 'tcp': return { type: 'tcp', host: resolveString(c.host, p), port: resolveInt(c.port, p) };
      case 'http': return { type: 'http', url: resolveString(c.url, p), method: c.method, expectStatus: c.expectStatus, expectBody: c.expectBody };
      case 'command': return { type: 'command', path: join(this.#d.bundleDir, c.script.path), env: { ...this.#d.env } };
      case 'ping': return { type: 'ping', addresses: c.addresses.map((a) => resolveString(a, p)) };
      case 'interface': return { type: 'interface', interface: resolveString(c.interface, p) };
    }
  }
}

export function appliesTo(when: string, role: CheckRole): boolean {
  if (role === 'every') return when === 'every';
  return when === role || when === 'both';
}
