// The node's side of the witness: asks for and gives back the primary lease of a module, and turns
// every outcome into the mirror machine's own events (leaseGranted / leaseDenied / leaseNoAnswer).
// It never throws: a timeout, an unreachable witness, a refused certificate (ours or the witness's),
// an error status or a malformed answer are all `leaseNoAnswer`, within `timeoutMs`.
//
// Several witnesses: ONLY THE FIRST ONE CONFIGURED IS USED; the others are ignored (see
// `ignoredWitnesses`). Asking the next witness when the first does not answer would be unsafe: on
// each side of a network partition a node could get a lease from a different witness (two
// primaries). A majority rule would be safe and would survive a witness failure, but split grants
// (each node holding the lease of a minority of witnesses, renewing it on every attempt) can then
// block both nodes for good unless the nodes release them with a tie-break; that is not done here.
import type { Generation, Millis, MirrorEvent } from '../mirror/types.js';
import { PeerCallError, PeerClient, type TlsCredentials } from '../transport/index.js';
import { isModuleName, parseWitnessReply, WITNESS_PATHS, type LeaseRequestBody, type ReleaseReply, type ReleaseRequestBody } from './protocol.js';

/** CN expected of a witness's certificate unless told otherwise. */
export const DEFAULT_WITNESS_NAME = 'witness';

export interface WitnessEndpoint {
  address: string;
  port: number;
  /** CN the witness's certificate must carry; default "witness". */
  expectedName?: string;
  /** Same as `expectedName` (used when `expectedName` is absent). */
  name?: string;
}

export interface WitnessClientOptions {
  /** This node's credentials (its certificate's CN is the node name the witness sees). */
  credentials: TlsCredentials;
  /** Only the first is used (see the header). */
  witnesses: readonly WitnessEndpoint[];
  /** Time limit of each call (connection, request and answer). */
  timeoutMs: Millis;
  /** Why a request got no answer, one line each; default silent. */
  log?: (line: string) => void;
}

export interface LeaseRequestInput {
  readonly sentAt: Millis;
  readonly generation: Generation;
  readonly committed: boolean;
}

/** What `requestLease` resolves to: exactly the mirror machine's witness events. */
export type LeaseAnswer = Extract<MirrorEvent, { type: 'leaseGranted' | 'leaseDenied' | 'leaseNoAnswer' }>;

export class WitnessClient {
  /** The witness asked: the first configured. */
  readonly witness: { readonly address: string; readonly port: number; readonly expectedName: string };
  /** Witnesses configured after the first, which are not used. */
  readonly ignoredWitnesses: number;
  readonly #nodeName: string;
  readonly #client: PeerClient;
  readonly #timeoutMs: Millis;
  readonly #log: (line: string) => void;

  constructor(options: WitnessClientOptions) {
    const first = options.witnesses[0];
    if (first === undefined) throw new TypeError('WitnessClient needs at least one witness');
    if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) throw new RangeError(`timeoutMs must be a positive number, got ${options.timeoutMs}`);
    const expectedName = first.expectedName ?? first.name ?? DEFAULT_WITNESS_NAME;
    this.witness = { address: first.address, port: first.port, expectedName };
    this.ignoredWitnesses = options.witnesses.length - 1;
    this.#nodeName = options.credentials.nodeName;
    this.#timeoutMs = options.timeoutMs;
    this.#log = options.log ?? (() => undefined);
    this.#client = new PeerClient({ credentials: options.credentials, host: first.address, port: first.port, expectedNodeName: expectedName, timeoutMs: options.timeoutMs });
  }

  /** Asks for (or renews) the lease of `module`; resolves to the machine's event, never rejects. */
  async requestLease(module: string, req: LeaseRequestInput): Promise<LeaseAnswer> {
    const sentAt = req.sentAt;
    const noAnswer = (why: string): LeaseAnswer => {
      this.#log(`witness ${this.witness.expectedName} (${this.witness.address}:${this.witness.port}): no answer for the lease of ${module}: ${why}`);
      return { type: 'leaseNoAnswer', sentAt };
    };
    try {
      if (!isModuleName(module)) return noAnswer(`invalid module name ${JSON.stringify(module)}`);
      const body: LeaseRequestBody = { module, sentAt, generation: { id: req.generation.id, supersedes: [...req.generation.supersedes] }, committed: req.committed };
      const raw = await this.#client.call<unknown>(WITNESS_PATHS.lease, body, { timeoutMs: this.#timeoutMs });
      const reply = parseWitnessReply(raw);
      if (reply === null) return noAnswer('malformed answer');
      // The answer must be to this request, from this node's point of view.
      if (reply.sentAt !== sentAt) return noAnswer(`answer echoes sentAt ${reply.sentAt}, expected ${sentAt}`);
      if (reply.node !== this.#nodeName) return noAnswer(`answer is for node ${reply.node}`);
      if (reply.type === 'granted') {
        if (reply.genId !== req.generation.id) return noAnswer(`grant names generation ${reply.genId}, expected ${req.generation.id}`);
        return { type: 'leaseGranted', sentAt, durationMs: reply.durationMs, genId: reply.genId };
      }
      return { type: 'leaseDenied', sentAt, reason: reply.reason, holder: reply.holder, latest: reply.latest, retryAfterMs: reply.retryAfterMs };
    } catch (err) {
      return noAnswer(err instanceof PeerCallError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err));
    }
  }

  /**
   * Gives the lease of `module` back (best effort; never rejects): only a lease granted for requests
   * sent at or before `upTo` (this node's clock, as in the machine's `releaseLease` effect) is
   * released. True when the witness confirmed that it released our lease.
   */
  async releaseLease(module: string, upTo: Millis): Promise<boolean> {
    try {
      if (!isModuleName(module) || !Number.isFinite(upTo)) return false;
      const body: ReleaseRequestBody = { module, upTo };
      const raw = await this.#client.call<ReleaseReply>(WITNESS_PATHS.release, body, { timeoutMs: this.#timeoutMs });
      return typeof raw === 'object' && raw !== null && raw.released === true;
    } catch (err) {
      this.#log(`witness ${this.witness.expectedName}: release of ${module} failed: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
  }

  /** Same as requestLease / releaseLease, under the names of the agent's LeaseClient (runtime/agent/mirror-runner.ts). */
  request(module: string, req: LeaseRequestInput): Promise<LeaseAnswer> {
    return this.requestLease(module, req);
  }

  async release(module: string, upTo: Millis): Promise<void> {
    await this.releaseLease(module, upTo);
  }

  /** Closes pooled connections. */
  close(): void {
    this.#client.close();
  }
}
