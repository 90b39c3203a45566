// The hamod agent of one node: loads its credentials and the cluster configuration, links to the
// peer (heartbeats, mutual-TLS API), runs one actor per installed mirror module, keeps the
// configuration in step with the peer, and serves the local control API (Unix socket, owner only).
import { mkdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import type { ClusterConfig, ModuleInstance } from '../config/cluster-config.js';
import { peerOf, withChange } from '../config/cluster-config.js';
import { resolveString, scriptEnv, secretValues } from '../config/params.js';
import { DEFAULT_HEARTBEAT_TIMINGS, type HeartbeatTimings } from '../heartbeat/timings.js';
import { ModuleLog, readLog } from '../logs/index.js';
import { DEFAULT_MIRROR_CONFIG } from '../mirror/config.js';
import type { MirrorConfig, PeerMessage } from '../mirror/types.js';
import { loadNodeCredentials, type NodeCredentials } from '../pki/index.js';
import { GroupRegistry } from '../supervisor/index.js';
import { PeerClient, PeerServer } from '../transport/index.js';
import { WitnessClient } from '../witness/client.js';
import { monotonicClock, type Clock } from './clock.js';
import { loadConfig, saveConfig } from './config-store.js';
import { ControlServer } from './control-server.js';
import { acceptBundle, checkInstance, materialize } from './install.js';
import { layout, type Layout } from './layout.js';
import { MirrorRunner, type ModuleStatus, type ReplicationEvents } from './mirror-runner.js';
import type { PlanReplication } from '../../compiler/plan/types.js';
import { PeerLink } from './peer-link.js';
import { FenceGuard } from './fence-guard.js';
import { readFileSync } from 'node:fs';
import { ModuleReplication, type AttachRequest, type ReplicationProgress } from '../replication/module-replication.js';
import { replBinary } from '../replication/daemon.js';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../compiler/validate/schema-file.js';

export interface AgentOptions {
  dataDir: string;
  clock?: Clock;
  timings?: HeartbeatTimings;
  mirror?: Partial<MirrorConfig>;
  log?: (line: string) => void;
  /** Nice value of the agent (default -10 as root; null leaves it). Scripts still run at 0. */
  priority?: number | null;
}

export interface NodeStatus {
  node: string;
  cluster: string;
  configVersion: number;
  peer: { name: string; liveness: string; configVersion: number; degraded: readonly string[] } | null;
  modules: ModuleStatus[];
}

export class Agent {
  readonly L: Layout;
  readonly #o: AgentOptions;
  readonly #clock: Clock;
  readonly #timings: HeartbeatTimings;
  readonly #registry = new GroupRegistry();
  #creds!: NodeCredentials;
  #config!: ClusterConfig;
  #link: PeerLink | null = null;
  /** One client per network (the peer's addresses, in order); see #peerClient. */
  #peerClients: PeerClient[] = [];
  /** One peer API server per network (this node's addresses). */
  #servers: PeerServer[] = [];
  #control: ControlServer | null = null;
  #witness: WitnessClient | null = null;
  readonly #runners = new Map<string, MirrorRunner>();
  readonly #logs = new Map<string, ModuleLog>();
  #syncing = false;
  #fence: FenceGuard | null = null;

  constructor(o: AgentOptions) {
    this.#o = o;
    this.L = layout(o.dataDir);
    this.#clock = o.clock ?? monotonicClock;
    this.#timings = o.timings ?? DEFAULT_HEARTBEAT_TIMINGS;
  }

  get name(): string {
    return this.#creds.nodeName;
  }

  get config(): ClusterConfig {
    return this.#config;
  }

  #log(line: string): void {
    (this.#o.log ?? ((l: string) => process.stderr.write(`${new Date().toISOString()} ${l}\n`)))(line);
  }

  async start(): Promise<void> {
    // Heartbeats and fencing must keep their timing when the application saturates the CPUs.
    if (process.getuid?.() === 0 && this.#o.priority !== null) {
      try { setPriority(this.#o.priority ?? -10); } catch (e) { this.#log(`cannot raise the agent's priority: ${(e as Error).message}`); }
    }
    this.#creds = await loadNodeCredentials(this.L.dataDir);
    this.#config = loadConfig(this.L.config);
    const self = this.#config.nodes.find((n) => n.name === this.#creds.nodeName);
    if (!self) throw new Error(`node ${this.#creds.nodeName} is not in the cluster configuration`);
    const peer = peerOf(this.#config, self.name);
    mkdirSync(this.L.logs, { recursive: true });
    this.#fence = new FenceGuard((l) => this.#log(l));
    // The peer API on every network, like the heartbeats: losing one network loses no function.
    // The first address is required; another one that cannot be bound (not configured on this
    // host yet) is skipped with a warning: the other networks keep working.
    for (const [i, address] of self.addresses.entries()) {
      const server = new PeerServer({ credentials: this.#creds, knownNodes: (n) => this.#config.nodes.some((x) => x.name === n) });
      this.#routes(server);
      try {
        await server.listen(this.#config.peerPort, address);
      } catch (e) {
        if (i === 0) throw e;
        this.#log(`WARNING: peer API not listening on ${address}:${this.#config.peerPort} (network ${i}): ${(e as Error).message}`);
        continue;
      }
      this.#servers.push(server);
    }
    if (this.#config.witnesses.length) {
      this.#witness = new WitnessClient({ credentials: this.#creds, witnesses: this.#config.witnesses.map((w) => ({ address: w.address, port: w.port })), timeoutMs: 250 });
    }
    if (peer) {
      this.#peerClients = peer.addresses.map((host) => new PeerClient({ credentials: this.#creds, host, port: this.#config.peerPort, expectedNodeName: peer.name, timeoutMs: 2000 }));
      this.#link = new PeerLink({
        credentials: this.#creds,
        clusterId: this.#config.cluster.id,
        self: { name: self.name, addresses: self.addresses },
        peer: { name: peer.name, addresses: peer.addresses },
        port: this.#config.heartbeatPort,
        timings: this.#timings,
        clock: this.#clock,
        nodeBeat: () => ({ cfg: this.#config.version }),
        onLiveness: (o) => {
          if (o.type === 'peerUp') this.#log(`peer ${peer.name} is up`);
          if (o.type === 'peerLost') this.#log(`peer ${peer.name} lost (silent ${Math.round(o.silentMs)} ms on every network)`);
          if (o.type === 'networkDown' || o.type === 'networkUp') this.#log(`heartbeat network ${o.network} ${o.type === 'networkDown' ? 'down' : 'up'}`);
          for (const r of this.#runners.values()) {
            if (o.type === 'peerUp') r.dispatch({ type: 'peerUp' });
            else if (o.type === 'peerLost') r.dispatch({ type: 'peerLost' });
            else if (o.type === 'degraded') r.dispatch({ type: 'peerDegraded', down: o.down });
          }
        },
        onModuleMessage: (module, message) => this.#runners.get(module)?.dispatch({ type: 'peerMessage', message: message as PeerMessage }),
        onNodeBeat: (b) => { if (b.cfg > this.#config.version) void this.#syncConfig(); },
        sendLarge: (module, message) => void this.#peerClient?.call('/v1/mirror', { module, message }).catch(() => undefined),
        log: (l) => this.#log(l),
      });
      await this.#link.start();
    }
    for (const m of this.#config.modules) await this.#startModule(m, 'source');
    this.#control = new ControlServer(this.L.socket, this);
    await this.#control.listen();
    this.#log(`agent ${self.name} started (cluster ${this.#config.cluster.name}, configuration v${this.#config.version})`);
  }

  async #startModule(m: ModuleInstance, kind: 'source' | 'replica'): Promise<void> {
    const self = this.#creds.nodeName;
    const peer = peerOf(this.#config, self);
    const { plan, bundleDir } = await materialize(this.L, m);
    if (plan.module.mode !== 'mirror') {
      this.#log(`module ${m.name}: ${plan.module.mode} mode is not supported by this agent yet; not started`);
      return;
    }
    if (!peer) {
      this.#log(`module ${m.name}: a mirror needs two nodes; not started`);
      return;
    }
    const log = new ModuleLog(this.L.logs, m.name);
    log.redact(secretValues(plan, m.params));
    this.#logs.set(m.name, log);
    const config: MirrorConfig = { ...DEFAULT_MIRROR_CONFIG, ...this.#o.mirror };
    const runner = new MirrorRunner({
      plan, params: m.params, bundleDir, stateDir: this.L.moduleDir(m.name), initialDataKind: kind,
      self, peer: peer.name, clock: this.#clock, log,
      env: scriptEnv(plan, m.params, { HAMOD_NODE: self, HAMOD_PEER: peer.name, HAMOD_CLUSTER: this.#config.cluster.name }),
      config: { ...config, defaultPrimary: config.defaultPrimary ?? (plan.failover.defaultPrimary !== null ? resolveString(plan.failover.defaultPrimary, m.params) || null : null) },
      heartbeatIntervalMs: this.#timings.intervalMs,
      sendToPeer: (msg) => this.#link?.sendModule(m.name, msg),
      witness: this.#witness,
      moduleState: (name) => this.#runners.get(name)?.state.phase.name ?? null,
      registry: this.#registry,
      ...(this.#fence ? { fence: this.#fence } : {}),
      ...(plan.replication ? { replication: (ev) => this.#replicationFor(m.name, plan.replication!, plan.replication!.directories.map((d) => resolveString(d.path, m.params)), log, ev) } : {}),
    });
    this.#runners.set(m.name, runner);
    await runner.start();
    // The link may have reported the peer before this module existed.
    if (this.#link?.liveness.liveness === 'up') runner.dispatch({ type: 'peerUp' });
  }

  #replicationFor(module: string, plan: PlanReplication, dirs: string[], log: ModuleLog, ev: ReplicationEvents): ModuleReplication {
    const self = this.#config.nodes.find((n) => n.name === this.#creds.nodeName)!;
    const peer = peerOf(this.#config, self.name)!;
    return new ModuleReplication({
      module, plan, dirs, stateDir: this.L.moduleDir(module),
      bin: (() => {
        try {
          return replBinary();
        } catch (e) {
          // The module then refuses to start as primary, saying why (the daemon cannot be run).
          log.event(`WARNING: the native replication component is not available: ${(e as Error).message}`);
          return join(PACKAGE_ROOT, 'native/hamod-repl/build/hamod-repl');
        }
      })(),
      secret: this.#creds.secret,
      listenAddresses: self.addresses,
      peerAddress: () => peer.addresses[this.#network()] ?? peer.addresses[0]!,
      peer: {
        attach: async (name, req) => (await this.#peerClient!.call('/v1/replication/attach', { module: name, req }, { timeoutMs: 15_000 })) as { ok: boolean; reason?: string },
        progress: async (name) => (await this.#peerClient!.call('/v1/replication/progress', { module: name }, { timeoutMs: 3000 })) as ReplicationProgress,
      },
      log: (l) => log.event(l),
      ...ev,
    });
  }

  // ---- the peer API (mutual TLS)
  #routes(s: PeerServer): void {
    s.route('POST', '/v1/status', async () => this.localStatus());
    s.route('POST', '/v1/command', async (body) => {
      const b = body as { module: string; command: string; force?: boolean };
      return this.localCommand(b.module, b.command, b.force === true);
    });
    s.route('POST', '/v1/config', async () => ({ config: this.#config }));
    s.route('POST', '/v1/bundle', async (body) => {
      const digest = String((body as { digest?: unknown }).digest ?? '');
      if (!this.#config.modules.some((m) => m.bundleDigest === digest)) return { error: 'unknown bundle' };
      return { data: readFileSync(this.L.bundle(digest)).toString('base64') };
    });
    s.route('POST', '/v1/logs', async (body) => {
      const b = body as { module?: unknown; lines?: unknown };
      const module = String(b.module ?? '');
      if (!/^[a-z][a-z0-9-]{0,62}$/.test(module)) return { lines: [] };
      return { lines: await readLog(this.L.logs, module, { lines: Math.min(Number(b.lines) || 100, 100_000) }) };
    });
    s.route('POST', '/v1/replication/attach', async (body) => {
      const b = body as { module?: unknown; req?: AttachRequest };
      const r = this.#runners.get(String(b.module ?? ''))?.replication;
      const req = b.req;
      if (!r) return { ok: false, reason: 'module not replicated here' };
      if (!req || typeof req.attachId !== 'string' || !/^[0-9a-f]{16}$/.test(req.attachId) || !Array.isArray(req.endpoints)) return { ok: false, reason: 'bad request' };
      return r.attachFromPeer({ attachId: req.attachId, full: req.full === true, endpoints: req.endpoints.map((e) => ({ index: Number(e.index), port: Number(e.port) })) });
    });
    s.route('POST', '/v1/replication/bandwidth', async (body) => {
      const b = body as { module?: unknown; bytesPerSec?: unknown };
      const bps = b.bytesPerSec === null ? null : Number(b.bytesPerSec);
      if (bps !== null && (!Number.isInteger(bps) || bps <= 0)) return { ok: false, message: 'bad bandwidth' };
      return this.setResyncBandwidth(String(b.module ?? ''), bps, false);
    });
    s.route('POST', '/v1/replication/progress', async (body) => {
      const r = this.#runners.get(String((body as { module?: unknown }).module ?? ''))?.replication;
      return r ? r.progress() : { role: 'none', dirs: [] };
    });
    s.route('POST', '/v1/mirror', async (body) => {
      const b = body as { module: string; message: PeerMessage };
      this.#runners.get(b.module)?.dispatch({ type: 'peerMessage', message: b.message });
      return { ok: true };
    });
  }

  /** Fetch a newer configuration (and its bundles) from the peer. */
  async #syncConfig(): Promise<void> {
    if (this.#syncing || !this.#peerClient) return;
    this.#syncing = true;
    try {
      const { config } = (await this.#peerClient.call('/v1/config', {})) as { config: ClusterConfig };
      if (config.version <= this.#config.version || config.cluster.id !== this.#config.cluster.id) return;
      for (const m of config.modules) {
        if (this.#config.modules.some((x) => x.bundleDigest === m.bundleDigest)) continue;
        const r = (await this.#peerClient.call('/v1/bundle', { digest: m.bundleDigest })) as { data?: string };
        if (!r.data) throw new Error(`peer has no bundle ${m.bundleDigest}`);
        const got = acceptBundle(this.L, Buffer.from(r.data, 'base64'));
        if (got.digest !== m.bundleDigest) throw new Error(`bundle digest mismatch for module ${m.name}`);
      }
      const before = new Set(this.#config.modules.map((m) => m.name));
      saveConfig(this.L.config, config);
      this.#config = config;
      this.#log(`configuration v${config.version} received from the peer`);
      for (const m of config.modules) if (!before.has(m.name)) await this.#startModule(m, 'replica');
    } catch (e) {
      this.#log(`configuration sync failed: ${(e as Error).message}`);
    } finally {
      this.#syncing = false;
    }
  }

  // ---- used by the control API
  localStatus(): NodeStatus {
    const peer = peerOf(this.#config, this.#creds.nodeName);
    return {
      node: this.#creds.nodeName,
      cluster: this.#config.cluster.name,
      configVersion: this.#config.version,
      peer: peer ? { name: peer.name, liveness: this.#link?.liveness.liveness ?? 'unknown', configVersion: this.#link?.peerConfigVersion ?? 0, degraded: this.#link?.liveness.degraded ?? [] } : null,
      modules: [...this.#runners.values()].map((r) => r.status()),
    };
  }

  async peerStatus(): Promise<NodeStatus | { node: string; error: string } | null> {
    const peer = peerOf(this.#config, this.#creds.nodeName);
    if (!peer || !this.#peerClient) return null;
    try {
      return (await this.#peerClient.call('/v1/status', {}, { timeoutMs: 1000 })) as NodeStatus;
    } catch (e) {
      return { node: peer.name, error: (e as Error).message };
    }
  }

  async localCommand(module: string, command: string, force: boolean): Promise<{ ok: boolean; message: string }> {
    const r = this.#runners.get(module);
    if (!r) return { ok: false, message: `module ${module} is not installed on ${this.name}` };
    if (!['start', 'stop', 'forcestop', 'restart', 'swap', 'prim', 'second'].includes(command)) return { ok: false, message: `unknown command ${command}` };
    return r.command(command as Parameters<MirrorRunner['command']>[0], force);
  }

  /** Reintegration bandwidth cap of a module (bytes/s, null: the module's setting), here and on the peer. */
  async setResyncBandwidth(module: string, bytesPerSec: number | null, alsoPeer: boolean): Promise<{ ok: boolean; message: string }> {
    const r = this.#runners.get(module)?.replication;
    if (!r) return { ok: false, message: `module ${module} replicates nothing on ${this.name}` };
    r.setBandwidth(bytesPerSec);
    const what = bytesPerSec === null ? "the module's setting" : `${(bytesPerSec / 1048576).toFixed(1)} MiB/s`;
    if (!alsoPeer || !this.#peerClient) return { ok: true, message: `reintegration bandwidth of ${module}: ${what} on ${this.name}` };
    try {
      await this.#peerClient.call('/v1/replication/bandwidth', { module, bytesPerSec }, { timeoutMs: 3000 });
      return { ok: true, message: `reintegration bandwidth of ${module}: ${what} (both nodes; applies from the next reintegration)` };
    } catch (e) {
      return { ok: true, message: `reintegration bandwidth of ${module}: ${what} on ${this.name} only (peer: ${(e as Error).message})` };
    }
  }

  async peerCommand(module: string, command: string, force: boolean): Promise<{ ok: boolean; message: string }> {
    if (!this.#peerClient) return { ok: false, message: 'no peer node' };
    return (await this.#peerClient.call('/v1/command', { module, command, force }, { timeoutMs: 10_000 })) as { ok: boolean; message: string };
  }

  async addModule(bundle: Buffer, given: Record<string, string>): Promise<{ name: string; version: string; configVersion: number }> {
    const { digest, plan } = acceptBundle(this.L, bundle);
    const params = checkInstance(plan, given);
    if (this.#config.modules.some((m) => m.name === plan.module.name)) throw new Error(`module ${plan.module.name} is already installed (upgrades come with the catalog)`);
    const inst: ModuleInstance = { name: plan.module.name, version: plan.module.version, bundleDigest: digest, params };
    this.#config = withChange(this.#config, (c) => { c.modules.push(inst); });
    saveConfig(this.L.config, this.#config);
    this.#log(`module ${inst.name} ${inst.version} installed (configuration v${this.#config.version})`);
    await this.#startModule(inst, 'source');
    return { name: inst.name, version: inst.version, configVersion: this.#config.version };
  }

  async peerLogs(module: string, lines: number): Promise<{ lines: string[] }> {
    if (!this.#peerClient) throw new Error('no peer node');
    return (await this.#peerClient.call('/v1/logs', { module, lines }, { timeoutMs: 5000 })) as { lines: string[] };
  }

  /**
   * The network to reach the peer on: the first one whose heartbeats are up (the first network when
   * none is, or before the first beat). Calls are never retried on another network (a command could
   * run twice); a call started on a network that then fails fails like any lost call.
   */
  #network(): number {
    const nets = this.#link?.liveness.networks;
    if (!nets) return 0;
    const n = this.#peerClients.findIndex((_, i) => nets[String(i)]?.up === true);
    return n < 0 ? 0 : n;
  }

  /** The peer API client of the current network (null without a peer). */
  get #peerClient(): PeerClient | null {
    return this.#peerClients[this.#network()] ?? null;
  }

  logDir(): string {
    return this.L.logs;
  }

  async stop(): Promise<void> {
    await this.#control?.close();
    await Promise.all([...this.#runners.values()].map((r) => r.close()));
    this.#link?.close();
    await Promise.all(this.#servers.map((x) => x.close()));
    for (const c of this.#peerClients) c.close();
    await Promise.all([...this.#logs.values()].map((l) => l.close()));
    await this.#registry.killAll({});
    this.#fence?.close();
  }
}
