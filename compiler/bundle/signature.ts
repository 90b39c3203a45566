// manifest.sig: an ed25519 signature over the exact bytes of manifest.json, with the signer's raw
// public key embedded so a bundle can be verified on its own; whether that key is *trusted* is a
// separate decision (open-bundle.ts). Stored as canonical JSON:
//   {"algorithm":"ed25519","keyId":"<16 hex>","publicKey":"<base64, 32 bytes>","signature":"<base64, 64 bytes>"}
import { sign, verify, type KeyObject } from 'node:crypto';
import { KeyError } from '../keys/key-error.js';
import { keyId, publicKeyFromRaw, rawPublicKey, RAW_PUBLIC_KEY_BYTES } from '../keys/key-id.js';
import { BundleError } from './bundle-error.js';
import { CanonicalJsonError, canonicalJsonBytes, parseCanonicalJson } from './canonical-json.js';
import { SIGNATURE_PATH } from './manifest.js';

export const SIGNATURE_ALGORITHM = 'ed25519';
const SIGNATURE_BYTES = 64;

export interface SignatureDocument {
  algorithm: typeof SIGNATURE_ALGORITHM;
  keyId: string;
  publicKey: string;
  signature: string;
}

export interface Signer {
  keyId: string;
  publicKey: KeyObject;
}

/** Signs the manifest bytes; returns the canonical manifest.sig bytes. */
export function signManifest(manifestBytes: Buffer, privateKey: KeyObject): Buffer {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new KeyError('HM502', 'bundles are signed with an ed25519 private key');
  }
  const doc: SignatureDocument = {
    algorithm: SIGNATURE_ALGORITHM,
    keyId: keyId(privateKey),
    publicKey: rawPublicKey(privateKey).toString('base64'),
    // ed25519 hashes internally: node takes `null` as the digest algorithm.
    signature: sign(null, manifestBytes, privateKey).toString('base64'),
  };
  return canonicalJsonBytes(doc);
}

/** Checks manifest.sig against the manifest bytes; HM406 for anything malformed or not verifying. */
export function verifyManifestSignature(manifestBytes: Buffer, sigBytes: Buffer, source?: string): Signer {
  const invalid = (message: string): BundleError => new BundleError('HM406', message, { source, entry: SIGNATURE_PATH });
  let doc: unknown;
  try {
    doc = parseCanonicalJson(sigBytes);
  } catch (err) {
    if (err instanceof CanonicalJsonError) throw invalid(`manifest.sig ${err.message}`);
    throw err;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid('manifest.sig is not a JSON object');
  const d = doc as Record<string, unknown>;
  if (Object.keys(d).sort().join(',') !== 'algorithm,keyId,publicKey,signature') {
    throw invalid('manifest.sig must have exactly algorithm, keyId, publicKey and signature');
  }
  if (d['algorithm'] !== SIGNATURE_ALGORITHM) throw invalid(`manifest.sig uses algorithm ${JSON.stringify(d['algorithm'])}; expected "ed25519"`);
  const raw = strictBase64(d['publicKey']);
  if (raw?.length !== RAW_PUBLIC_KEY_BYTES) throw invalid('manifest.sig has a malformed publicKey');
  const signature = strictBase64(d['signature']);
  if (signature?.length !== SIGNATURE_BYTES) throw invalid('manifest.sig has a malformed signature');

  let publicKey: KeyObject;
  try {
    publicKey = publicKeyFromRaw(raw);
  } catch (err) {
    if (err instanceof KeyError) throw invalid('manifest.sig holds an invalid ed25519 public key');
    throw err;
  }
  const id = keyId(publicKey);
  if (d['keyId'] !== id) throw invalid(`manifest.sig keyId ${JSON.stringify(d['keyId'])} does not match its public key (${id})`);
  let ok: boolean;
  try {
    ok = verify(null, manifestBytes, publicKey, signature);
  } catch {
    ok = false;
  }
  if (!ok) throw invalid(`the signature by key ${id} does not match manifest.json: the manifest was modified or replaced`);
  return { keyId: id, publicKey };
}

/** Standard padded base64 that round-trips exactly (Buffer.from alone ignores junk characters). */
function strictBase64(v: unknown): Buffer | undefined {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) return undefined;
  const b = Buffer.from(v, 'base64');
  return b.toString('base64') === v ? b : undefined;
}
