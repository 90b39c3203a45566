// The cluster shared secret: 32 random bytes (cluster.secret, 0600, raw binary), from which the
// heartbeat authentication key is derived (HKDF, see transport/heartbeat-codec.ts). Created once by
// `hamod cluster init`; copied to every node with `readClusterSecret` + `installClusterSecret`.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ensurePrivateDir, installFile, PKI_FILES, readPkiFile } from './files.js';
import { PkiError } from './pki-error.js';

export const CLUSTER_SECRET_BYTES = 32;

/** Creates `dir`/cluster.secret (EXISTS if present) and returns its path. */
export async function createClusterSecret(dir: string): Promise<string> {
  const secret = randomBytes(CLUSTER_SECRET_BYTES);
  try {
    return await installClusterSecret(dir, secret);
  } finally {
    secret.fill(0);
  }
}

/** Writes a given secret (copied from the first node) as `dir`/cluster.secret; `replace` to overwrite. */
export async function installClusterSecret(dir: string, secret: Uint8Array, replace = false): Promise<string> {
  if (secret.length !== CLUSTER_SECRET_BYTES) throw new PkiError('INVALID_INPUT', `a cluster secret is ${CLUSTER_SECRET_BYTES} bytes, got ${secret.length}`);
  const file = join(dir, PKI_FILES.secret);
  await ensurePrivateDir(dir);
  await installFile(file, secret, 0o600, replace);
  return file;
}

/** Reads `dir`/cluster.secret: a 0600 file of exactly 32 bytes. */
export async function readClusterSecret(dir: string): Promise<Buffer> {
  const file = join(dir, PKI_FILES.secret);
  const secret = await readPkiFile(file, 'private', 'cluster secret');
  if (secret.length !== CLUSTER_SECRET_BYTES) {
    secret.fill(0);
    throw new PkiError('INVALID_FILE', `cluster secret must be ${CLUSTER_SECRET_BYTES} bytes`, { file });
  }
  return secret;
}
