// A deterministic simulation of two mirror nodes and a witness, for scenario and property tests.
// Each node runs the real pure machine (runtime/mirror/machine.ts) and the real heartbeat reducer;
// the witness runs the real witness reducer. Around them the simulator plays the actor: a message
// channel (latency, loss, partitions), a supervisor (start/stop latencies, failures), a replication
// layer with ground-truth data (every acknowledged write must survive), freezes (SIGSTOP of a whole
// host: nothing runs, the clock goes on) and crashes.
//
// Invariants checked after every single transition (when `checkInvariants`):
//  1. never two valid primaries: no two nodes in a phase where the primary application may run
//     (STARTING_PRIM, PRIM, ALONE, STOPPING_PRIM) whose authority (lease or grant, converted to global
//     time) is valid at the same instant; forced nodes count as always valid;
//  2. a node that just processed an event and claims the primary role holds authority (a frozen
//     primary that resumes steps down first); a node stopping without authority is killing the app;
//  3. a node enters STARTING_PRIM only with every acknowledged write on its disk (no stale promotion);
//  4. without `prim --force`, no node is ever DIVERGED.
import { authorityUntil } from '../../runtime/mirror/authority.js';
import { DEFAULT_MIRROR_CONFIG } from '../../runtime/mirror/config.js';
import { initialData } from '../../runtime/mirror/generation.js';
import { initialState, transition } from '../../runtime/mirror/machine.js';
import { appMayRunAsPrimary, holdsPrimary } from '../../runtime/mirror/phases.js';
import type {
  AppRole,
  DataState,
  Effect,
  Generation,
  MirrorConfig,
  MirrorContext,
  MirrorEvent,
  MirrorState,
  PeerMessage,
  ReplicationMode,
} from '../../runtime/mirror/types.js';
import {
  initialWitnessState,
  restartedWitnessState,
  witnessReducer,
  type WitnessConfig,
  type WitnessReply,
  type WitnessState,
} from '../../runtime/mirror/witness-lease.js';
import { heartbeatReducer, initialHeartbeatState, type HeartbeatOutput, type HeartbeatState } from '../../runtime/heartbeat/tracker.js';
import { DEFAULT_HEARTBEAT_TIMINGS, type HeartbeatTimings } from '../../runtime/heartbeat/timings.js';
import { rng } from '../workload/rng.js';

export type NodeId = 'a' | 'b';
export type Link = 'ab' | 'aw' | 'bw';
type Endpoint = NodeId | 'w';

export interface SimOptions {
  readonly seed: number;
  readonly witness: boolean;
  readonly mirror: Partial<MirrorConfig>;
  readonly heartbeat: Partial<HeartbeatTimings>;
  readonly witnessConfig: WitnessConfig;
  readonly offsets: { readonly a: number; readonly b: number; readonly w: number };
  readonly stepMs: number;
  readonly latency: { readonly min: number; readonly max: number };
  readonly lossRate: number;
  readonly appStartMs: number;
  readonly appStopMs: number;
  readonly resyncMs: number;
  readonly replTimeoutMs: number;
  readonly writeEveryMs: number;
  readonly checkInvariants: boolean;
  readonly data: { readonly a: DataState; readonly b: DataState };
  readonly autoStart: boolean;
}

export const DEFAULT_SIM_OPTIONS: SimOptions = {
  seed: 1,
  witness: true,
  mirror: { defaultPrimary: 'node-a', startTimeoutMs: 2000, stopTimeoutMs: 2000, killTimeoutMs: 500, peerWaitMs: 1500 },
  heartbeat: { maxHoldDownMs: 4000 },
  witnessConfig: { leaseMs: 1500 },
  offsets: { a: 0, b: 0, w: 0 },
  stepMs: 10,
  latency: { min: 1, max: 3 },
  lossRate: 0,
  appStartMs: 40,
  appStopMs: 30,
  resyncMs: 60,
  replTimeoutMs: 200,
  writeEveryMs: 20,
  checkInvariants: true,
  data: { a: initialData('source'), b: initialData('replica') },
  autoStart: true,
};

