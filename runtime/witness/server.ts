// `hamod witness`: the service that grants the primary lease of each mirror module to one node at a
// time. It wraps the pure reducer of runtime/mirror/witness-lease.ts (one state per module name) in
// the peer API (mutual TLS: only certificates of the cluster CA are admitted, the requesting node
// is the CN of its verified certificate, and only the nodes `allowedNodes()` lists may call), and
// makes the reducer's guarantees hold across restarts:
// - the registry of latest generations is written durably before any reply that depends on it
//   (`step.persist`; after a failed write, before the next reply of any kind);
// - on start it is read back and every module starts from `restartedWitnessState`: no lease is
//   granted for a lease duration after a start (for the longer of this run's and the previous
//   run's durations), since a lease granted before the restart may still run. The witness cannot
//   tell a first start from a restart (its data directory may have been replaced), so it always
//   waits.
// Requests are handled one at a time, in arrival order (the reducer steps and the writes are
// serialised). Every change of a module's lease (grant to a new holder, release, expiry, a new
// registered generation, a new reason to deny a node) is logged as one line.
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { restartedWitnessState, witnessReducer, type WitnessConfig, type WitnessInput, type WitnessReply, type WitnessState, type WitnessStep } from '../mirror/witness-lease.js';
import type { Generation, Millis, NodeName } from '../mirror/types.js';
import { PeerError, PeerServer, type PeerIdentity, type TlsCredentials } from '../transport/index.js';
import { BodyError, parseLeaseRequest, parseReleaseRequest, WITNESS_PATHS, type LeaseRequestBody, type ReleaseReply, type ReleaseRequestBody, type WitnessStatus } from './protocol.js';
import { loadRegistry, saveRegistry } from './store.js';

export const DEFAULT_LEASE_MS = 1500;
/** Modules a witness keeps track of at most (each is a few hundred bytes of memory and of file). */
export const DEFAULT_MAX_MODULES = 1024;

export interface WitnessServerOptions {
  /** The witness's own credentials (certificate issued by the cluster CA, e.g. node name "witness"). */
  credentials: TlsCredentials;
  /** Where the registry (witness-state.json) lives; created 0700 if missing. */
  dataDir: string;
  /** Node names that may ask for leases; called on every request (a removed node is shut out at once). */
  allowedNodes: () => readonly string[];
  /** Lease duration granted; default 1500 ms. */
  leaseMs?: Millis;
  /** Monotonic milliseconds; default performance.now(). */
  clock?: () => Millis;
  /** One line per lease change and per notable event; default silent. */
  log?: (line: string) => void;
  /** Modules tracked at most; default 1024 (requests for more are refused with 409). */
  maxModules?: number;
}

interface ModuleEntry {
  state: WitnessState;
  /** Fires when the holder's lease lapses, to log the expiry. */
  timer: NodeJS.Timeout | undefined;
  /** Last denial logged per node (reason and holder), so that repeated identical denials log once. */
  readonly denials: Map<NodeName, string>;
}

export class WitnessServer {
  readonly #credentials: TlsCredentials;
  readonly #dataDir: string;
  readonly #allowedNodes: () => readonly string[];
  readonly #leaseMs: Millis;
  readonly #clock: () => Millis;
  readonly #log: (line: string) => void;
  readonly #maxModules: number;
  readonly #reduce: (state: WitnessState, input: WitnessInput) => WitnessStep;
  readonly #peer: PeerServer;
  readonly #modules = new Map<string, ModuleEntry>();
  /** Serialises reducer steps and writes. */
  #queue: Promise<unknown> = Promise.resolve();
  /** Hold after start: no lease before this time, for modules the registry does not list as well. */
  #hold: { readonly at: Millis; readonly config: WitnessConfig } | null = null;
  /** The last write failed: the file may differ from memory, write it before the next reply. */
  #dirty = false;
  #state: 'new' | 'starting' | 'listening' | 'closed' = 'new';

