// The witness's wire protocol over the peer API (mutual TLS, JSON): paths, request and answer
// shapes, and their validation (both ends check what they receive; a malformed request is a 400 with
// a message naming the field, a malformed answer counts as no answer on the node).
//
//   POST /v1/lease   {module, sentAt, generation, committed} -> WitnessReply (granted | denied)
//   POST /v1/release {module, upTo}                           -> {module, released}
//   POST /v1/status  (no body)                                -> WitnessStatus
//
// The requesting node is the CN of its verified client certificate, never a field of the body.
import { MAX_SUPERSEDED } from '../mirror/generation.js';
import type { Generation, LeaseDenialReason, Millis, NodeName } from '../mirror/types.js';
import type { WitnessReply } from '../mirror/witness-lease.js';

export const WITNESS_PATHS = { lease: '/v1/lease', release: '/v1/release', status: '/v1/status' } as const;

/** Module instance names (as in the cluster configuration). */
export const MODULE_NAME_RE = /^[a-z][a-z0-9-]{0,62}$/;
/** Longest generation id accepted (`<node>.<incarnation>.<counter>` is far shorter). */
export const MAX_GENERATION_ID_LENGTH = 256;
export const DENIAL_REASONS: readonly LeaseDenialReason[] = ['held', 'stale', 'diverged', 'unavailable'];

export interface LeaseRequestBody {
  readonly module: string;
  /** The requester's clock, echoed in the answer. */
  readonly sentAt: Millis;
  readonly generation: Generation;
  readonly committed: boolean;
}

export interface ReleaseRequestBody {
  readonly module: string;
  /**
   * The requester's clock: only a lease granted for requests it sent at or before `upTo` is
   * released (a newer request of the node, granted before this release arrived, keeps its lease).
   */
  readonly upTo: Millis;
}

export interface ReleaseReply {
  readonly module: string;
  /** The requester held the lease and no longer does. */
  readonly released: boolean;
}

export interface ModuleLeaseStatus {
  readonly module: string;
  readonly holder: { readonly node: NodeName; readonly remainingMs: Millis } | null;
  readonly latest: Generation | null;
}

export interface WitnessStatus {
  /** CN of the witness's certificate. */
  readonly witness: string;
  readonly leaseMs: Millis;
  /** Time left of the hold after a start (no lease is granted meanwhile); 0 when none. */
  readonly holdRemainingMs: Millis;
  readonly modules: readonly ModuleLeaseStatus[];
}

/** A request body that does not have the expected shape; `message` says which field and why. */
export class BodyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BodyError';
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return v.length > 40 ? `a string of ${v.length} characters` : JSON.stringify(v);
  if (typeof v === 'number') return String(v);
  return `a ${typeof v}`;
}

export function isModuleName(v: unknown): v is string {
  return typeof v === 'string' && MODULE_NAME_RE.test(v);
}

function checkModule(v: unknown): string {
  if (v === undefined) throw new BodyError('module is missing');
  if (!isModuleName(v)) throw new BodyError(`module must match ${MODULE_NAME_RE.source} (lowercase letters, digits, dashes; at most 63), got ${describe(v)}`);
  return v;
}

function isGenerationId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_GENERATION_ID_LENGTH;
}

/** Why `v` is not a Generation, or null when it is one. */
export function generationProblem(v: unknown, field = 'generation'): string | null {
  if (!isRecord(v)) return `${field} must be an object {id, supersedes}, got ${describe(v)}`;
  if (!isGenerationId(v.id)) return `${field}.id must be a string of 1 to ${MAX_GENERATION_ID_LENGTH} characters, got ${describe(v.id)}`;
  const s = v.supersedes;
  if (!Array.isArray(s)) return `${field}.supersedes must be an array of generation ids, got ${describe(s)}`;
  if (s.length > MAX_SUPERSEDED) return `${field}.supersedes has ${s.length} ids, at most ${MAX_SUPERSEDED} are allowed`;
  for (let i = 0; i < s.length; i++) {
    if (!isGenerationId(s[i])) return `${field}.supersedes[${i}] must be a string of 1 to ${MAX_GENERATION_ID_LENGTH} characters, got ${describe(s[i])}`;
  }
  return null;
}

/** A copy holding only the fields of a Generation (call after `generationProblem` returned null). */
export function copyGeneration(v: unknown): Generation {
  const g = v as Generation;
  return { id: g.id, supersedes: [...g.supersedes] };
}

/** Validates the body of POST /v1/lease (unknown extra fields are ignored); BodyError otherwise. */
export function parseLeaseRequest(body: unknown): LeaseRequestBody {
  if (!isRecord(body)) throw new BodyError(`the body must be a JSON object {module, sentAt, generation, committed}, got ${describe(body)}`);
  const module = checkModule(body.module);
  if (typeof body.sentAt !== 'number' || !Number.isFinite(body.sentAt)) throw new BodyError(`sentAt must be a finite number (the requester's clock, ms), got ${describe(body.sentAt)}`);
  const problem = generationProblem(body.generation);
  if (problem !== null) throw new BodyError(problem);
  if (typeof body.committed !== 'boolean') throw new BodyError(`committed must be true or false, got ${describe(body.committed)}`);
  return { module, sentAt: body.sentAt, generation: copyGeneration(body.generation), committed: body.committed };
}

/** Validates the body of POST /v1/release; BodyError otherwise. */
export function parseReleaseRequest(body: unknown): ReleaseRequestBody {
  if (!isRecord(body)) throw new BodyError(`the body must be a JSON object {module, upTo}, got ${describe(body)}`);
  const module = checkModule(body.module);
  if (typeof body.upTo !== 'number' || !Number.isFinite(body.upTo)) throw new BodyError(`upTo must be a finite number (the requester's clock, ms), got ${describe(body.upTo)}`);
  return { module, upTo: body.upTo };
}

function isMillis(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** A witness's answer to a lease request, checked field by field; null when it is malformed. */
export function parseWitnessReply(v: unknown): WitnessReply | null {
  if (!isRecord(v) || typeof v.node !== 'string' || !isMillis(v.sentAt)) return null;
  if (v.type === 'granted') {
    if (!isMillis(v.durationMs) || v.durationMs <= 0 || typeof v.genId !== 'string') return null;
    return { type: 'granted', node: v.node, sentAt: v.sentAt, durationMs: v.durationMs, genId: v.genId };
  }
  if (v.type === 'denied') {
    if (!DENIAL_REASONS.includes(v.reason as LeaseDenialReason)) return null;
    if (v.holder !== null && typeof v.holder !== 'string') return null;
    if (v.latest !== null && generationProblem(v.latest) !== null) return null;
    if (v.retryAfterMs !== null && !(isMillis(v.retryAfterMs) && v.retryAfterMs >= 0)) return null;
    return {
      type: 'denied',
      node: v.node,
      sentAt: v.sentAt,
      reason: v.reason as LeaseDenialReason,
      holder: v.holder,
      latest: v.latest === null ? null : copyGeneration(v.latest),
      retryAfterMs: v.retryAfterMs,
    };
  }
  return null;
}