interface Packet {
  readonly id: number;
  readonly from: Endpoint;
  readonly to: Endpoint;
  readonly deliverAt: number;
  readonly body:
    | { readonly kind: 'peer'; readonly message: PeerMessage }
    | { readonly kind: 'leaseReq'; readonly sentAt: number; readonly generation: Generation; readonly committed: boolean }
    | { readonly kind: 'leaseRel'; readonly upTo: number }
    | { readonly kind: 'leaseReply'; readonly reply: WitnessReply };
}

interface SupervisorJob {
  readonly due: number;
  readonly role: AppRole;
  readonly kind: 'start' | 'stop';
  readonly fail: boolean;
}

export interface SimNode {
  readonly id: NodeId;
  readonly name: string;
  readonly peerId: NodeId;
  alive: boolean;
  frozen: boolean;
  offset: number;
  incarnation: number;
  machine: MirrorState | null;
  hb: HeartbeatState;
  persisted: DataState;
  /** Ground truth: ids of the writes on this node's disk. */
  applied: Set<number>;
  app: { primary: boolean; secondary: boolean };
  jobs: SupervisorJob[];
  vip: boolean;
  repl: ReplicationMode;
  resyncDue: number | null;
  /** The generation named in the last beginResync (a replication layer may report that one). */
  resyncTarget: Generation | null;
  blockedSince: number | null;
  outOfSyncSent: boolean;
  inSyncSent: boolean;
  /** Primary side: the secondary caught up under this generation; writes must reach it from now on. */
  syncedGen: string | null;
  lastHeartbeat: number;
  lastWrite: number;
  failStarts: number;
  log: string[];
  effects: Effect[];
}

export class SimFailure extends Error {}


export class Sim {
  t = 0;
  readonly opts: SimOptions;
  readonly config: MirrorConfig;
  readonly hbTimings: HeartbeatTimings;
  readonly nodes: Record<NodeId, SimNode>;
  witnessAlive: boolean;
  witness: WitnessState;
  witnessPersisted: Generation | null = null;
  readonly cut = new Set<Link>();
  lossRate: number;
  latencyMax: number;
  inflight: Packet[] = [];
  readonly acked = new Set<number>();
  writeSeq = 0;
  packetSeq = 0;
  forcedUsed = false;
  /** Recent trace lines, for failure reports. */
  readonly trace: string[] = [];
  /** Every logged transition. */
  readonly history: Array<{ readonly t: number; readonly node: NodeId; readonly from: string; readonly to: string; readonly reason: string }> = [];
  transitions = 0;
  /** Called after every transition (tests collect reachable states with it). */
  observer: ((node: SimNode, before: MirrorState, event: MirrorEvent, after: MirrorState, ctx: MirrorContext) => void) | null = null;
  private readonly random: () => number;
  private readonly hbReduce: ReturnType<typeof heartbeatReducer>;
  private readonly witnessReduce: ReturnType<typeof witnessReducer>;

  constructor(options: Partial<SimOptions> = {}) {
    this.opts = { ...DEFAULT_SIM_OPTIONS, ...options };
    this.config = { ...DEFAULT_MIRROR_CONFIG, ...DEFAULT_SIM_OPTIONS.mirror, ...this.opts.mirror };
    this.hbTimings = { ...DEFAULT_HEARTBEAT_TIMINGS, ...DEFAULT_SIM_OPTIONS.heartbeat, ...this.opts.heartbeat };
    this.random = rng(this.opts.seed);
    this.hbReduce = heartbeatReducer(this.hbTimings);
    this.witnessReduce = witnessReducer(this.opts.witnessConfig);
    this.lossRate = this.opts.lossRate;
    this.latencyMax = this.opts.latency.max;
    this.witnessAlive = this.opts.witness;
    this.witness = initialWitnessState();
    this.nodes = { a: this.makeNode('a'), b: this.makeNode('b') };
    for (const n of [this.nodes.a, this.nodes.b]) this.boot(n);
  }

