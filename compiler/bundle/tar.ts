// Our own minimal ustar archive writer and strict reader. Bundles only ever hold regular files and
// the directories above them, so the reader refuses everything else rather than interpreting it:
// links, devices, pax and GNU extensions, unsafe or colliding names, and anything over a limit.
// The writer is deterministic: two calls with the same files produce the same bytes.
import { BundleError, quoteName } from './bundle-error.js';
import { EntrySet, entryNameProblem, parentsOf, type EntryType } from './entry-name.js';
import {
  BLOCK_SIZE,
  MAX_OCTAL_11,
  TYPE_DIRECTORY,
  TYPE_FILE,
  decodeHeader,
  encodeHeader,
  isZeroBlock,
  splitUstarName,
} from './tar-header.js';

const MiB = 1024 * 1024;

export interface TarLimits {
  /** Entries in the archive, directories included. */
  maxEntries: number;
  /** Size of any single file. */
  maxFileBytes: number;
  /** Sum of all file sizes. */
  maxTotalBytes: number;
  /** Path segments of any entry ('a/b/c' is 3). */
  maxDepth: number;
}

export const DEFAULT_TAR_LIMITS: Readonly<TarLimits> = Object.freeze({
  maxEntries: 10_000,
  maxFileBytes: 64 * MiB,
  maxTotalBytes: 256 * MiB,
  maxDepth: 32,
});

export function resolveLimits(limits: Partial<TarLimits> = {}): TarLimits {
  return { ...DEFAULT_TAR_LIMITS, ...limits };
}

/** Largest archive the limits allow: data + one header and at most 511 padding bytes per entry + end. */
export function maxArchiveBytes(limits: TarLimits): number {
  return limits.maxTotalBytes + limits.maxEntries * (2 * BLOCK_SIZE) + 2 * BLOCK_SIZE;
}

export const MODE_FILE = 0o644;
export const MODE_EXECUTABLE = 0o755;
export const MODE_DIRECTORY = 0o755;

export interface TarFileInput {
  path: string;
  data: Buffer;
  executable?: boolean;
}

export interface WriteTarOptions {
  /** Modification time of every entry, in seconds since the epoch; default sourceDateEpoch() ?? 0. */
  mtime?: number;
  limits?: Partial<TarLimits>;
  /** Name of the archive in error messages. */
  source?: string;
}

export interface TarEntry {
  /** Relative path, without a trailing slash for directories. */
  path: string;
  type: EntryType;
  /** Permission bits (never setuid, setgid or sticky). */
  mode: number;
  /** File content: a view into the archive buffer, not a copy. Empty for directories. */
  data: Buffer;
}

export interface ReadTarOptions {
  limits?: Partial<TarLimits>;
  source?: string;
}

/**
 * The SOURCE_DATE_EPOCH convention (reproducible-builds.org): a decimal number of seconds. Unset
 * or empty gives undefined; a malformed value is an error rather than silently ignored.
 */
export function sourceDateEpoch(env: Record<string, string | undefined> = process.env): number | undefined {
  const raw = env['SOURCE_DATE_EPOCH'];
  if (raw === undefined || raw === '') return undefined;
  const value = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value > MAX_OCTAL_11) {
    throw new BundleError('HM505', `SOURCE_DATE_EPOCH must be a whole number of seconds between 0 and ${MAX_OCTAL_11}`, {
      source: 'SOURCE_DATE_EPOCH',
      actual: raw,
    });
  }
  return value;
}

/**
 * Writes a ustar archive: every parent directory gets its own entry, entries are sorted by the
 * bytes of their path, owner 0:0 with empty names, one fixed mtime, modes 0644/0755, and the
 * archive ends with two zero blocks. Refuses (HM402) any name the reader would refuse.
 */
