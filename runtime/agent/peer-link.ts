// The link to the other node: authenticated UDP heartbeats on every configured network (each
// module's state messages ride on them), the heartbeat reducer that turns beats and silences into
// peerUp / peerLost / degraded, and the fallback to the mutual-TLS peer API for messages too large
// for one datagram.
import type { HeartbeatTimings } from '../heartbeat/timings.js';
import { heartbeatReducer, initialHeartbeatState, nextHeartbeatDeadline, type HeartbeatOutput, type HeartbeatState } from '../heartbeat/tracker.js';
import type { NodeCredentials } from '../pki/index.js';
import { HeartbeatSocket } from '../transport/index.js';
import type { Clock } from './clock.js';

export interface NodeBeat {
  /** Configuration version of the sender. */
  cfg: number;
}

export interface PeerLinkDeps {
  credentials: NodeCredentials;
  clusterId: string;
  self: { name: string; addresses: string[] };
  peer: { name: string; addresses: string[] };
  port: number;
  timings: HeartbeatTimings;
  clock: Clock;
  nodeBeat: () => NodeBeat;
  onLiveness: (out: HeartbeatOutput) => void;
  onModuleMessage: (module: string, message: unknown) => void;
  onNodeBeat: (beat: NodeBeat) => void;
  /** Sends a message that does not fit a datagram over the peer API. */
  sendLarge: (module: string, message: unknown) => void;
  log: (line: string) => void;
}

export class PeerLink {
  readonly #d: PeerLinkDeps;
  readonly #socket: HeartbeatSocket;
  readonly #reduce: ReturnType<typeof heartbeatReducer>;
  #hb: HeartbeatState;
  #timer: NodeJS.Timeout | null = null;
  #beat: NodeJS.Timeout | null = null;
  #peerConfig = 0;

  constructor(deps: PeerLinkDeps) {
    this.#d = deps;
    const networks = deps.self.addresses.map((_, i) => String(i));
    this.#reduce = heartbeatReducer(deps.timings);
    this.#hb = initialHeartbeatState(networks);
    this.#socket = new HeartbeatSocket({
      bind: deps.self.addresses.map((address) => ({ address, port: deps.port })),
      secret: deps.credentials.secret,
      nodeName: deps.self.name,
      clusterId: deps.clusterId,
      peers: [{ nodeName: deps.peer.name, endpoints: deps.peer.addresses.map((address, network) => ({ network, address, port: deps.port })) }],
      clock: () => deps.clock.now(),
      onHeartbeat: (h) => {
        if (h.restarted) this.#step({ type: 'restarted', at: h.receivedAt });
        this.#step({ type: 'beat', network: String(h.network), at: h.receivedAt });
        const body = h.body as { m?: string; p?: unknown; cfg?: number } | null;
        if (body && typeof body.m === 'string') deps.onModuleMessage(body.m, body.p);
        else if (body && typeof body.cfg === 'number') {
          this.#peerConfig = body.cfg;
          deps.onNodeBeat({ cfg: body.cfg });
        }
      },
      log: (level, message) => { if (level !== 'debug') deps.log(`heartbeat ${level}: ${message}`); },
    });
  }

  get liveness(): HeartbeatState {
    return this.#hb;
  }

  get peerConfigVersion(): number {
    return this.#peerConfig;
  }

  stats(): unknown {
    return this.#socket.stats();
  }

  async start(): Promise<void> {
    await this.#socket.start();
    this.#beat = setInterval(() => this.#sendBeat(), this.#d.timings.intervalMs);
    this.#sendBeat();
    this.#schedule();
  }

  sendModule(module: string, message: unknown): void {
    try {
      this.#socket.send({ m: module, p: message });
    } catch (e) {
      if (e instanceof RangeError || /too large|exceeds|bytes/i.test(String(e))) this.#d.sendLarge(module, message);
      else this.#d.log(`heartbeat send failed: ${String(e)}`);
    }
  }

  #sendBeat(): void {
    try {
      this.#socket.send(this.#d.nodeBeat());
    } catch (e) {
      this.#d.log(`heartbeat send failed: ${String(e)}`);
    }
  }

  #step(input: Parameters<ReturnType<typeof heartbeatReducer>>[1]): void {
    const { state, output } = this.#reduce(this.#hb, input);
    this.#hb = state;
    for (const o of output) this.#d.onLiveness(o);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer) clearTimeout(this.#timer);
    const at = nextHeartbeatDeadline(this.#hb, this.#d.timings);
    this.#timer = at === null ? null : setTimeout(() => this.#step({ type: 'tick', at: this.#d.clock.now() }), Math.max(0, Math.ceil(at - this.#d.clock.now())));
  }

  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#beat) clearInterval(this.#beat);
    this.#socket.close();
  }
}