  private makeNode(id: NodeId): SimNode {
    return {
      id,
      name: `node-${id}`,
      peerId: id === 'a' ? 'b' : 'a',
      alive: true,
      frozen: false,
      offset: this.opts.offsets[id],
      incarnation: 0,
      machine: null,
      hb: initialHeartbeatState(['net0']),
      persisted: this.opts.data[id],
      applied: new Set(),
      app: { primary: false, secondary: false },
      jobs: [],
      vip: false,
      repl: 'off',
      resyncDue: null,
      resyncTarget: null,
      blockedSince: null,
      outOfSyncSent: false,
      inSyncSent: false,
      syncedGen: null,
      lastHeartbeat: -1e9,
      lastWrite: -1e9,
      failStarts: 0,
      log: [],
      effects: [],
    };
  }

  ctx(n: SimNode): MirrorContext {
    return { now: this.t + n.offset, self: n.name, peer: this.nodes[n.peerId].name, config: this.config };
  }

  private boot(n: SimNode): void {
    n.incarnation += 1;
    n.alive = true;
    n.frozen = false;
    n.hb = initialHeartbeatState(['net0']);
    n.machine = initialState(this.ctx(n), { incarnation: n.incarnation, data: n.persisted });
    n.jobs = [];
    n.app = { primary: false, secondary: false };
    n.vip = false;
    n.repl = 'off';
    n.resyncDue = null;
    n.blockedSince = null;
    n.syncedGen = null;
    n.lastHeartbeat = -1e9;
    if (this.opts.autoStart) this.dispatch(n, { type: 'command', command: 'start', force: false });
  }

  // ------------------------------------------------------------------------------------------
  // Faults and operator actions

  crash(id: NodeId): void {
    const n = this.nodes[id];
    if (!n.alive) return;
    n.alive = false;
    n.frozen = false;
    n.machine = null;
    n.app = { primary: false, secondary: false };
    n.vip = false;
    n.jobs = [];
    n.repl = 'off';
    n.resyncDue = null;
    this.inflight = this.inflight.filter((p) => p.to !== id);
    this.note(`${id} CRASH`);
  }

  restart(id: NodeId): void {
    const n = this.nodes[id];
    if (n.alive) return;
    this.note(`${id} RESTART`);
    this.boot(n);
  }

  freeze(id: NodeId): void {
    const n = this.nodes[id];
    if (n.alive) n.frozen = true;
    this.note(`${id} FREEZE`);
  }

  thaw(id: NodeId): void {
    const n = this.nodes[id];
    if (!n.alive || !n.frozen) return;
    n.frozen = false;
    this.note(`${id} THAW`);
    // The actor wakes up: its timers fire first (heartbeat timeouts, the machine's tick); queued
    // messages follow at the next step.
    this.heartbeatInput(n, { type: 'tick', at: this.t + n.offset });
    this.dispatch(n, { type: 'tick' });
  }

  crashWitness(): void {
    this.witnessAlive = false;
    this.note('witness CRASH');
  }

  restartWitness(): void {
    if (!this.opts.witness || this.witnessAlive) return;
    this.witnessAlive = true;
    this.witness = restartedWitnessState(this.witnessPersisted, this.t + this.opts.offsets.w, this.opts.witnessConfig);
    this.note('witness RESTART');
  }

  command(id: NodeId, command: Extract<MirrorEvent, { type: 'command' }>['command'], force = false): Effect[] {
    if (force) this.forcedUsed = true;
    return this.dispatch(this.nodes[id], { type: 'command', command, force });
  }

  /** Inject an event as the node's actor would (checker action, replication report...). */
  inject(id: NodeId, event: MirrorEvent): Effect[] {
    return this.dispatch(this.nodes[id], event);
  }