export function writeTar(files: readonly TarFileInput[], opts: WriteTarOptions = {}): Buffer {
  const limits = resolveLimits(opts.limits);
  const source = opts.source;
  const mtime = opts.mtime ?? sourceDateEpoch() ?? 0;
  if (!Number.isSafeInteger(mtime) || mtime < 0 || mtime > MAX_OCTAL_11) {
    throw new RangeError(`mtime ${mtime} is not a valid ustar timestamp`);
  }

  const set = new EntrySet();
  const dirs = new Set<string>();
  let total = 0;
  for (const f of files) {
    const problem = entryNameProblem(f.path, limits.maxDepth) ?? set.add(f.path, 'file');
    if (problem) throw new BundleError('HM402', `cannot add ${quoteName(f.path)}: the name ${problem}`, { source });
    if (f.data.length > limits.maxFileBytes) {
      throw new BundleError('HM402', `cannot add ${quoteName(f.path)}: ${f.data.length} bytes is over the ${limits.maxFileBytes}-byte file limit`, { source });
    }
    total += f.data.length;
    for (const p of parentsOf(f.path)) dirs.add(p);
  }
  if (total > limits.maxTotalBytes) {
    throw new BundleError('HM402', `the files total ${total} bytes, over the ${limits.maxTotalBytes}-byte limit`, { source });
  }
  if (files.length + dirs.size > limits.maxEntries) {
    throw new BundleError('HM402', `the archive would have ${files.length + dirs.size} entries, over the limit of ${limits.maxEntries}`, { source });
  }

  const headerName = (path: string, type: EntryType): Buffer => {
    const name = ustarName(path, type);
    if (!name) throw new BundleError('HM402', `cannot add ${quoteName(path)}: a path segment is too long for a ustar header`, { source });
    return name;
  };
  type Item = { key: Buffer; header: Buffer; data?: Buffer };
  const items: Item[] = [];
  for (const d of dirs) {
    items.push({
      key: Buffer.from(d, 'utf8'),
      header: encodeHeader({ name: headerName(d, 'directory'), mode: MODE_DIRECTORY, size: 0, mtime, typeflag: TYPE_DIRECTORY }),
    });
  }
  for (const f of files) {
    const mode = f.executable ? MODE_EXECUTABLE : MODE_FILE;
    items.push({
      key: Buffer.from(f.path, 'utf8'),
      header: encodeHeader({ name: headerName(f.path, 'file'), mode, size: f.data.length, mtime, typeflag: TYPE_FILE }),
      data: f.data,
    });
  }
  // Byte order of the UTF-8 path (not UTF-16 order): the same on every platform and locale.
  items.sort((a, b) => Buffer.compare(a.key, b.key));

  const chunks: Buffer[] = [];
  for (const item of items) {
    chunks.push(item.header);
    if (item.data && item.data.length > 0) {
      chunks.push(item.data);
      const pad = padding(item.data.length);
      if (pad > 0) chunks.push(Buffer.alloc(pad));
    }
  }
  chunks.push(Buffer.alloc(2 * BLOCK_SIZE));
  return Buffer.concat(chunks);
}

/**
 * The bytes stored for a path, or undefined when ustar cannot hold it. A directory gets the
 * conventional trailing '/' when it fits; its type flag alone marks it as a directory, so a
 * directory whose name only fits without the slash is stored without it.
 */
function ustarName(path: string, type: EntryType): Buffer | undefined {
  const candidates = type === 'directory' ? [`${path}/`, path] : [path];
  for (const c of candidates) {
    const bytes = Buffer.from(c, 'utf8');
    if (splitUstarName(bytes)) return bytes;
  }
  return undefined;
}

const TYPE_NAMES: Record<string, string> = {
  '1': 'a hard link',
  '2': 'a symbolic link',
  '3': 'a character device',
  '4': 'a block device',
  '6': 'a FIFO',
  '7': 'a contiguous file',
  x: 'a pax extended header',
  g: 'a pax global header',
  L: 'a GNU long-name entry',
  K: 'a GNU long-link entry',
};

/**
 * Reads a ustar archive strictly. Corrupt structure (checksum, truncation, garbage after the end
 * marker, non-ustar headers) is HM401; entries that are not allowed are HM402.
 */
