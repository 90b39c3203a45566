// The actor of one mirror module on this node: feeds events one at a time to the pure mirror
// machine (runtime/mirror) and executes the effects it returns, in order. Long effects (starting or
// stopping the application) run in the background and report back as events, so heartbeats, peer
// messages and authority deadlines keep being handled meanwhile. Nothing here decides anything.
import type { CompiledPlan } from '../../compiler/plan/types.js';
import { resolveString, type ParamValues } from '../config/params.js';
import type { ModuleLog } from '../logs/index.js';
import { initialData } from '../mirror/generation.js';
import { holdsPrimary, initialState, nextWakeup, transition } from '../mirror/machine.js';
import { authorityUntil } from '../mirror/authority.js';
import { maintainsAuthority } from '../mirror/phases.js';
import type { FenceGuard } from './fence-guard.js';
import type { Effect, MirrorConfig, MirrorContext, MirrorEvent, MirrorState, OperatorCommand, PeerMessage, TransitionRecord } from '../mirror/types.js';
import { addVip, removeVip } from '../vip/index.js';
import type { GroupRegistry } from '../supervisor/index.js';
import { describeExit } from '../supervisor/index.js';
import { AppRunner, killLeftovers, servicesFor } from './app-runner.js';
import { join } from 'node:path';
import { CheckerRunner } from './checker-runner.js';
import type { Clock } from './clock.js';
import { loadModuleState, saveModuleState } from './module-state-store.js';
import type { ModuleReplication } from '../replication/module-replication.js';
import type { Generation } from '../mirror/types.js';

export interface LeaseClient {
  request(module: string, req: { sentAt: number; generation: { id: string; supersedes: readonly string[] }; committed: boolean }): Promise<MirrorEvent>;
  release(module: string, upTo: number): Promise<unknown>;
}

export interface MirrorRunnerDeps {
  plan: CompiledPlan;
  params: ParamValues;
  bundleDir: string;
  /** Where this module's state.json lives. */
  stateDir: string;
  /** This node holds the module's data at install (`source`) or gets it from the peer (`replica`). */
  initialDataKind: 'source' | 'replica';
  self: string;
  peer: string;
  clock: Clock;
  log: ModuleLog;
  env: Record<string, string>;
  config: MirrorConfig;
  heartbeatIntervalMs: number;
  sendToPeer: (message: PeerMessage) => void;
  witness: LeaseClient | null;
  moduleState: (module: string) => string | null;
  registry?: GroupRegistry;
  /** The fencing watchdog that enforces the authority deadline if this agent cannot. */
  fence?: FenceGuard;
  /** The replication layer of the module's directories (null: the module replicates nothing). */
  replication?: (events: ReplicationEvents) => ModuleReplication;
}

export interface ReplicationEvents {
  onInSync: () => void;
  onOutOfSync: (reason: string) => void;
  onResyncDone: (generationId: string) => void;
  onResyncFailed: (reason: string) => void;
}

export interface ModuleStatus {
  module: string;
  version: string;
  mode: 'mirror';
  state: string;
  detail: string | null;
  role: 'primary' | 'secondary' | 'none';
  since: string;
  last: { from: string; to: string; reason: string; at: string } | null;
  data: { generation: string; status: string };
  replication: string;
  /** Replicated directories: state and reintegration progress (null: nothing replicated). */
  sync: ReturnType<ModuleReplication['summary']> | null;
  vip: boolean;
  peerPresent: boolean;
  checkers: ReturnType<CheckerRunner['status']>;
  history: Array<{ from: string; to: string; reason: string; at: string }>;
}

export class MirrorRunner {
  readonly name: string;
  readonly #d: MirrorRunnerDeps;
  readonly #app: AppRunner;
  readonly #checkers: CheckerRunner;
  #state: MirrorState;
  readonly #queue: MirrorEvent[] = [];
  #busy = false;
  #timer: NodeJS.Timeout | null = null;
  #beat: NodeJS.Timeout | null = null;
  #closed = false;
  readonly #replies: Array<(r: { ok: boolean; message: string }) => void> = [];
  readonly #history: TransitionRecord[] = [];
  readonly #repl: ModuleReplication | null;
  /** Why the replication layer cannot serve as primary (the application is then not started). */
  #replBroken: string | null = null;
  /** The generation a running resync (receiving side) brings us to. */
  #resyncTo: Generation | null = null;
  #readiness: AbortController | null = null;
  /** The VIP was just added by an addVip effect (a promotion): the next start need not re-add it. */
  #vipFresh = false;