  phase(id: NodeId): string {
    const m = this.nodes[id].machine;
    return m === null ? 'DOWN' : m.phase.name;
  }

  // ------------------------------------------------------------------------------------------
  // Time

  run(ms: number): void {
    const end = this.t + ms;
    while (this.t < end) this.step();
  }

  /** Run until `pred` holds (checked after each step) or `ms` elapse; returns whether it held. */
  runUntil(pred: () => boolean, ms: number): boolean {
    const end = this.t + ms;
    while (this.t < end) {
      this.step();
      if (pred()) return true;
    }
    return pred();
  }

  step(): void {
    this.t += this.opts.stepMs;
    this.deliver();
    for (const n of [this.nodes.a, this.nodes.b]) this.runSupervisor(n);
    for (const n of [this.nodes.a, this.nodes.b]) this.runReplication(n);
    for (const n of [this.nodes.a, this.nodes.b]) {
      if (!n.alive || n.frozen) continue;
      this.heartbeatInput(n, { type: 'tick', at: this.t + n.offset });
      this.dispatch(n, { type: 'tick' });
      if (this.t - n.lastHeartbeat >= this.hbTimings.intervalMs) {
        n.lastHeartbeat = this.t;
        this.dispatch(n, { type: 'heartbeatDue' });
      }
    }
    if (this.opts.checkInvariants) this.checkGlobal('step');
  }

  private linkCut(a: Endpoint, b: Endpoint): boolean {
    if (a === b) return false;
    const key = [a, b].sort().join('') as string;
    const link: Link = key === 'ab' ? 'ab' : key === 'aw' ? 'aw' : 'bw';
    return this.cut.has(link);
  }

  private send(from: Endpoint, to: Endpoint, body: Packet['body']): void {
    if (this.random() < this.lossRate) return;
    const { min } = this.opts.latency;
    const lat = min + Math.floor(this.random() * Math.max(1, this.latencyMax - min + 1));
    this.inflight.push({ id: ++this.packetSeq, from, to, deliverAt: this.t + lat, body });
  }

  private deliver(): void {
    const due = this.inflight.filter((p) => p.deliverAt <= this.t).sort((x, y) => x.deliverAt - y.deliverAt || x.id - y.id);
    if (due.length === 0) return;
    const keep = this.inflight.filter((p) => p.deliverAt > this.t);
    for (const p of due) {
      if (this.linkCut(p.from, p.to)) continue;
      if (p.to === 'w') {
        this.witnessReceive(p);
        continue;
      }
      const n = this.nodes[p.to];
      if (!n.alive) continue;
      if (n.frozen) {
        keep.push(p);
        continue;
      }
      this.nodeReceive(n, p);
    }
    this.inflight = [...keep, ...this.inflight.filter((p) => !due.includes(p) && !keep.includes(p))];
  }

  private witnessReceive(p: Packet): void {
    if (!this.witnessAlive) return;
    const at = this.t + this.opts.offsets.w;
    const from = p.from as NodeId;
    const node = this.nodes[from].name;
    if (p.body.kind === 'leaseReq') {
      const r = this.witnessReduce(this.witness, { type: 'request', node, sentAt: p.body.sentAt, generation: p.body.generation, committed: p.body.committed, at });
      this.witness = r.state;
      if (r.persist) this.witnessPersisted = r.state.latest;
      if (r.output !== null) this.send('w', from, { kind: 'leaseReply', reply: r.output });
    } else if (p.body.kind === 'leaseRel') {
      this.witness = this.witnessReduce(this.witness, { type: 'release', node, upTo: p.body.upTo, at }).state;
    }
  }