export function readTar(archive: Buffer, opts: ReadTarOptions = {}): TarEntry[] {
  const limits = resolveLimits(opts.limits);
  const source = opts.source;
  const corrupt = (message: string): BundleError => new BundleError('HM401', message, { source });
  const unsafe = (message: string): BundleError => new BundleError('HM402', message, { source });

  if (archive.length % BLOCK_SIZE !== 0) {
    throw corrupt(`the archive is truncated: ${archive.length} bytes is not a whole number of ${BLOCK_SIZE}-byte blocks`);
  }
  const entries: TarEntry[] = [];
  const set = new EntrySet();
  let total = 0;
  let offset = 0;
  for (;;) {
    if (offset + BLOCK_SIZE > archive.length) throw corrupt('the archive is truncated: it ends without the end-of-archive marker');
    const block = archive.subarray(offset, offset + BLOCK_SIZE);
    if (isZeroBlock(block)) {
      if (offset + 2 * BLOCK_SIZE > archive.length) throw corrupt('the archive is truncated: the end-of-archive marker is incomplete');
      if (!isZeroBlock(archive.subarray(offset + BLOCK_SIZE, offset + 2 * BLOCK_SIZE))) {
        throw corrupt(`a lone zero block at offset ${offset} is followed by more data`);
      }
      if (!isZeroBlock(archive.subarray(offset + 2 * BLOCK_SIZE))) {
        throw corrupt(`the archive has trailing data after the end-of-archive marker at offset ${offset}`);
      }
      return entries;
    }

    const decoded = decodeHeader(block);
    if ('problem' in decoded) throw corrupt(`the header at offset ${offset} ${decoded.problem}`);
    const h = decoded.header;
    const shown = quoteName(h.name.toString('utf8'));

    if (entries.length >= limits.maxEntries) throw unsafe(`the archive has more than ${limits.maxEntries} entries`);
    let type: EntryType;
    if (h.typeflag === TYPE_FILE || h.typeflag === '\0') type = 'file';
    else if (h.typeflag === TYPE_DIRECTORY) type = 'directory';
    else {
      const what = TYPE_NAMES[h.typeflag] ?? `of unsupported type ${quoteName(h.typeflag)}`;
      throw unsafe(`entry ${shown} is ${what}; only regular files and directories are allowed`);
    }

    if (type === 'directory' && h.size !== 0) throw corrupt(`directory entry ${shown} has a non-zero size`);
    if (h.size > limits.maxFileBytes) throw unsafe(`entry ${shown} is ${h.size} bytes, over the ${limits.maxFileBytes}-byte file limit`);
    total += h.size;
    if (total > limits.maxTotalBytes) throw unsafe(`the files total more than the ${limits.maxTotalBytes}-byte limit (at entry ${shown})`);

    let name: string;
    try {
      name = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(h.name);
    } catch {
      throw unsafe(`entry ${shown} has a name that is not valid UTF-8`);
    }
    // A directory's name ends with one '/', which is not part of the path.
    if (type === 'directory' && name.endsWith('/')) name = name.slice(0, -1);
    const nameProblem = entryNameProblem(name, limits.maxDepth);
    if (nameProblem) throw unsafe(`entry ${shown} ${nameProblem}`);
    if (h.linkname.length > 0) throw unsafe(`entry ${shown} has a link target`);
    if (h.mode & ~0o777) throw unsafe(`entry ${shown} has setuid, setgid or sticky mode bits (${h.mode.toString(8)})`);

    const start = offset + BLOCK_SIZE;
    const end = start + h.size;
    const next = end + padding(h.size);
    if (next > archive.length) throw corrupt(`the archive is truncated inside entry ${shown}`);
    if (!isZeroBlock(archive.subarray(end, next))) throw corrupt(`entry ${shown} has non-zero padding`);

    const clash = set.add(name, type);
    if (clash) throw unsafe(`entry ${shown} ${clash}`);
    entries.push({ path: name, type, mode: h.mode, data: archive.subarray(start, end) });
    offset = next;
  }
}

function padding(size: number): number {
  return (BLOCK_SIZE - (size % BLOCK_SIZE)) % BLOCK_SIZE;
}
