// Deterministic gzip for bundles, and a bounded gunzip that accepts exactly one plain gzip member
// and nothing else. Output size is capped inside zlib (maxOutputLength), so a gzip bomb costs at
// most the limit in memory and ends in a BundleError, never an out-of-memory crash.
import * as zlib from 'node:zlib';
import { BundleError } from './bundle-error.js';

/** RFC 1952 OS byte for "unknown": written whatever the build platform is. */
const OS_UNKNOWN = 255;
const HEADER_SIZE = 10;
const TRAILER_SIZE = 8;

/**
 * gzip at level 9 with zlib's parameters pinned, no file name, MTIME 0 and OS 255. The same input
 * gives the same bytes with the same zlib (Node version); another zlib may choose different but
 * equally valid deflate blocks, which is why signatures cover the content, not the .gz bytes.
 */
export function gzipDeterministic(data: Buffer): Buffer {
  const out = zlib.gzipSync(data, {
    level: 9,
    memLevel: 8,
    windowBits: 15,
    strategy: zlib.constants.Z_DEFAULT_STRATEGY,
  });
  out.writeUInt32LE(0, 4); // MTIME
  out[9] = OS_UNKNOWN;
  return out;
}

export interface GunzipOptions {
  /** Refuse (HM402) when the decompressed data would exceed this many bytes. */
  maxOutputBytes: number;
  source?: string | undefined;
}

/**
 * Decompresses a single gzip member. Not gzip, truncated, failing its CRC or length check,
 * carrying optional header fields, followed by anything (trailing bytes, a second member): HM401.
 * Larger than `maxOutputBytes` once decompressed: HM402.
 */
export function gunzipBounded(data: Buffer, opts: GunzipOptions): Buffer {
  const { source } = opts;
  const corrupt = (message: string, cause?: unknown): BundleError => new BundleError('HM401', message, { source, cause });

  const looksGzip = data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b;
  if (!looksGzip) throw corrupt('the bundle is not gzip data');
  if (data.length < HEADER_SIZE + TRAILER_SIZE) throw corrupt('the gzip stream is truncated');
  if (data[2] !== 8) throw corrupt('the gzip stream uses an unknown compression method');
  // FTEXT/FHCRC/FEXTRA/FNAME/FCOMMENT and reserved bits: a bundle never sets any of them.
  if (data[3] !== 0) throw corrupt('the gzip header has flags set (file name, comment or extra fields); bundles have none');

  // Inflate the raw deflate body ourselves: unlike gunzip, this tells us exactly where the deflate
  // stream ended (zlib would silently skip trailing zeros and decode concatenated members).
  let out: Buffer;
  let consumed: number;
  try {
    const r = zlib.inflateRawSync(data.subarray(HEADER_SIZE), { info: true, maxOutputLength: opts.maxOutputBytes }) as unknown as {
      buffer: Buffer;
      engine: { bytesWritten: number };
    };
    out = r.buffer;
    consumed = r.engine.bytesWritten;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') {
      throw new BundleError('HM402', `the bundle decompresses to more than ${opts.maxOutputBytes} bytes`, { source });
    }
    if (code === 'Z_BUF_ERROR') throw corrupt('the gzip stream is truncated', err);
    throw corrupt(`the gzip stream is corrupt (${(err as Error).message})`, err);
  }
  const trailerAt = HEADER_SIZE + consumed;
  if (trailerAt + TRAILER_SIZE > data.length) throw corrupt('the gzip stream is truncated');
  if (trailerAt + TRAILER_SIZE < data.length) throw corrupt('the gzip stream has trailing data');
  if (data.readUInt32LE(trailerAt) !== crc32(out)) throw corrupt('the gzip CRC does not match the content');
  if (data.readUInt32LE(trailerAt + 4) !== out.length % 2 ** 32) throw corrupt('the gzip length does not match the content');
  return out;
}

let table: Uint32Array | undefined;

/** CRC-32 (IEEE), from zlib when this Node has it (>= 20.15), else a table-driven fallback. */
export function crc32(data: Buffer): number {
  if (typeof zlib.crc32 === 'function') return zlib.crc32(data) >>> 0;
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = (table[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
