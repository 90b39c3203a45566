// Writing a bundle: compute the manifest, sign its canonical bytes, pack everything into a
// deterministic ustar archive and gzip it. Same inputs (in any order) -> same bytes.
import type { KeyObject } from 'node:crypto';
import { gzipDeterministic } from './gzip.js';
import { MANIFEST_PATH, SIGNATURE_PATH, buildManifest } from './manifest.js';
import { signManifest } from './signature.js';
import { writeTar, type TarFileInput, type TarLimits } from './tar.js';

export interface CreateBundleOptions {
  /** Manifest fields; must include formatVersion: 1 and must not include files. */
  manifest: Record<string, unknown>;
  /** Payload files; paths are relative, '/'-separated. */
  files: Array<{ path: string; data: Buffer; executable?: boolean }>;
  /** ed25519 private key. */
  privateKey: KeyObject;
  /** Timestamp of every archive entry; default SOURCE_DATE_EPOCH, else 0. */
  mtime?: number;
  limits?: Partial<TarLimits>;
  /** Name of the bundle in error messages; default 'bundle'. */
  source?: string;
}

export function createBundle(opts: CreateBundleOptions): Buffer {
  const payload: TarFileInput[] = opts.files.map((f) => ({ path: f.path, data: f.data, executable: f.executable === true }));
  const { bytes: manifestBytes } = buildManifest(opts.manifest, payload, opts.source);
  const sigBytes = signManifest(manifestBytes, opts.privateKey);
  const tar = writeTar(
    [
      { path: MANIFEST_PATH, data: manifestBytes },
      { path: SIGNATURE_PATH, data: sigBytes },
      ...payload,
    ],
    {
      ...(opts.mtime !== undefined && { mtime: opts.mtime }),
      ...(opts.limits !== undefined && { limits: opts.limits }),
      ...(opts.source !== undefined && { source: opts.source }),
    },
  );
  return gzipDeterministic(tar);
}
