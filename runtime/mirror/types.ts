// Types of the mirror state machine: one machine per module and per node, a pure function of
// (state, event, context). Time is `ctx.now`, read from a monotonic clock that keeps counting while
// the process is stopped (CLOCK_BOOTTIME-like), in milliseconds; the machine never reads a clock.
//
// Safety rests on one notion, *authority*: a node may run the application as primary only while it
// holds either
//   - a witness lease (exclusive, granted by `hamod witness` to one node at a time), or
//   - a peer grant: the other node, while it does not run the application, promises in each of its
//     messages not to start it before `receipt + grantMs` of the message it acknowledges.
// Both are computed from the requester's own send time (echoed back), so they end no later than the
// grantor's promise, whatever the network delay. When authority runs out the node fences itself at
// once (VIP removed, writes refused, application killed) before doing anything else.
//
// Data freshness rests on *generations* (DRBD-like): every time a primary writes without its peer
// (ALONE) it first starts a new generation that supersedes the previous one, and does not
// acknowledge such writes until that generation is registered with the witness or known (and
// persisted) by the peer. A node whose generation is superseded is stale and never promoted
// automatically; two generations that do not supersede each other have diverged.

export type NodeName = string;
/** Milliseconds of the injected monotonic clock. */
export type Millis = number;
export type AppRole = 'primary' | 'secondary';
/** Role of a node for a module, as reported to the peer and in `hamod status`. */
export type NodeRole = 'primary' | 'secondary' | 'none';

// ---------------------------------------------------------------------------------------------
// Data generations

export interface Generation {
  /** Unique id: `<node>.<incarnation>.<counter>`, or `init` for the data present at install. */
  readonly id: string;
  /** Ids of generations this one supersedes, newest first (bounded). */
  readonly supersedes: readonly string[];
}

/**
 * - `up-to-date`: as far as this node knows, no newer generation exists.
 * - `stale`: a newer generation exists elsewhere (`newerKnown`); the data is consistent but old.
 * - `resyncing`: a resynchronisation began and did not finish: the data is inconsistent.
 */
export type DataStatus = 'up-to-date' | 'stale' | 'resyncing';

/** What the node persists about its replicated data (the actor writes it durably on `persistData`). */
export interface DataState {
  readonly gen: Generation;
  readonly status: DataStatus;
  /**
   * Writes may have been acknowledged under `gen` (it was registered with the witness or the peer,
   * or it is shared with the peer). An uncommitted generation holds no acknowledged write: it gives
   * way to any generation that supersedes its parent instead of counting as a divergence.
   */
  readonly committed: boolean;
  /** Id of a generation known to be newer than ours (why we are stale). */
  readonly newerKnown: string | null;
  /** A generation that neither supersedes nor is superseded by ours: both sides wrote apart. */
  readonly divergedFrom: Generation | null;
  /** Counter for fresh generation ids. */
  readonly counter: number;
}

/** The part of DataState a peer sees. */
export interface DataView {
  readonly gen: Generation;
  readonly status: DataStatus;
  readonly committed: boolean;
}

// ---------------------------------------------------------------------------------------------
// Phases (the discriminated union) and the rest of the state

export const PHASE_NAMES = [
  'STOP',
  'WAIT',
  'PROMOTING',
  'STARTING_PRIM',
  'PRIM',
  'ALONE',
  'STOPPING_PRIM',
  'SYNCING',
  'SECOND',
  'DIVERGED',
] as const;
export type PhaseName = (typeof PHASE_NAMES)[number];

/** Why a started node does not run the application. */
export type WaitWhy =
  | 'starting' // just started: giving the peer a chance to show up
  | 'peer' // the peer is (or should become) primary; waiting for it
  | 'stale' // refused: our data is older than the newest generation
  | 'inconsistent' // refused: an interrupted resync left our data inconsistent
  | 'no-data' // neither node has up-to-date data: an operator must choose (prim --force)
  | 'no-witness' // peer unreachable and no witness answers: not starting alone
  | 'witness-denied' // the witness gave the lease to the peer
  | 'backoff' // after an error, before trying again
  | 'conflict'; // the peer runs as primary with data older than ours

export type StopNext = 'STOP' | 'WAIT' | 'RESTART';

