// UDP heartbeats between the nodes of a cluster, on one or more networks (one bound socket each).
// `send(body)` sends one datagram (same seq) to every peer on every network it has an address on;
// each received datagram is checked (size, MAC, cluster id, known sender, replay: see
// heartbeat-codec.ts and replay-guard.ts) and reported through `onHeartbeat` with the index of the
// network (local bind address) it came in on. Replay windows are kept per sender and network, so
// the copies of one heartbeat on several networks are all reported. Every drop is counted by
// reason for `hamod status`; sending never throws because a network is down: failures are counted
// and logged (once per peer, network and error until it recovers).
import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { decodeHeartbeat, deriveHeartbeatKey, encodeHeartbeat, type DecodeDropReason } from './heartbeat-codec.js';
import { silentLog, type TransportLog } from './log.js';
import { admit, initialSeq, type SeqWindow } from './replay-guard.js';

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export interface PeerEndpoint extends Endpoint {
  /** Index of the local network (in `bind`) this address is reached through. */
  readonly network: number;
}

export interface HeartbeatPeer {
  readonly nodeName: string;
  readonly endpoints: readonly PeerEndpoint[];
}

export interface Heartbeat {
  readonly from: string;
  /** Index in `bind` of the local address the datagram arrived at. */
  readonly network: number;
  readonly seq: number;
  readonly bootId: string;
  /** True on the first heartbeat of a new run of the sender. */
  readonly restarted: boolean;
  readonly body: unknown;
  /** Local `clock()` at receipt. */
  readonly receivedAt: number;
  /** The sender's wall clock when sending (informational: clocks are not assumed in sync). */
  readonly sentAt: number;
  /** Source address of the datagram (informational: identity comes from the MAC). */
  readonly address: string;
}

export type DropReason = DecodeDropReason | 'cluster' | 'self' | 'unknownSender' | 'replay';
export const DROP_REASONS: readonly DropReason[] = ['size', 'magic', 'mac', 'malformed', 'cluster', 'self', 'unknownSender', 'replay'];

export interface NetworkStats {
  readonly bind: Endpoint;
  sent: number;
  sendErrors: number;
  /** Code of the last send failure, null once a send succeeds again. */
  lastSendError: string | null;
  received: number;
  accepted: number;
  dropped: Record<DropReason, number>;
}

export interface HeartbeatSocketOptions {
  /** Local address(es) to bind, one per heartbeat network; port 0 picks a free port. */
  bind: Endpoint | readonly Endpoint[];
  /** The cluster secret (32 bytes); the MAC key is derived from it. */
  secret: Uint8Array;
  nodeName: string;
  clusterId: string;
  peers?: readonly HeartbeatPeer[];
  onHeartbeat?: (heartbeat: Heartbeat) => void;
  /** Monotonic milliseconds for `receivedAt`; default process.hrtime. */
  clock?: () => number;
  /** Wall clock for `sentAt` and the first seq; default Date.now. */
  wallClock?: () => number;
  /** Id of this run; default 16 random hex digits. */
  bootId?: string;
  /** Last seq sent by a previous run, if persisted: this run starts above it even if the wall clock went back. */
  seqFloor?: number;
  log?: TransportLog;
  /** Creates the UDP sockets (fault injection in tests); default node:dgram. */
  createSocket?: (type: 'udp4' | 'udp6') => Socket;
}

export interface SendResult {
  readonly seq: number;
  readonly bytes: number;
  /** Datagrams handed to the sockets. */
  readonly datagrams: number;
}

interface Network {
  readonly socket: Socket;
  readonly family: 4 | 6;
  readonly stats: NetworkStats;
}

const monotonicMs = (): number => Number(process.hrtime.bigint() / 1000n) / 1000;

export class HeartbeatSocket {
  readonly nodeName: string;
  readonly clusterId: string;
  readonly bootId: string;
  readonly #key: Buffer;
  readonly #binds: readonly Endpoint[];
  readonly #networks: Network[] = [];
  readonly #onHeartbeat: (hb: Heartbeat) => void;
  readonly #clock: () => number;
  readonly #wallClock: () => number;
  readonly #log: TransportLog;
  readonly #createSocket: (type: 'udp4' | 'udp6') => Socket;
  /** key: `${network} ${nodeName}` */
  readonly #windows = new Map<string, SeqWindow>();
  /** key: `${network} ${nodeName} ${address}` → last error code logged */
  readonly #sendFailures = new Map<string, string>();
  #peers: readonly HeartbeatPeer[] = [];
  #peerNames = new Set<string>();
  #seq: number;
  #state: 'new' | 'starting' | 'open' | 'closed' = 'new';