  constructor(options: WitnessServerOptions) {
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    if (!Number.isFinite(leaseMs) || leaseMs <= 0) throw new RangeError(`leaseMs must be a positive number of milliseconds, got ${leaseMs}`);
    this.#credentials = options.credentials;
    this.#dataDir = options.dataDir;
    this.#allowedNodes = options.allowedNodes;
    this.#leaseMs = leaseMs;
    this.#clock = options.clock ?? (() => performance.now());
    this.#log = options.log ?? (() => undefined);
    this.#maxModules = options.maxModules ?? DEFAULT_MAX_MODULES;
    this.#reduce = witnessReducer({ leaseMs });
    this.#peer = new PeerServer({
      credentials: options.credentials,
      knownNodes: (name) => this.#allowedNodes().includes(name),
      log: (level, message, fields) => this.#log(`${level}: ${message}${fields !== undefined && Object.keys(fields).length > 0 ? ' ' + JSON.stringify(fields) : ''}`),
    });
    this.#peer
      .route('POST', WITNESS_PATHS.lease, (body, peer) => this.#lease(parseBody(parseLeaseRequest, body), peer))
      .route('POST', WITNESS_PATHS.release, (body, peer) => this.#release(parseBody(parseReleaseRequest, body), peer))
      .route('POST', WITNESS_PATHS.status, () => this.status())
      .route('GET', WITNESS_PATHS.status, () => this.status());
  }

  /** Loads the registry, starts the hold, then listens (port 0 picks a free port: see the result). */
  async listen(port: number, host: string): Promise<AddressInfo> {
    if (this.#state !== 'new') throw new Error(`the witness server was already ${this.#state === 'closed' ? 'closed' : 'started'}`);
    this.#state = 'starting';
    try {
      await mkdir(this.#dataDir, { recursive: true, mode: 0o700 });
      const registry = await loadRegistry(this.#dataDir);
      const at = this.#clock();
      const config: WitnessConfig = { leaseMs: Math.max(this.#leaseMs, registry.leaseMs ?? 0) };
      this.#hold = { at, config };
      for (const [module, latest] of registry.latest) this.#modules.set(module, newEntry(restartedWitnessState(latest, at, config)));
      const address = await this.#peer.listen(port, host);
      this.#state = 'listening';
      this.#log(
        `witness ${this.#credentials.nodeName} listening on ${address.address}:${address.port}: lease ${this.#leaseMs} ms, ` +
          `${registry.latest.size} module(s) in the registry, no lease granted for the first ${config.leaseMs} ms`,
      );
      return address;
    } catch (err) {
      this.#state = 'closed';
      await this.#peer.close();
      throw err;
    }
  }

  address(): AddressInfo | null {
    return this.#peer.address();
  }

  /** Stops listening, cuts open connections, and waits for a write in progress to finish. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    await this.#peer.close();
    for (const entry of this.#modules.values()) clearTimeout(entry.timer);
    await this.#queue;
  }

  /** Holders and registered generations, by module name. */
  status(): WitnessStatus {
    const now = this.#clock();
    const holdUntil = this.#hold === null ? null : this.#hold.at + this.#hold.config.leaseMs;
    const modules = [...this.#modules]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([module, e]) => {
        const h = e.state.holder;
        return { module, holder: h !== null && h.until > now ? { node: h.node, remainingMs: h.until - now } : null, latest: e.state.latest };
      });
    return { witness: this.#credentials.nodeName, leaseMs: this.#leaseMs, holdRemainingMs: holdUntil !== null && holdUntil > now ? holdUntil - now : 0, modules };
  }

  #serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #lease(req: LeaseRequestBody, peer: PeerIdentity): Promise<WitnessReply> {
    const node = peer.nodeName;
    return this.#serial(async () => {
      const entry = this.#entry(req.module);
      const at = this.#clock();
      this.#noteExpiry(req.module, entry, at);
      const before = entry.state;
      const step = this.#reduce(before, { type: 'request', node, sentAt: req.sentAt, generation: req.generation, committed: req.committed, at });
      const reply = step.output;
      if (reply === null) throw new Error('the witness reducer gave no answer to a request');
      if (step.persist || this.#dirty) await this.#persist(req.module, step.state.latest);
      entry.state = step.state;
      this.#logReply(req.module, entry, before, step, reply, req.generation.id);
      if (reply.type === 'granted') this.#armExpiry(req.module, entry);
      return reply;
    });
  }

  #release(req: ReleaseRequestBody, peer: PeerIdentity): Promise<ReleaseReply> {
    const { module, upTo } = req;
    const node = peer.nodeName;
    return this.#serial(() => {
      const entry = this.#modules.get(module);
      if (entry === undefined) return { module, released: false };
      const at = this.#clock();
      this.#noteExpiry(module, entry, at);
      const before = entry.state.holder;
      entry.state = this.#reduce(entry.state, { type: 'release', node, upTo, at }).state;
      const held = before !== null && before.node === node;
      const released = held && entry.state.holder === null;
      if (held && !released) this.#log(`lease ${module}: release by ${node} ignored: the lease was renewed for a request sent after it`);
      if (released) {
        clearTimeout(entry.timer);
        entry.timer = undefined;
        entry.denials.clear();
        this.#log(`lease ${module}: released by ${node}`);
      }
      return { module, released };
    });
  }

  #entry(module: string): ModuleEntry {
    let entry = this.#modules.get(module);
    if (entry !== undefined) return entry;
    if (this.#modules.size >= this.#maxModules) throw new PeerError(409, 'TOO_MANY_MODULES', `this witness already tracks ${this.#maxModules} modules`);
    const hold = this.#hold;
    if (hold === null) throw new PeerError(503, 'NOT_STARTED', 'the witness is starting');
    entry = newEntry(restartedWitnessState(null, hold.at, hold.config));
    this.#modules.set(module, entry);
    return entry;
  }

  /** Writes the registry with `module`'s latest replaced by `latest`; 503 when it cannot. */
  async #persist(module: string, latest: Generation | null): Promise<void> {
    const registry = new Map<string, Generation>();
    for (const [m, e] of this.#modules) if (e.state.latest !== null) registry.set(m, e.state.latest);
    if (latest !== null) registry.set(module, latest);
    else registry.delete(module);
    try {
      await saveRegistry(this.#dataDir, this.#leaseMs, registry);
      this.#dirty = false;
    } catch (err) {
      this.#dirty = true;
      this.#log(`error: lease ${module}: cannot write the registry of generations (${err instanceof Error ? err.message : String(err)}): answering 503`);
      throw new PeerError(503, 'PERSIST_FAILED', 'the witness cannot record generations durably');
    }
  }

  /** Drops a holder whose lease lapsed by `at` (what the reducer would do) and logs the expiry. */
  #noteExpiry(module: string, entry: ModuleEntry, at: Millis): void {
    const h = entry.state.holder;
    if (h === null || h.until > at) return;
    entry.state = { ...entry.state, holder: null };
    clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.denials.clear();
    this.#log(`lease ${module}: expired (held by ${h.node})`);
  }

  #armExpiry(module: string, entry: ModuleEntry): void {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    const h = entry.state.holder;
    if (h === null || this.#state === 'closed') return;
    const delay = Math.max(1, Math.ceil(h.until - this.#clock()) + 1);
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      void this.#serial(() => {
        if (this.#state === 'closed' || entry.state.holder !== h) return;
        this.#noteExpiry(module, entry, this.#clock());
        if (entry.state.holder === h) this.#armExpiry(module, entry); // timer ran early by the injected clock
      });
    }, delay);
    entry.timer.unref();
  }

  #logReply(module: string, entry: ModuleEntry, before: WitnessState, step: WitnessStep, reply: WitnessReply, genId: string): void {
    const node = reply.node;
    if (reply.type === 'granted') {
      const registered = step.persist ? `, registered generation ${reply.genId}` : '';
      if (before.holder?.node !== node) {
        entry.denials.clear();
        this.#log(`lease ${module}: granted to ${node} for ${reply.durationMs} ms (generation ${reply.genId}${registered === '' ? '' : ', newly registered'})`);
      } else if (registered !== '') {
        this.#log(`lease ${module}: renewed by ${node}${registered}`);
      }
      entry.denials.delete(node);
      return;
    }
    const key = `${reply.reason}|${reply.holder ?? ''}|${reply.latest?.id ?? ''}|${reply.reason === 'stale' || reply.reason === 'diverged' ? genId : ''}`;
    if (entry.denials.get(node) === key) return;
    entry.denials.set(node, key);
    const ms = (v: number | null): string => `${Math.ceil(v ?? 0)} ms`;
    const why =
      reply.reason === 'held'
        ? `held by ${reply.holder ?? '?'} for another ${ms(reply.retryAfterMs)}`
        : reply.reason === 'unavailable'
          ? `the witness started recently, no lease for another ${ms(reply.retryAfterMs)}`
          : `generation ${genId} ${reply.reason === 'stale' ? 'is older than' : 'diverged from'} the registered ${reply.latest?.id ?? '?'}`;
    this.#log(`lease ${module}: denied to ${node}: ${reply.reason}: ${why}`);
  }
}

function newEntry(state: WitnessState): ModuleEntry {
  return { state, timer: undefined, denials: new Map() };
}

function parseBody<T>(parse: (body: unknown) => T, body: unknown): T {
  try {
    return parse(body);
  } catch (err) {
    if (err instanceof BodyError) throw new PeerError(400, 'BAD_REQUEST', err.message);
    throw err;
  }
}