export type Phase =
  /** Module stopped on this node: nothing runs, only heartbeats (and grants) are sent. */
  | { readonly name: 'STOP' }
  /** Started, not running the application; `retryAt` delays the next attempt to become primary. */
  | { readonly name: 'WAIT'; readonly why: WaitWhy; readonly retryAt: Millis | null }
  /** Decided to become primary; acquiring authority and waiting for our own grants to lapse. */
  | {
      readonly name: 'PROMOTING';
      readonly via: 'peer' | 'witness';
      readonly forced: boolean;
      readonly deadline: Millis;
    }
  /** VIP added, primary-role application starting. */
  | { readonly name: 'STARTING_PRIM'; readonly target: 'PRIM' | 'ALONE'; readonly deadline: Millis }
  /** Primary with the secondary in sync (writes are synchronous on both nodes). */
  | { readonly name: 'PRIM' }
  /** Primary without a synchronised secondary (writes under a generation the peer lacks). */
  | { readonly name: 'ALONE' }
  /** Primary-role application stopping (then STOP, WAIT, or start again for a local restart). */
  | {
      readonly name: 'STOPPING_PRIM';
      readonly next: StopNext;
      readonly deadline: Millis;
      /** A forced kill was requested. */
      readonly killed: boolean;
      /** Authority ran out: VIP removed and writes refused at once. */
      readonly fenced: boolean;
      /** Stopping because of an error: back off before trying again. */
      readonly afterError: boolean;
      /** Why the application is being stopped (carried into the log of the end of the stop). */
      readonly cause: string;
    }
  /** Secondary receiving a resynchronisation from the primary. */
  | { readonly name: 'SYNCING'; readonly target: Generation }
  /** Secondary, up to date, receiving writes synchronously. */
  | { readonly name: 'SECOND' }
  /** Refused: both nodes wrote while apart. Needs `hamod second` on the node whose changes are dropped. */
  | { readonly name: 'DIVERGED'; readonly peerGen: Generation };

/**
 * Replication layer mode requested by the machine:
 * off = refuse writes (not primary); sync = primary, a write returns once the peer has it;
 * hold = primary about to write alone: hold writes until the new generation is registered;
 * alone = primary, acknowledge writes locally and record what changed; receive = secondary.
 */
export type ReplicationMode = 'off' | 'sync' | 'hold' | 'alone' | 'receive';

export interface ReceivedMessage {
  readonly message: PeerMessage;
  readonly receivedAt: Millis;
}

export interface PeerKnowledge {
  /** The heartbeat layer considers the peer up (after its flap hold-down). */
  readonly present: boolean;
  /** A message or heartbeat from the peer was seen since this agent started. */
  readonly everSeen: boolean;
  /** Last accepted message (kept when the peer is lost: its content is history, not truth). */
  readonly last: ReceivedMessage | null;
  /**
   * The peer's generation id whose consequences we have persisted (we marked ourselves stale if it
   * is newer than ours): what our messages acknowledge as `knownPeerGen`.
   */
  readonly knownGen: string | null;
  /** Heartbeat networks currently down while the peer is still reachable on others. */
  readonly degraded: readonly string[];
}

export interface LeaseRequest {
  readonly sentAt: Millis;
  readonly genId: string;
}

export interface AuthorityState {
  /** End of the authority given by the peer's grants (our clock). */
  readonly peerUntil: Millis | null;
  /** End of the witness lease (our clock). */
  readonly leaseUntil: Millis | null;
  readonly leasePending: LeaseRequest | null;
  /**
   * When we last gave the lease back. A grant answering a request sent before it is void (the
   * witness may have processed our release after that grant) and is ignored.
   */
  readonly releasedAt: Millis | null;
  /** `prim --force`: runs without authority until it stops being primary. */
  readonly forced: boolean;
}

/** Our promise to the peer: we do not start the application before `until` (null = no promise). */
export interface GrantLedger {
  readonly until: Millis | null;
  /** Seq of our last message that carried a grant. */
  readonly lastSeq: number;
}

