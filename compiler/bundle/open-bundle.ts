// Opening a bundle, in an order where each step only trusts what the previous one checked:
//   gunzip (bounded) -> strict tar read -> manifest (HM403) -> signature present (HM408) and valid
//   (HM406) -> signer trusted (HM407) -> same file set as the manifest (HM405) -> each file's size,
//   sha256 and mode (HM404).
import type { KeyObject } from 'node:crypto';
import { rawPublicKey } from '../keys/key-id.js';
import { BundleError } from './bundle-error.js';
import { parentsOf } from './entry-name.js';
import { gunzipBounded } from './gzip.js';
import { MANIFEST_PATH, SIGNATURE_PATH, parseManifest, sha256Hex, type Manifest } from './manifest.js';
import { verifyManifestSignature } from './signature.js';
import { maxArchiveBytes, readTar, resolveLimits, type TarLimits } from './tar.js';

export interface OpenBundleOptions {
  /** Public keys accepted as signers. */
  trustedKeys?: KeyObject[];
  /**
   * Refuse (HM407) a bundle whose signer is not in trustedKeys. Defaults to true when trustedKeys
   * is given and false otherwise; true without trustedKeys refuses every bundle (fail closed).
   */
  requireTrusted?: boolean;
  limits?: Partial<TarLimits>;
  /** Name of the bundle in diagnostics (its path); default 'bundle'. */
  source?: string;
}

export interface OpenedBundle {
  manifest: Manifest;
  /** Payload files by path (manifest.json and manifest.sig excluded). Views into one buffer. */
  files: Map<string, Buffer>;
  signer: { keyId: string; publicKey: KeyObject; trusted: boolean };
}

export function openBundle(buf: Buffer, opts: OpenBundleOptions = {}): OpenedBundle {
  const { source } = opts;
  const limits = resolveLimits(opts.limits);
  const tar = gunzipBounded(buf, { maxOutputBytes: maxArchiveBytes(limits), source });
  const entries = readTar(tar, { limits, ...(source !== undefined && { source }) });

  const fileEntries = new Map<string, Buffer>();
  const dirs: string[] = [];
  for (const e of entries) {
    if (e.type === 'file') fileEntries.set(e.path, e.data);
    else dirs.push(e.path);
  }
  const modes = new Map(entries.map((e) => [e.path, e.mode]));

  const manifestBytes = fileEntries.get(MANIFEST_PATH);
  if (!manifestBytes) throw new BundleError('HM403', 'the bundle has no manifest.json', { source });
  const manifest = parseManifest(manifestBytes, { source, maxDepth: limits.maxDepth });

  const sigBytes = fileEntries.get(SIGNATURE_PATH);
  if (!sigBytes) throw new BundleError('HM408', 'the bundle is not signed: it has no manifest.sig', { source });
  const signer = verifyManifestSignature(manifestBytes, sigBytes, source);

  const trusted = isTrusted(signer.publicKey, opts.trustedKeys);
  const requireTrusted = opts.requireTrusted ?? opts.trustedKeys !== undefined;
  if (requireTrusted && !trusted) {
    throw new BundleError('HM407', `the bundle is signed by key ${signer.keyId}, which is not trusted`, {
      source,
      hint: 'verify the signer, then add its public key to the trusted keys or pass it with --key',
    });
  }

  // The file set: exactly the manifest's files, plus only the directories above them.
  const listed = Object.keys(manifest.files).sort();
  const listedSet = new Set(listed);
  const payload = [...fileEntries.keys()].filter((p) => p !== MANIFEST_PATH && p !== SIGNATURE_PATH).sort();
  const extra = payload.filter((p) => !listedSet.has(p));
  const missing = listed.filter((p) => !fileEntries.has(p));
  if (extra.length > 0) throw setMismatch(extra, 'is in the archive but not in the manifest', source);
  if (missing.length > 0) throw setMismatch(missing, 'is in the manifest but not in the archive', source);
  const neededDirs = new Set(listed.flatMap(parentsOf));
  const strayDirs = dirs.filter((d) => !neededDirs.has(d)).sort();
  if (strayDirs.length > 0) throw setMismatch(strayDirs, 'is a directory in the archive holding no file of the manifest', source);

  const files = new Map<string, Buffer>();
  for (const path of listed) {
    const expected = manifest.files[path];
    const data = fileEntries.get(path);
    if (!expected || !data) continue; // unreachable: both checked above
    const mismatch = (message: string, exp: string, act: string): BundleError =>
      new BundleError('HM404', message, { source, entry: path, expected: exp, actual: act });
    if (data.length !== expected.size) {
      throw mismatch(`${path} is ${data.length} bytes but the manifest says ${expected.size}: the bundle was modified`, String(expected.size), String(data.length));
    }
    const digest = sha256Hex(data);
    if (digest !== expected.sha256) {
      throw mismatch(`the sha256 of ${path} does not match the manifest: the bundle was modified`, expected.sha256, digest);
    }
    const mode = modes.get(path) ?? 0;
    if (mode !== expected.mode) {
      throw mismatch(`${path} has mode ${mode.toString(8)} but the manifest says ${expected.mode.toString(8)}`, expected.mode.toString(8), mode.toString(8));
    }
    files.set(path, data);
  }
  return { manifest, files, signer: { ...signer, trusted } };
}

function isTrusted(publicKey: KeyObject, trustedKeys: KeyObject[] | undefined): boolean {
  if (!trustedKeys) return false;
  const raw = rawPublicKey(publicKey);
  return trustedKeys.some((k) => rawPublicKey(k).equals(raw));
}

function setMismatch(paths: string[], what: string, source: string | undefined): BundleError {
  const first = paths[0] ?? '';
  const more = paths.length > 1 ? ` (and ${paths.length - 1} more)` : '';
  return new BundleError('HM405', `${first} ${what}${more}`, { source, entry: first });
}