  private nodeReceive(n: SimNode, p: Packet): void {
    const body = p.body;
    if (body.kind === 'peer') {
      this.heartbeatInput(n, { type: 'beat', network: 'net0', at: this.t + n.offset });
      this.dispatch(n, { type: 'peerMessage', message: body.message });
    } else if (body.kind === 'leaseReply') {
      const r = body.reply;
      if (r.type === 'granted') this.dispatch(n, { type: 'leaseGranted', sentAt: r.sentAt, durationMs: r.durationMs, genId: r.genId });
      else this.dispatch(n, { type: 'leaseDenied', sentAt: r.sentAt, reason: r.reason, holder: r.holder, latest: r.latest, retryAfterMs: r.retryAfterMs });
    }
  }

  private heartbeatInput(n: SimNode, input: Parameters<ReturnType<typeof heartbeatReducer>>[1]): void {
    const r = this.hbReduce(n.hb, input);
    n.hb = r.state;
    for (const o of r.output) this.heartbeatOutput(n, o);
  }

  private heartbeatOutput(n: SimNode, o: HeartbeatOutput): void {
    if (o.type === 'peerUp') this.dispatch(n, { type: 'peerUp' });
    else if (o.type === 'peerLost') this.dispatch(n, { type: 'peerLost' });
    else if (o.type === 'degraded') this.dispatch(n, { type: 'peerDegraded', down: o.down });
  }

  private runSupervisor(n: SimNode): void {
    if (!n.alive || n.frozen) return;
    while (n.jobs.length > 0 && (n.jobs[0]?.due ?? Infinity) <= this.t) {
      const job = n.jobs.shift();
      if (job === undefined) break;
      if (job.kind === 'start') {
        if (job.fail) {
          n.app[job.role] = false;
          this.dispatch(n, { type: 'appStartFailed', role: job.role, reason: 'exit code 1' });
        } else {
          this.dispatch(n, { type: 'appStarted', role: job.role });
        }
      } else {
        n.app[job.role] = false;
        this.dispatch(n, { type: 'appStopped', role: job.role, reason: 'stopped' });
      }
      if (!n.alive || n.frozen) return;
    }
  }

  private attached(n: SimNode): boolean {
    const peer = this.nodes[n.peerId];
    return peer.alive && !peer.frozen && !this.cut.has('ab') && peer.repl === 'receive';
  }

  /** The replication layer's belief that the secondary holds everything we have under our generation. */
  private peerSynced(n: SimNode): boolean {
    const peer = this.nodes[n.peerId];
    const pm = peer.machine;
    const nm = n.machine;
    if (pm === null || nm === null || pm.phase.name !== 'SECOND' || pm.data.gen.id !== nm.data.gen.id) return false;
    for (const w of n.applied) if (!peer.applied.has(w)) return false;
    return true;
  }

  private runReplication(n: SimNode): void {
    if (!n.alive || n.frozen || n.machine === null) return;
    const peer = this.nodes[n.peerId];
    // Resync completion on a secondary.
    if (n.resyncDue !== null && this.t >= n.resyncDue) {
      n.resyncDue = null;
      const src = peer.machine;
      if (peer.alive && !peer.frozen && !this.cut.has('ab') && src !== null && (peer.repl === 'sync' || peer.repl === 'alone' || peer.repl === 'hold')) {
        n.applied = new Set(peer.applied);
        // Handshake that ends a resync: from now on the source's writes must reach this node.
        peer.syncedGen = src.data.gen.id;
        // Some replication layers name the generation the resync was asked for, possibly older than
        // the one the primary has moved to meanwhile: the machine must not take it for up to date.
        const reported = n.resyncTarget !== null && this.random() < 0.5 ? n.resyncTarget : src.data.gen;
        this.dispatch(n, { type: 'resyncDone', generation: reported });
      } else {
        this.dispatch(n, { type: 'resyncFailed', reason: 'source unreachable' });
      }
      if (!n.alive || n.frozen || n.machine === null) return;
    }
    // The application writes (the primary application is running and writes are allowed).
    if (!n.app.primary || (n.repl !== 'sync' && n.repl !== 'alone') || this.t - n.lastWrite < this.opts.writeEveryMs) {
      if (n.repl === 'hold' && n.app.primary) n.blockedSince ??= this.t;
      return;
    }
    const attached = this.attached(n);
    if (n.syncedGen === null && this.peerSynced(n)) n.syncedGen = n.machine.data.gen.id;
    const mustSync = n.repl === 'sync' || n.syncedGen === n.machine.data.gen.id;
    if (mustSync && !attached) {
      n.blockedSince ??= this.t;
      if (this.t - n.blockedSince >= this.opts.replTimeoutMs && !n.outOfSyncSent) {
        n.outOfSyncSent = true;
        n.syncedGen = null;
        this.dispatch(n, { type: 'replOutOfSync', reason: 'secondary does not acknowledge' });
      }
      return;
    }
    const id = ++this.writeSeq;
    n.applied.add(id);
    if (attached) peer.applied.add(id);
    this.acked.add(id);
    n.lastWrite = this.t;
    n.blockedSince = null;
    if (n.repl === 'alone' && attached && !n.inSyncSent && this.peerSynced(n)) {
      n.inSyncSent = true;
      this.dispatch(n, { type: 'replInSync' });
    }
  }