export interface Intent {
  /** We stepped down so that the peer takes over (swap, failover). */
  readonly yielding: boolean;
  /** The operator asked this node to be primary (`prim`, or `swap` on the secondary). */
  readonly wantsPrimary: boolean;
  /** The operator asked this node to be secondary (`second`): never promoted until it has been SECOND. */
  readonly secondaryOnly: boolean;
}

/** The generation a primary writes under while ALONE (it may acknowledge writes once `data.committed`). */
export interface AloneRegistration {
  readonly genId: string;
}

export interface TransitionRecord {
  readonly from: PhaseName;
  readonly to: PhaseName;
  readonly reason: string;
  readonly at: Millis;
}

export interface MirrorState {
  readonly phase: Phase;
  /** When the current phase name was entered. */
  readonly since: Millis;
  readonly last: TransitionRecord | null;
  /** Strictly increasing across restarts of the agent (persisted boot counter). */
  readonly incarnation: number;
  /** Seq of our last message to the peer. */
  readonly seq: number;
  readonly data: DataState;
  readonly peer: PeerKnowledge;
  readonly auth: AuthorityState;
  readonly grants: GrantLedger;
  readonly intent: Intent;
  readonly alone: AloneRegistration | null;
  /** The replication layer reported the secondary fully synchronised (primary side). */
  readonly replInSync: boolean;
  /** Last mode sent to the replication layer, and for which generation. */
  readonly replication: { readonly mode: ReplicationMode; readonly genId: string };
  /** We asked for the virtual IP to be up. */
  readonly vip: boolean;
  /** Times of recent errors (start failures, failed resyncs) for the module's error budget. */
  readonly errors: readonly Millis[];
  /** After `start`, how long to wait for a never-seen peer before asking the witness. */
  readonly peerWaitUntil: Millis | null;
}

// ---------------------------------------------------------------------------------------------
// Messages between the two nodes (carried by heartbeats and sent at once on changes)

export interface PeerMessage {
  readonly from: NodeName;
  readonly incarnation: number;
  readonly seq: number;
  /** Sender's clock. */
  readonly sentAt: Millis;
  readonly phase: PhaseName;
  readonly role: NodeRole;
  /** The sender is primary or becoming primary: it may rely on our grants, do not release them. */
  readonly usesGrant: boolean;
  readonly forced: boolean;
  readonly data: DataView;
  /** Id of the receiver's generation as last seen by the sender (the sender persisted what it implies). */
  readonly knownPeerGen: string | null;
  readonly yielding: boolean;
  readonly wantsPrimary: boolean;
  readonly secondaryOnly: boolean;
  /** The receiver's last message processed by the sender. */
  readonly ack: { readonly incarnation: number; readonly seq: number; readonly sentAt: Millis } | null;
  /** > 0: the sender will not run the application before (its receipt of `ack`) + grantMs. */
  readonly grantMs: Millis;
}

// ---------------------------------------------------------------------------------------------
// Events

export type OperatorCommand = 'start' | 'stop' | 'forcestop' | 'restart' | 'swap' | 'prim' | 'second';
export type CheckerActionKind = 'restart' | 'failover' | 'stop';
export type LeaseDenialReason = 'held' | 'stale' | 'diverged' | 'unavailable';

export type MirrorEvent =
  /** Operator command; `force` only matters for `prim` (`prim --force`). */
  | { readonly type: 'command'; readonly command: OperatorCommand; readonly force: boolean }
  | { readonly type: 'peerMessage'; readonly message: PeerMessage }
  /** From the heartbeat reducer: the peer is up (after hold-down) / lost on every network. */
  | { readonly type: 'peerUp' }
  | { readonly type: 'peerLost' }
  | { readonly type: 'peerDegraded'; readonly down: readonly string[] }
  /** Witness answers; `sentAt` echoes our request's `sentAt`. */
  | { readonly type: 'leaseGranted'; readonly sentAt: Millis; readonly durationMs: Millis; readonly genId: string }
  | {
      readonly type: 'leaseDenied';
      readonly sentAt: Millis;
      readonly reason: LeaseDenialReason;
      readonly holder: NodeName | null;
      readonly latest: Generation | null;
      /** When refused because another node holds the lease: how long until it lapses (witness clock). */
      readonly retryAfterMs: Millis | null;
    }
  | { readonly type: 'leaseNoAnswer'; readonly sentAt: Millis }
  /** From the supervisor. */
  | { readonly type: 'appStarted'; readonly role: AppRole }
  | { readonly type: 'appStartFailed'; readonly role: AppRole; readonly reason: string }
  | { readonly type: 'appStopped'; readonly role: AppRole; readonly reason: string }
  /** From the checker escalation reducer (already escalated). */
  | { readonly type: 'checkerAction'; readonly checker: string; readonly action: CheckerActionKind; readonly reason: string }
  /** From the replication layer. */
  | { readonly type: 'replInSync' }
  | { readonly type: 'replOutOfSync'; readonly reason: string }
  | { readonly type: 'resyncDone'; readonly generation: Generation }
  | { readonly type: 'resyncFailed'; readonly reason: string }
  /** Time to send our status to the peer (every heartbeat interval). */
  | { readonly type: 'heartbeatDue' }
  /** The clock advanced: deadlines are evaluated. */
  | { readonly type: 'tick' };