  constructor(options: HeartbeatSocketOptions) {
    this.nodeName = options.nodeName;
    this.clusterId = options.clusterId;
    this.bootId = options.bootId ?? randomBytes(8).toString('hex');
    this.#key = deriveHeartbeatKey(options.secret);
    this.#binds = isEndpointList(options.bind) ? [...options.bind] : [options.bind];
    if (this.#binds.length === 0) throw new RangeError('a heartbeat socket needs at least one bind address');
    for (const b of this.#binds) if (isIP(b.address) === 0) throw new RangeError(`bind address ${JSON.stringify(b.address)} is not an IP address`);
    this.#onHeartbeat = options.onHeartbeat ?? (() => undefined);
    this.#clock = options.clock ?? monotonicMs;
    this.#wallClock = options.wallClock ?? Date.now;
    this.#log = options.log ?? silentLog;
    this.#createSocket = options.createSocket ?? ((type) => createSocket({ type, ipv6Only: type === 'udp6' }));
    this.#seq = initialSeq(this.#wallClock(), options.seqFloor ?? 0) - 1;
    this.setPeers(options.peers ?? []);
  }

  /** Binds every network's socket; resolves with the bound endpoints (actual ports). */
  async start(): Promise<Endpoint[]> {
    if (this.#state !== 'new') throw new Error('heartbeat socket already started');
    this.#state = 'starting';
    try {
      for (const [index, bind] of this.#binds.entries()) this.#networks.push(await this.#open(index, bind));
    } catch (err) {
      await this.close();
      throw err;
    }
    this.#state = 'open';
    return this.#networks.map((n) => n.stats.bind);
  }

  /** Replaces the peer list (configuration change). RangeError for an endpoint that cannot be used. */
  setPeers(peers: readonly HeartbeatPeer[]): void {
    for (const p of peers) {
      if (p.nodeName === this.nodeName) throw new RangeError(`node ${p.nodeName} is this node`);
      for (const e of p.endpoints) {
        const bind = this.#binds[e.network];
        if (bind === undefined) throw new RangeError(`peer ${p.nodeName}: no local network ${e.network}`);
        const family = isIP(e.address);
        if (family === 0) throw new RangeError(`peer ${p.nodeName}: ${JSON.stringify(e.address)} is not an IP address`);
        if (family !== isIP(bind.address)) throw new RangeError(`peer ${p.nodeName}: ${e.address} is not reachable from ${bind.address} (address family)`);
        if (!Number.isInteger(e.port) || e.port < 1 || e.port > 65535) throw new RangeError(`peer ${p.nodeName}: bad port ${e.port}`);
      }
    }
    this.#peers = peers.map((p) => ({ nodeName: p.nodeName, endpoints: [...p.endpoints] }));
    this.#peerNames = new Set(peers.map((p) => p.nodeName));
  }

  /**
   * Sends `body` to every peer endpoint. Throws only for a body too large for one datagram
   * (RangeError) or before start(); network failures are counted in stats() instead.
   */
  send(body: unknown): SendResult {
    if (this.#state === 'closed') return { seq: this.#seq, bytes: 0, datagrams: 0 };
    if (this.#state !== 'open') throw new Error('heartbeat socket not started');
    const seq = this.#seq + 1;
    const datagram = encodeHeartbeat(this.#key, { cluster: this.clusterId, from: this.nodeName, bootId: this.bootId, seq, sentAt: this.#wallClock(), body });
    this.#seq = seq;
    let datagrams = 0;
    for (const peer of this.#peers) {
      for (const e of peer.endpoints) {
        const net = this.#networks[e.network];
        if (net === undefined) continue;
        datagrams++;
        this.#sendOne(net, e, peer.nodeName, datagram);
      }
    }
    return { seq, bytes: datagram.length, datagrams };
  }

  /** Last seq sent (persist it to pass as seqFloor after a restart if the wall clock may step back). */
  get lastSeq(): number {
    return this.#seq;
  }

  /** Counters per network (index = network), copies. */
  stats(): NetworkStats[] {
    return this.#networks.map((n) => ({ ...n.stats, bind: { ...n.stats.bind }, dropped: { ...n.stats.dropped } }));
  }

  async close(): Promise<void> {
    this.#state = 'closed';
    await Promise.all(this.#networks.map((n) => new Promise<void>((resolve) => {
      try {
        n.socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    })));
  }

  #open(index: number, bind: Endpoint): Promise<Network> {
    const family = isIP(bind.address) === 6 ? 6 : 4;
    const socket = this.#createSocket(family === 6 ? 'udp6' : 'udp4');
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        socket.close();
        reject(err);
      };
      socket.once('error', onError);
      socket.bind({ address: bind.address, port: bind.port, exclusive: true }, () => {
        socket.off('error', onError);
        const a = socket.address();
        const stats: NetworkStats = { bind: { address: a.address, port: a.port }, sent: 0, sendErrors: 0, lastSendError: null, received: 0, accepted: 0, dropped: zeroDrops() };
        const net: Network = { socket, family, stats };
        socket.on('error', (err: NodeJS.ErrnoException) => {
          this.#log('warn', 'heartbeat socket error', { network: index, bind: `${a.address}:${a.port}`, code: err.code ?? 'unknown' });
        });
        socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => this.#receive(index, net, msg, rinfo));
        resolve(net);
      });
    });
  }

  #sendOne(net: Network, e: PeerEndpoint, peer: string, datagram: Buffer): void {
    const key = `${e.network} ${peer} ${e.address}`;
    const done = (err: NodeJS.ErrnoException | null): void => {
      if (err === null) {
        net.stats.sent++;
        net.stats.lastSendError = null;
        if (this.#sendFailures.delete(key)) this.#log('info', 'heartbeats to peer go through again', { peer, network: e.network, address: e.address });
        return;
      }
      const code = err.code ?? 'ERROR';
      net.stats.sendErrors++;
      net.stats.lastSendError = code;
      if (this.#sendFailures.get(key) !== code) {
        this.#sendFailures.set(key, code);
        this.#log('warn', 'cannot send heartbeats to peer', { peer, network: e.network, address: e.address, code });
      }
    };
    try {
      net.socket.send(datagram, e.port, e.address, done);
    } catch (err) {
      done(err as NodeJS.ErrnoException);
    }
  }

  #receive(index: number, net: Network, msg: Buffer, rinfo: RemoteInfo): void {
    net.stats.received++;
    const decoded = decodeHeartbeat(this.#key, msg);
    if (!decoded.ok) return this.#drop(net, decoded.reason);
    const p = decoded.payload;
    if (p.cluster !== this.clusterId) return this.#drop(net, 'cluster');
    if (p.from === this.nodeName) return this.#drop(net, 'self');
    if (!this.#peerNames.has(p.from)) return this.#drop(net, 'unknownSender');
    const windowKey = `${index} ${p.from}`;
    const verdict = admit(this.#windows.get(windowKey), p.bootId, p.seq);
    if (!verdict.accept || verdict.window === undefined) return this.#drop(net, 'replay');
    this.#windows.set(windowKey, verdict.window);
    net.stats.accepted++;
    if (verdict.restarted) this.#log('info', 'peer restarted (new boot id)', { peer: p.from, network: index });
    const hb: Heartbeat = {
      from: p.from,
      network: index,
      seq: p.seq,
      bootId: p.bootId,
      restarted: verdict.restarted,
      body: p.body,
      receivedAt: this.#clock(),
      sentAt: p.sentAt,
      address: rinfo.address,
    };
    try {
      this.#onHeartbeat(hb);
    } catch (err) {
      this.#log('error', 'heartbeat handler failed', { peer: p.from, reason: err instanceof Error ? err.message : String(err) });
    }
  }

  #drop(net: Network, reason: DropReason): void {
    net.stats.dropped[reason]++;
  }
}

function zeroDrops(): Record<DropReason, number> {
  return Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
}

function isEndpointList(b: Endpoint | readonly Endpoint[]): b is readonly Endpoint[] {
  return Array.isArray(b);
}
