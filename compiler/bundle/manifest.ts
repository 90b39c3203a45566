// manifest.json: what a bundle holds. The caller supplies the descriptive fields; `files` (sha256,
// size and mode of every payload file) is always computed here, never taken from the caller.
import { createHash } from 'node:crypto';
import { BundleError } from './bundle-error.js';
import { CanonicalJsonError, canonicalJsonBytes, parseCanonicalJson } from './canonical-json.js';
import { entryNameProblem, foldName } from './entry-name.js';
import { MODE_EXECUTABLE, MODE_FILE, type TarFileInput } from './tar.js';

export const MANIFEST_PATH = 'manifest.json';
export const SIGNATURE_PATH = 'manifest.sig';
/** The manifest format versions this code reads and writes. */
export const FORMAT_VERSION = 1;

export interface ManifestFile {
  /** Lower-case hex sha256 of the content. */
  sha256: string;
  size: number;
  /** 0o644 or 0o755. */
  mode: number;
}

export interface Manifest {
  formatVersion: 1;
  files: Record<string, ManifestFile>;
  [k: string]: unknown;
}

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** True for manifest.json / manifest.sig and anything colliding with them once folded. */
export function isReservedPath(path: string): boolean {
  const folded = foldName(path);
  return folded === MANIFEST_PATH || folded === SIGNATURE_PATH;
}

/** The full manifest for `input` plus the payload files, and its canonical bytes. */
export function buildManifest(
  input: Record<string, unknown>,
  files: readonly TarFileInput[],
  source?: string,
): { manifest: Manifest; bytes: Buffer } {
  const invalid = (message: string): BundleError => new BundleError('HM403', message, { source, entry: MANIFEST_PATH });
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalid('the manifest must be an object');
  if (Object.hasOwn(input, 'files')) throw invalid('the manifest must not set "files"; it is computed from the payload');
  if (input['formatVersion'] !== FORMAT_VERSION) {
    throw invalid(`the manifest must have formatVersion ${FORMAT_VERSION}`);
  }
  for (const f of files) {
    if (isReservedPath(f.path)) {
      throw new BundleError('HM402', `payload file ${JSON.stringify(f.path)} uses a name reserved for the bundle's own metadata`, { source });
    }
  }
  // Object.fromEntries defines own properties, so even a file named "__proto__" is just a key.
  const entries = Object.fromEntries(
    files.map((f): [string, ManifestFile] => [
      f.path,
      { sha256: sha256Hex(f.data), size: f.data.length, mode: f.executable ? MODE_EXECUTABLE : MODE_FILE },
    ]),
  );
  const manifest = { ...input, formatVersion: FORMAT_VERSION, files: entries } as Manifest;
  let bytes: Buffer;
  try {
    bytes = canonicalJsonBytes(manifest);
  } catch (err) {
    if (err instanceof CanonicalJsonError) throw invalid(`the manifest cannot be written as canonical JSON: ${err.message}`);
    throw err;
  }
  return { manifest, bytes };
}

/** Parses and validates manifest.json bytes (HM403 for anything wrong). */
export function parseManifest(bytes: Buffer, opts: { source?: string | undefined; maxDepth: number }): Manifest {
  const invalid = (message: string): BundleError => new BundleError('HM403', message, { source: opts.source, entry: MANIFEST_PATH });
  let value: unknown;
  try {
    value = parseCanonicalJson(bytes);
  } catch (err) {
    if (err instanceof CanonicalJsonError) throw invalid(`manifest.json ${err.message}`);
    throw err;
  }
  if (!isPlainObject(value)) throw invalid('manifest.json is not a JSON object');
  const version = value['formatVersion'];
  if (version === undefined) throw invalid('manifest.json has no formatVersion');
  if (version !== FORMAT_VERSION) {
    throw invalid(`manifest.json has formatVersion ${JSON.stringify(version)}; this hamod reads version ${FORMAT_VERSION}`);
  }
  const files = value['files'];
  if (!isPlainObject(files)) throw invalid('manifest.json has no "files" object');
  for (const [path, entry] of Object.entries(files)) {
    const shown = JSON.stringify(path);
    const problem = entryNameProblem(path, opts.maxDepth);
    if (problem) throw invalid(`manifest.json lists a file whose name ${problem}: ${shown}`);
    if (isReservedPath(path)) throw invalid(`manifest.json lists the reserved name ${shown}`);
    if (!isPlainObject(entry)) throw invalid(`manifest.json entry ${shown} is not an object`);
    const keys = Object.keys(entry).sort().join(',');
    if (keys !== 'mode,sha256,size') throw invalid(`manifest.json entry ${shown} must have exactly mode, sha256 and size`);
    const { sha256, size, mode } = entry;
    if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) throw invalid(`manifest.json entry ${shown} has an invalid sha256`);
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(`manifest.json entry ${shown} has an invalid size`);
    if (mode !== MODE_FILE && mode !== MODE_EXECUTABLE) throw invalid(`manifest.json entry ${shown} has mode ${String(mode)}; expected 420 (0644) or 493 (0755)`);
  }
  return value as Manifest;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