  // ------------------------------------------------------------------------------------------
  // The actor: run one event through the machine and execute the effects

  dispatch(n: SimNode, event: MirrorEvent): Effect[] {
    if (!n.alive || n.frozen || n.machine === null) return [];
    const before = n.machine;
    const ctx = this.ctx(n);
    const r = transition(before, event, ctx);
    n.machine = r.state;
    this.transitions++;
    this.observer?.(n, before, event, r.state, ctx);
    for (const e of r.effects) {
      if (e.type === 'log') {
        this.note(`${n.id} ${e.from}->${e.to}: ${e.reason}`);
        this.history.push({ t: this.t, node: n.id, from: e.from, to: e.to, reason: e.reason });
      }
    }
    n.effects.push(...r.effects);
    if (n.effects.length > 400) n.effects.splice(0, n.effects.length - 200);
    for (const e of r.effects) this.apply(n, e);
    if (this.opts.checkInvariants) this.checkAfter(n, before, event);
    return [...r.effects];
  }

  private apply(n: SimNode, e: Effect): void {
    switch (e.type) {
      case 'sendToPeer':
        this.send(n.id, n.peerId, { kind: 'peer', message: e.message });
        return;
      case 'requestLease':
        if (this.opts.witness) this.send(n.id, 'w', { kind: 'leaseReq', sentAt: e.sentAt, generation: e.generation, committed: e.committed });
        return;
      case 'releaseLease':
        if (this.opts.witness) this.send(n.id, 'w', { kind: 'leaseRel', upTo: e.upTo });
        return;
      case 'startApp': {
        n.app[e.role] = true;
        const fail = e.role === 'primary' && n.failStarts > 0;
        if (fail) n.failStarts -= 1;
        this.schedule(n, { role: e.role, kind: 'start', fail }, this.opts.appStartMs);
        return;
      }
      case 'stopApp':
        this.schedule(n, { role: e.role, kind: 'stop', fail: false }, e.force ? 5 : this.opts.appStopMs);
        return;
      case 'addVip':
        n.vip = true;
        return;
      case 'removeVip':
        n.vip = false;
        return;
      case 'persistData':
        n.persisted = e.data;
        return;
      case 'beginResync':
        n.resyncDue = this.t + this.opts.resyncMs;
        n.resyncTarget = e.to;
        return;
      case 'abortResync':
        n.resyncDue = null;
        return;
      case 'setReplication':
        if (n.syncedGen !== e.generation.id || (e.mode !== 'alone' && e.mode !== 'sync')) n.syncedGen = null;
        n.repl = e.mode;
        n.blockedSince = null;
        n.outOfSyncSent = false;
        n.inSyncSent = false;
        return;
      case 'log':
      case 'warning':
      case 'reply':
        n.log.push(`${this.t} ${e.type}: ${e.type === 'log' ? `${e.from}->${e.to} ${e.reason}` : e.message}`);
        if (n.log.length > 300) n.log.splice(0, 100);
        return;
    }
  }

