// The POSIX ustar header block: field layout, octal numbers and the checksum. Encoding never
// validates names (tests use it to craft hostile archives); decoding checks the block is a
// well-formed ustar header and leaves every policy decision (types, names, limits) to tar.ts.

export const BLOCK_SIZE = 512;

/** Offsets and widths of the ustar header fields (POSIX.1-1988). */
const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

type Field = keyof typeof F;

export const TYPE_FILE = '0';
export const TYPE_DIRECTORY = '5';
/** Largest value an 11-digit octal field (size, mtime) can hold. */
export const MAX_OCTAL_11 = 8 ** 11 - 1;

export interface HeaderInit {
  /** Full path; directories conventionally end with '/'. Bytes are written as given. */
  name: string | Buffer;
  mode: number;
  size: number;
  mtime: number;
  typeflag: string;
  uid?: number;
  gid?: number;
  linkname?: string;
  uname?: string;
  gname?: string;
}

export interface DecodedHeader {
  /** prefix + '/' + name, trailing NULs removed; raw bytes, not yet decoded as UTF-8. */
  name: Buffer;
  mode: number;
  size: number;
  mtime: number;
  typeflag: string;
  /** Link target, trailing NULs removed. */
  linkname: Buffer;
}

/**
 * Splits a path into ustar's 155-byte prefix and 100-byte name at a '/', or returns undefined when
 * it cannot be stored. Deterministic: the shortest prefix that leaves a name of at most 100 bytes.
 */
export function splitUstarName(path: Buffer): { prefix: Buffer; name: Buffer } | undefined {
  if (path.length <= F.name[1]) return { prefix: Buffer.alloc(0), name: path };
  for (let i = 0; i < path.length && i <= F.prefix[1]; i++) {
    if (path[i] !== 0x2f) continue;
    const rest = path.length - i - 1;
    if (rest > 0 && rest <= F.name[1]) return { prefix: path.subarray(0, i), name: path.subarray(i + 1) };
  }
  return undefined;
}

/** Builds one header block. Throws RangeError when a value does not fit its field. */
export function encodeHeader(h: HeaderInit): Buffer {
  const block = Buffer.alloc(BLOCK_SIZE);
  const path = typeof h.name === 'string' ? Buffer.from(h.name, 'utf8') : h.name;
  const split = splitUstarName(path);
  if (!split) throw new RangeError(`path of ${path.length} bytes cannot be stored in a ustar header`);
  putBytes(block, 'name', split.name);
  putBytes(block, 'prefix', split.prefix);
  putOctal(block, 'mode', h.mode);
  putOctal(block, 'uid', h.uid ?? 0);
  putOctal(block, 'gid', h.gid ?? 0);
  putOctal(block, 'size', h.size);
  putOctal(block, 'mtime', h.mtime);
  putBytes(block, 'typeflag', Buffer.from(h.typeflag, 'latin1'));
  putBytes(block, 'linkname', Buffer.from(h.linkname ?? '', 'utf8'));
  putBytes(block, 'magic', Buffer.from('ustar\0', 'latin1'));
  putBytes(block, 'version', Buffer.from('00', 'latin1'));
  putBytes(block, 'uname', Buffer.from(h.uname ?? '', 'utf8'));
  putBytes(block, 'gname', Buffer.from(h.gname ?? '', 'utf8'));
  putOctal(block, 'devmajor', 0);
  putOctal(block, 'devminor', 0);
  // Checksum: six octal digits, NUL, space (the form GNU tar and bsdtar write).
  const sum = checksum(block);
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, F.chksum[0], 'latin1');
  return block;
}

/** Sum of the header bytes with the checksum field counted as eight spaces. */
export function checksum(block: Buffer): number {
  let sum = 0;
  const [start, width] = F.chksum;
  for (let i = 0; i < BLOCK_SIZE; i++) sum += i >= start && i < start + width ? 0x20 : (block[i] as number);
  return sum;
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/** Decodes one non-zero header block, or says why it is not a valid ustar header. */
export function decodeHeader(block: Buffer): { header: DecodedHeader } | { problem: string } {
  const stored = parseOctal(field(block, 'chksum'));
  if (stored === undefined) return { problem: 'has an unreadable checksum field' };
  if (stored !== checksum(block)) return { problem: 'has a wrong checksum' };
  if (!field(block, 'magic').equals(Buffer.from('ustar\0', 'latin1')) || !field(block, 'version').equals(Buffer.from('00', 'latin1'))) {
    return { problem: 'is not a POSIX ustar header (old or GNU tar format)' };
  }
  const numbers: Partial<Record<'mode' | 'size' | 'mtime' | 'uid' | 'gid', number>> = {};
  for (const f of ['mode', 'size', 'mtime', 'uid', 'gid'] as const) {
    const raw = field(block, f);
    const v = parseOctal(raw);
    if (v === undefined) {
      return { problem: (raw[0] ?? 0) & 0x80 ? `uses a base-256 ${f} field (GNU extension)` : `has an invalid ${f} field` };
    }
    numbers[f] = v;
  }
  const name = trimNuls(field(block, 'name'));
  const prefix = trimNuls(field(block, 'prefix'));
  return {
    header: {
      name: prefix.length > 0 ? Buffer.concat([prefix, Buffer.from('/'), name]) : name,
      mode: numbers.mode ?? 0,
      size: numbers.size ?? 0,
      mtime: numbers.mtime ?? 0,
      typeflag: String.fromCharCode(block[F.typeflag[0]] ?? 0),
      linkname: trimNuls(field(block, 'linkname')),
    },
  };
}

function field(block: Buffer, f: Field): Buffer {
  const [start, width] = F[f];
  return block.subarray(start, start + width);
}

function putBytes(block: Buffer, f: Field, bytes: Buffer): void {
  const [start, width] = F[f];
  if (bytes.length > width) throw new RangeError(`${f} does not fit in ${width} bytes`);
  bytes.copy(block, start);
}

/** Zero-padded octal digits filling the field, then a NUL. */
function putOctal(block: Buffer, f: Field, value: number): void {
  const [start, width] = F[f];
  const digits = value.toString(8).padStart(width - 1, '0');
  if (!Number.isSafeInteger(value) || value < 0 || digits.length > width - 1) {
    throw new RangeError(`${f} ${value} does not fit in a ${width}-byte octal field`);
  }
  block.write(`${digits}\0`, start, 'latin1');
}

/** Strict octal: optional leading spaces, at least one digit, then only NULs or spaces. */
function parseOctal(raw: Buffer): number | undefined {
  const m = /^ *([0-7]+)[ \0]*$/.exec(raw.toString('latin1'));
  if (!m?.[1]) return undefined;
  return parseInt(m[1], 8);
}

/** Drops trailing NULs only; a NUL followed by other bytes stays and is refused later. */
function trimNuls(b: Buffer): Buffer {
  let end = b.length;
  while (end > 0 && b[end - 1] === 0) end--;
  return b.subarray(0, end);
}
