// Rules for names inside a bundle archive, shared by the tar writer (so we never produce a bundle
// we would refuse to open) and the strict reader (so a hostile archive cannot escape the
// extraction directory or overwrite one of its own files on a case-insensitive file system).

/** ustar stores at most a 155-byte prefix + '/' + a 100-byte name; we cap paths at 255 bytes. */
export const MAX_PATH_BYTES = 255;

export type EntryType = 'file' | 'directory';

/**
 * Returns why `name` is not a safe relative path, or undefined when it is. `name` has no trailing
 * slash (the tar layer strips the one a directory entry carries).
 */
export function entryNameProblem(name: string, maxDepth: number): string | undefined {
  if (name === '') return 'has an empty name';
  if (name.includes('\0')) return 'contains a NUL byte';
  if (/[\x00-\x1f\x7f]/.test(name)) return 'contains a control character';
  if (/\p{Surrogate}/u.test(name)) return 'is not valid Unicode';
  if (name.includes('\\')) return 'contains a backslash';
  if (name.startsWith('/')) return 'is an absolute path';
  if (/^[A-Za-z]:/.test(name)) return 'starts with a drive letter';
  const segments = name.split('/');
  if (segments.includes('')) return 'has an empty path segment';
  if (segments.includes('..')) return 'has a ".." segment';
  if (segments.includes('.')) return 'has a "." segment';
  if (segments.length > maxDepth) return `is nested ${segments.length} levels deep (limit ${maxDepth})`;
  if (Buffer.byteLength(name, 'utf8') > MAX_PATH_BYTES) return `is longer than ${MAX_PATH_BYTES} bytes`;
  return undefined;
}

/**
 * The key two names collide under on common file systems: Unicode NFC (macOS stores NFD) and
 * case folding (macOS and Windows are case-insensitive by default).
 */
export function foldName(name: string): string {
  return name.normalize('NFC').toLowerCase().normalize('NFC');
}

/** Parent directories of a slash-separated path, outermost first: 'a/b/c' -> ['a', 'a/b']. */
export function parentsOf(name: string): string[] {
  const out: string[] = [];
  let i = name.indexOf('/');
  while (i !== -1) {
    out.push(name.slice(0, i));
    i = name.indexOf('/', i + 1);
  }
  return out;
}

/**
 * Accumulates the names of an archive and refuses any that would clash on disk: exact duplicates,
 * a file that is also a directory (or the parent of another entry), and names equal after folding.
 * Directories implied by a file's path count as names too, so 'A/x' and 'a/y' collide.
 */
export class EntrySet {
  private readonly files = new Set<string>();
  private readonly explicitDirs = new Set<string>();
  private readonly impliedDirs = new Set<string>();
  /** folded name -> the exact name first seen with that fold */
  private readonly folded = new Map<string, string>();

  /** Registers a validated name; returns why it clashes, or undefined. */
  add(name: string, type: EntryType): string | undefined {
    if (type === 'file') {
      if (this.files.has(name)) return 'appears twice';
      if (this.explicitDirs.has(name) || this.impliedDirs.has(name)) return 'is both a file and a directory';
    } else {
      if (this.explicitDirs.has(name)) return 'appears twice';
      if (this.files.has(name)) return 'is both a file and a directory';
    }
    for (const parent of parentsOf(name)) {
      if (this.files.has(parent)) return `is inside ${JSON.stringify(parent)}, which is a file`;
    }
    for (const n of [...parentsOf(name), name]) {
      const key = foldName(n);
      const seen = this.folded.get(key);
      if (seen !== undefined && seen !== n) {
        return `collides with ${JSON.stringify(seen)} on case-insensitive or normalising file systems`;
      }
    }
    // Only commit once every check passed, so a refused name leaves the set unchanged.
    for (const parent of parentsOf(name)) {
      this.impliedDirs.add(parent);
      this.folded.set(foldName(parent), parent);
    }
    this.folded.set(foldName(name), name);
    (type === 'file' ? this.files : this.explicitDirs).add(name);
    return undefined;
  }
}