  constructor(deps: MirrorRunnerDeps) {
    this.#d = deps;
    this.name = deps.plan.module.name;
    const persisted = loadModuleState(deps.stateDir);
    const incarnation = (persisted?.incarnation ?? 0) + 1;
    const data = persisted?.data ?? initialData(deps.initialDataKind);
    saveModuleState(deps.stateDir, { incarnation, data });
    this.#state = initialState(this.#ctx(), { incarnation, data });
    const groupsFile = join(deps.stateDir, 'groups.json');
    const leftovers = killLeftovers(groupsFile, this.name);
    if (leftovers.length) deps.log.event(`killed ${leftovers.length} process group(s) left by a previous run of the agent: ${leftovers.join(', ')}`);
    this.#app = new AppRunner({
      plan: deps.plan, params: deps.params, bundleDir: deps.bundleDir, env: deps.env, log: deps.log, groupsFile,
      ...(deps.registry ? { registry: deps.registry } : {}),
      onDaemonExit: (service, info) => {
        deps.log.event(`service ${service}: process ${describeExit(info)}`);
        this.#checkers.daemonExited(service, describeExit(info));
      },
    });
    this.#repl = deps.replication
      ? deps.replication({
          onInSync: () => this.dispatch({ type: 'replInSync' }),
          onOutOfSync: (reason) => this.dispatch({ type: 'replOutOfSync', reason }),
          onResyncDone: (id) => {
            const to = this.#resyncTo;
            if (to && to.id === id) {
              this.#resyncTo = null;
              this.dispatch({ type: 'resyncDone', generation: to });
            }
          },
          onResyncFailed: (reason) => {
            this.#resyncTo = null;
            this.dispatch({ type: 'resyncFailed', reason });
          },
        })
      : null;
    this.#checkers = new CheckerRunner({
      plan: deps.plan, params: deps.params, bundleDir: deps.bundleDir, env: deps.env, clock: deps.clock, log: deps.log,
      daemonAlive: (s) => this.#app.daemonAlive(s),
      moduleState: deps.moduleState,
      onAction: (a) => this.dispatch({ type: 'checkerAction', checker: a.checker, action: a.action, reason: a.reason }),
    });
  }

  get state(): MirrorState {
    return this.#state;
  }

  async start(): Promise<void> {
    // A previous run may have crashed while primary: its VIP must not stay up behind our back, and
    // its replication mounts (a dead daemon's FUSE mount) must go.
    await this.#vips(false);
    await this.#repl?.init();
    this.#beat = setInterval(() => this.dispatch({ type: 'heartbeatDue' }), this.#d.heartbeatIntervalMs);
    this.dispatch({ type: 'heartbeatDue' });
    if (this.#d.plan.failover.autoStart) this.dispatch({ type: 'command', command: 'start', force: false });
  }

  /** An operator command; resolves with the machine's reply. */
  command(command: OperatorCommand, force: boolean): Promise<{ ok: boolean; message: string }> {
    return new Promise((resolve) => {
      this.#replies.push(resolve);
      this.dispatch({ type: 'command', command, force });
    });
  }

  dispatch(event: MirrorEvent): void {
    if (this.#closed) return;
    if (event.type === 'peerLost') this.#repl?.peerLost();
    this.#queue.push(event);
    if (!this.#busy) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const event = this.#queue.shift()!;
        const { state, effects } = transition(this.#state, event, this.#ctx());
        this.#state = state;
        for (const e of effects) await this.#execute(e);
        this.#replicationLevel(event);
      }
    } finally {
      this.#busy = false;
    }
    this.#arm();
    this.#updateFence();
  }

  /** Tells the watchdog until when this node may run the application as primary, and what to kill. */
  #updateFence(): void {
    const f = this.#d.fence;
    if (!f) return;
    const s = this.#state;
    const until = maintainsAuthority(s.phase) && !s.auth.forced ? authorityUntil(s.auth) : null;
    const vips = this.#d.plan.virtualIps.map((v) => {
      const spec: { address: string; prefix?: number; interface?: string } = { address: resolveString(v.address, this.#d.params) };
      if (v.prefix !== null) spec.prefix = v.prefix;
      if (v.interface !== null) spec.interface = resolveString(v.interface, this.#d.params);
      return spec;
    });
    f.update(this.name, { until: until !== null && Number.isFinite(until) ? until : null, pgids: this.#app.pgids(), vips });
  }

  #arm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#closed) return;
    const at = nextWakeup(this.#state, this.#ctx());
    if (at === null) return;
    this.#timer = setTimeout(() => this.dispatch({ type: 'tick' }), Math.max(0, Math.ceil(at - this.#d.clock.now())));
  }

  async #execute(e: Effect): Promise<void> {
    const log = this.#d.log;
    switch (e.type) {
      case 'log':
        this.#history.push({ from: e.from, to: e.to, reason: e.reason, at: e.at });
        if (this.#history.length > 50) this.#history.shift();
        log.event(`${e.from} -> ${e.to}: ${e.reason}`);
        return;
      case 'warning':
        log.event(`WARNING: ${e.message}`);
        return;
      case 'reply':
        this.#replies.shift()?.({ ok: e.ok, message: e.message });
        return;
      case 'persistData':
        saveModuleState(this.#d.stateDir, { incarnation: this.#state.incarnation, data: e.data });
        return;
      case 'sendToPeer':
        this.#d.sendToPeer(e.message);
        return;
      case 'addVip':
        await this.#vips(true);
        this.#vipFresh = true;
        return;
      case 'removeVip':
        await this.#vips(false);
        return;
      case 'startApp': {
        const role = e.role;
        if (role === 'primary' && this.#replBroken !== null) {
          const reason = `replication layer unavailable: ${this.#replBroken}`;
          log.event(`not starting the application: ${reason}`);
          queueMicrotask(() => this.dispatch({ type: 'appStartFailed', role, reason }));
          return;
        }
        // A local restart keeps the VIP up; make sure it really is (it may have been removed).
        if (role === 'primary' && this.#state.vip && !this.#vipFresh) await this.#vips(true);
        this.#vipFresh = false;
        log.event(`starting the ${role} services`);
        const ready = new AbortController();
        this.#readiness?.abort();
        this.#readiness = ready;
        const timeoutMs = Math.max(1000, ...servicesFor(this.#d.plan, role).map((s) => s.startTimeoutMs));
        void this.#app.start(role).then(async (started) => {
          // Started means ready: the module's tcp/http/command checkers pass once.
          const dead = () => {
            const s = servicesFor(this.#d.plan, role).find((x) => x.run && !this.#app.daemonAlive(x.name));
            return s ? `service ${s.name} exited while starting` : null;
          };
          const err = started ?? (await this.#checkers.waitReady(role, timeoutMs, ready.signal, dead));
          if (ready.signal.aborted) return;
          if (err === null) {
            this.#checkers.arm(role);
            this.dispatch({ type: 'appStarted', role });
          } else {
            log.event(`start failed: ${err}`);
            void this.#app.stop(role, true).then(() => this.dispatch({ type: 'appStartFailed', role, reason: err }));
          }
        });
        return;
      }
      case 'stopApp': {
        const role = e.role;
        this.#readiness?.abort();
        this.#readiness = null;
        this.#checkers.disarm();
        log.event(`stopping the ${role} services${e.force ? ' (forced)' : ''}`);
        void this.#app.stop(role, e.force).then((how) => this.dispatch({ type: 'appStopped', role, reason: how }));
        return;
      }
      case 'requestLease': {
        const w = this.#d.witness;
        const sentAt = e.sentAt;
        if (!w) {
          queueMicrotask(() => this.dispatch({ type: 'leaseNoAnswer', sentAt }));
          return;
        }
        void w.request(this.name, { sentAt, generation: e.generation, committed: e.committed }).then((ev) => this.dispatch(ev));
        return;
      }
      case 'releaseLease':
        void this.#d.witness?.release(this.name, e.upTo);
        return;
      case 'setReplication': {
        if (!this.#repl) return;
        try {
          await this.#repl.setMode(e.mode, e.generation.id);
          this.#replBroken = null;
        } catch (err) {
          this.#replBroken = (err as Error).message;
          log.event(`replication mode ${e.mode} failed: ${this.#replBroken}`);
          if (e.mode === 'receive') queueMicrotask(() => this.dispatch({ type: 'resyncFailed', reason: this.#replBroken ?? 'replication layer unavailable' }));
        }
        return;
      }
      case 'beginResync': {
        const to = e.to;
        if (!this.#repl) {
          // Nothing is replicated: there is nothing to copy.
          queueMicrotask(() => this.dispatch({ type: 'resyncDone', generation: to }));
          return;
        }
        this.#resyncTo = to;
        log.event(`reintegration from the primary: ${e.full ? 'full (checksums of every zone)' : 'changed zones only'}, to generation ${to.id}`);
        this.#repl.beginResync(to.id, e.full);
        return;
      }
      case 'abortResync':
        this.#resyncTo = null;
        this.#repl?.abortResync();
        return;
    }
  }

  /**
   * Level-triggered facts of the replication layer the machine must not miss: "in sync" reported
   * while the machine could not take it yet. A module without replicated directories is in sync as
   * soon as the peer reports SECOND with our data.
   */
  #replicationLevel(event: MirrorEvent): void {
    if (this.#state.replInSync) return;
    const p = this.#state.phase.name;
    if (p !== 'ALONE' && p !== 'PRIM' && p !== 'STARTING_PRIM') return;
    if (this.#repl) {
      const dirs = this.#repl.progress().dirs;
      if (event.type !== 'replInSync' && dirs.length > 0 && dirs.every((x) => x.link === 'insync')) this.dispatch({ type: 'replInSync' });
      return;
    }
    if (event.type === 'peerMessage' && event.message.phase === 'SECOND' && event.message.data.gen.id === this.#state.data.gen.id) {
      this.dispatch({ type: 'replInSync' });
    }
  }

  /** The replication layer (primary side asks, secondary side answers through the peer API). */
  get replication(): ModuleReplication | null {
    return this.#repl;
  }

  async #vips(up: boolean): Promise<void> {
    for (const v of this.#d.plan.virtualIps) {
      const spec: Parameters<typeof addVip>[0] = { address: resolveString(v.address, this.#d.params) };
      if (v.prefix !== null) spec.prefix = v.prefix;
      if (v.interface !== null) spec.interface = resolveString(v.interface, this.#d.params);
      try {
        if (up) {
          const r = await addVip(spec);
          this.#d.log.event(`virtual IP ${spec.address}/${r.prefix} added on ${r.interface}`);
        } else {
          const r = await removeVip(spec);
          if (r.removedFrom.length) this.#d.log.event(`virtual IP ${spec.address} removed from ${r.removedFrom.join(', ')}`);
        }
      } catch (err) {
        this.#d.log.event(`virtual IP ${spec.address}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
  }

  #ctx(): MirrorContext {
    return { now: this.#d.clock.now(), self: this.#d.self, peer: this.#d.peer, config: this.#d.config };
  }

  status(): ModuleStatus {
    const s = this.#state;
    const wall = (t: number) => new Date(Date.now() - (this.#d.clock.now() - t)).toISOString();
    const p = s.phase;
    const role = holdsPrimary(p) ? 'primary' : p.name === 'SECOND' || p.name === 'SYNCING' ? 'secondary' : 'none';
    const rec = (r: TransitionRecord) => ({ from: r.from, to: r.to, reason: r.reason, at: wall(r.at) });
    return {
      module: this.name,
      version: this.#d.plan.module.version,
      mode: 'mirror',
      state: p.name,
      detail: p.name === 'WAIT' ? p.why : null,
      role,
      since: wall(s.since),
      last: s.last ? rec(s.last) : null,
      data: { generation: s.data.gen.id, status: s.data.status },
      replication: s.replication.mode,
      sync: this.#repl ? this.#repl.summary() : null,
      vip: s.vip,
      peerPresent: s.peer.present,
      checkers: this.#checkers.status(),
      history: this.#history.slice(-10).map(rec),
    };
  }

  /** Stops everything this runner started (agent shutdown): the application, VIPs, timers. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#beat) clearInterval(this.#beat);
    this.#checkers.close();
    const role = this.#app.running;
    if (role) await this.#app.stop(role, false);
    if (this.#state.vip) await this.#vips(false);
    await this.#repl?.close();
    await this.#d.witness?.release(this.name, this.#d.clock.now());
  }
}