  private schedule(n: SimNode, job: Omit<SupervisorJob, 'due'>, latency: number): void {
    const last = n.jobs.length === 0 ? this.t : Math.max(this.t, n.jobs[n.jobs.length - 1]?.due ?? this.t);
    n.jobs.push({ ...job, due: last + latency });
  }

  // ------------------------------------------------------------------------------------------
  // Invariants

  note(line: string): void {
    this.trace.push(`${String(this.t).padStart(7)} ${line}`);
    if (this.trace.length > 120) this.trace.splice(0, this.trace.length - 80);
  }

  /** Global time until which node `n`'s primary claim is valid (−Infinity when it has none). */
  claimUntil(n: SimNode): number {
    const m = n.machine;
    if (!n.alive || m === null || !appMayRunAsPrimary(m.phase)) return Number.NEGATIVE_INFINITY;
    if (m.auth.forced) return Number.POSITIVE_INFINITY;
    return authorityUntil(m.auth) - n.offset;
  }

  private fail(what: string): never {
    const tail = this.trace.slice(-40).join('\n');
    throw new SimFailure(`${what} at t=${this.t}\n--- trace ---\n${tail}\n--- states ---\n${this.describe()}`);
  }

  describe(): string {
    return (['a', 'b'] as const)
      .map((id) => {
        const n = this.nodes[id];
        const m = n.machine;
        if (m === null) return `${id}: DOWN`;
        return `${id}: ${m.phase.name}${n.frozen ? ' (frozen)' : ''} gen=${m.data.gen.id}/${m.data.status} auth=${authorityUntil(m.auth) - n.offset} grants=${m.grants.until === null ? '-' : m.grants.until - n.offset} repl=${n.repl} app=${JSON.stringify(n.app)} vip=${n.vip}`;
      })
      .join('\n');
  }

  checkGlobal(where: string): void {
    const a = this.claimUntil(this.nodes.a);
    const b = this.claimUntil(this.nodes.b);
    if (a > this.t && b > this.t) this.fail(`TWO PRIMARIES (${where}): a valid until ${a}, b valid until ${b}`);
    if (!this.forcedUsed) {
      for (const n of [this.nodes.a, this.nodes.b]) {
        if (n.machine?.phase.name === 'DIVERGED') this.fail(`${n.id} DIVERGED without any forced command`);
      }
    }
  }

  private checkAfter(n: SimNode, before: MirrorState, event: MirrorEvent): void {
    const m = n.machine;
    if (m === null) return;
    const now = this.t + n.offset;
    const where = `${n.id} after ${event.type}`;
    this.checkGlobal(where);
    if (holdsPrimary(m.phase) && !m.auth.forced && !(authorityUntil(m.auth) > now)) {
      this.fail(`${where}: claims the primary role (${m.phase.name}) without authority`);
    }
    if (m.phase.name === 'STOPPING_PRIM' && m.phase.next !== 'RESTART' && !m.phase.killed && !m.auth.forced && !(authorityUntil(m.auth) > now)) {
      this.fail(`${where}: stopping without authority and not killing`);
    }
    if (m.phase.name === 'STARTING_PRIM' && before.phase.name !== 'STARTING_PRIM' && !m.auth.forced) {
      for (const w of this.acked) {
        if (!n.applied.has(w)) this.fail(`${where}: STARTING_PRIM without acknowledged write #${w} (stale promotion)`);
      }
    }
  }

  /** Nodes currently PRIM or ALONE. */
  primaries(): NodeId[] {
    return (['a', 'b'] as const).filter((id) => {
      const p = this.nodes[id].machine?.phase.name;
      return p === 'PRIM' || p === 'ALONE';
    });
  }
}