export type MirrorEventType = MirrorEvent['type'];

// ---------------------------------------------------------------------------------------------
// Effects, executed in order by the actor (persistData must be durable before later effects run)

export type Effect =
  | { readonly type: 'log'; readonly from: PhaseName; readonly to: PhaseName; readonly reason: string; readonly at: Millis }
  | { readonly type: 'warning'; readonly message: string }
  | { readonly type: 'reply'; readonly command: OperatorCommand; readonly ok: boolean; readonly message: string }
  | { readonly type: 'startApp'; readonly role: AppRole }
  | { readonly type: 'stopApp'; readonly role: AppRole; readonly force: boolean }
  | { readonly type: 'addVip' }
  | { readonly type: 'removeVip' }
  | { readonly type: 'sendToPeer'; readonly message: PeerMessage }
  | {
      readonly type: 'requestLease';
      readonly sentAt: Millis;
      readonly generation: Generation;
      readonly committed: boolean;
      readonly renew: boolean;
    }
  /**
   * Give the lease back. Only a lease granted for a request sent at or before `upTo` is released:
   * a newer request of ours, granted before this release arrives, keeps its lease.
   */
  | { readonly type: 'releaseLease'; readonly upTo: Millis }
  | { readonly type: 'beginResync'; readonly from: Generation; readonly to: Generation; readonly full: boolean }
  | { readonly type: 'abortResync' }
  | { readonly type: 'setReplication'; readonly mode: ReplicationMode; readonly generation: Generation }
  | { readonly type: 'persistData'; readonly data: DataState };

export type EffectType = Effect['type'];

// ---------------------------------------------------------------------------------------------
// Configuration and context

export interface MirrorConfig {
  /** Preferred primary when both nodes are equal (data, operator wishes). */
  readonly defaultPrimary: NodeName | null;
  /** How long each message's grant lasts, from its receipt. */
  readonly grantMs: Millis;
  /** Ask the witness for a lease when authority would end within this time. */
  readonly leaseRenewLeadMs: Millis;
  /** A lease request unanswered after this time counts as "no answer". */
  readonly leaseAnswerTimeoutMs: Millis;
  /** Delay before asking the witness again after a denial or no answer. */
  readonly leaseRetryMs: Millis;
  /** Clock rate uncertainty: leases and grants are shortened by this fraction. */
  readonly driftRate: number;
  /** Authority ends this much before the grantor's promise does: the time fencing takes to complete. */
  readonly fenceLeadMs: Millis;
  readonly startTimeoutMs: Millis;
  readonly stopTimeoutMs: Millis;
  readonly killTimeoutMs: Millis;
  readonly promoteTimeoutMs: Millis;
  /** After `start`, wait this long for a peer never seen before asking the witness. */
  readonly peerWaitMs: Millis;
  readonly restartBackoffMs: Millis;
  /** The module gives up (STOP) after this many errors within the window. */
  readonly maxErrors: { readonly count: number; readonly windowMs: Millis };
}

export interface MirrorContext {
  readonly now: Millis;
  readonly self: NodeName;
  readonly peer: NodeName;
  readonly config: MirrorConfig;
}

export interface TransitionResult {
  readonly state: MirrorState;
  readonly effects: readonly Effect[];
}
