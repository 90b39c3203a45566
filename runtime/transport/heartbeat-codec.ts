// The heartbeat datagram: "hmb1" | payload (UTF-8 JSON) | MAC (16 bytes), at most 1200 bytes so it
// never fragments on any network. MAC = HMAC-SHA256 over magic and payload, truncated to 16 bytes,
// keyed with HKDF-SHA256(cluster secret, info "hamod heartbeat v1"). The payload is parsed only
// after the MAC checks out, so anything without the cluster secret costs one HMAC and is dropped.
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

export const HEARTBEAT_MAGIC = Buffer.from('hmb1', 'latin1');
export const MAC_BYTES = 16;
export const MAX_DATAGRAM_BYTES = 1200;
export const HEARTBEAT_KEY_INFO = 'hamod heartbeat v1';

const MAX_NAME_LENGTH = 253;
const MAX_BOOT_ID_LENGTH = 64;

export interface HeartbeatPayload {
  /** Cluster id: datagrams of another cluster are dropped even under the same secret. */
  readonly cluster: string;
  /** Sender node name. */
  readonly from: string;
  /** Random id of the sender process's run. */
  readonly bootId: string;
  /** Increases with every datagram of a sender; a restarted sender starts above its last run's. */
  readonly seq: number;
  /** Sender's wall clock (ms since the epoch) when sending: informational only. */
  readonly sentAt: number;
  /** Small JSON of the sender's situation (module states). */
  readonly body: unknown;
}

/** Why a datagram is dropped before its content is looked at. */
export type DecodeDropReason = 'size' | 'magic' | 'mac' | 'malformed';

export type DecodeResult = { readonly ok: true; readonly payload: HeartbeatPayload } | { readonly ok: false; readonly reason: DecodeDropReason };

/** The heartbeat MAC key for a cluster secret (32 bytes). */
export function deriveHeartbeatKey(secret: Uint8Array): Buffer {
  if (secret.length < 16) throw new RangeError('the cluster secret is too short');
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), HEARTBEAT_KEY_INFO, 32));
}

function mac(key: Buffer, data: Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest().subarray(0, MAC_BYTES);
}

/** The datagram for `payload`; RangeError when it would exceed MAX_DATAGRAM_BYTES. */
export function encodeHeartbeat(key: Buffer, payload: HeartbeatPayload): Buffer {
  const json = JSON.stringify({
    cluster: payload.cluster,
    from: payload.from,
    bootId: payload.bootId,
    seq: payload.seq,
    sentAt: payload.sentAt,
    body: payload.body === undefined ? null : payload.body,
  });
  const signed = Buffer.concat([HEARTBEAT_MAGIC, Buffer.from(json, 'utf8')]);
  const size = signed.length + MAC_BYTES;
  if (size > MAX_DATAGRAM_BYTES) throw new RangeError(`heartbeat of ${size} bytes exceeds ${MAX_DATAGRAM_BYTES} bytes: make its body smaller`);
  return Buffer.concat([signed, mac(key, signed)]);
}

/** Checks and parses a received datagram. Never throws. */
export function decodeHeartbeat(key: Buffer, datagram: Buffer): DecodeResult {
  if (datagram.length > MAX_DATAGRAM_BYTES || datagram.length < HEARTBEAT_MAGIC.length + 1 + MAC_BYTES) return { ok: false, reason: 'size' };
  if (!datagram.subarray(0, HEARTBEAT_MAGIC.length).equals(HEARTBEAT_MAGIC)) return { ok: false, reason: 'magic' };
  const signed = datagram.subarray(0, datagram.length - MAC_BYTES);
  if (!timingSafeEqual(mac(key, signed), datagram.subarray(datagram.length - MAC_BYTES))) return { ok: false, reason: 'mac' };
  let value: unknown;
  try {
    value = JSON.parse(signed.subarray(HEARTBEAT_MAGIC.length).toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const payload = asPayload(value);
  return payload === null ? { ok: false, reason: 'malformed' } : { ok: true, payload };
}

function asPayload(v: unknown): HeartbeatPayload | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  const { cluster, from, bootId, seq, sentAt } = o;
  if (!isName(cluster, MAX_NAME_LENGTH) || !isName(from, MAX_NAME_LENGTH) || !isName(bootId, MAX_BOOT_ID_LENGTH)) return null;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return null;
  if (typeof sentAt !== 'number' || !Number.isFinite(sentAt)) return null;
  if (!('body' in o)) return null;
  return { cluster, from, bootId, seq, sentAt, body: o['body'] };
}

function isName(v: unknown, max: number): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= max;
}
