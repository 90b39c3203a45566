// Raw ed25519 public keys and the short key id derived from them. The id is what people compare
// (`hamod keys list`, manifest.sig): the first 16 hex digits of sha256 over the 32 raw key bytes.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { KeyError } from './key-error.js';

export const RAW_PUBLIC_KEY_BYTES = 32;

/** The public half of `key` (a public or private ed25519 KeyObject). HM502 for anything else. */
export function toPublicKey(key: KeyObject, file?: string): KeyObject {
  if (key.type === 'secret' || key.asymmetricKeyType !== 'ed25519') {
    throw new KeyError('HM502', `expected an ed25519 key, got ${key.type === 'secret' ? 'a secret key' : `an ${key.asymmetricKeyType ?? 'unknown'} key`}`, { file });
  }
  return key.type === 'private' ? createPublicKey(key) : key;
}

/** The 32 raw bytes of an ed25519 public key (derived first when given the private key). */
export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = toPublicKey(key).export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new KeyError('HM502', 'the ed25519 key has no public component');
  return Buffer.from(jwk.x, 'base64url');
}

/** A public KeyObject from 32 raw bytes. HM502 when the bytes are not a valid ed25519 key. */
export function publicKeyFromRaw(raw: Buffer): KeyObject {
  if (raw.length !== RAW_PUBLIC_KEY_BYTES) {
    throw new KeyError('HM502', `an ed25519 public key is ${RAW_PUBLIC_KEY_BYTES} bytes, got ${raw.length}`);
  }
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  } catch {
    throw new KeyError('HM502', 'the bytes are not a valid ed25519 public key');
  }
}

/** First 16 hex characters of sha256(raw public key). */
export function keyId(publicKey: KeyObject): string {
  return createHash('sha256').update(rawPublicKey(publicKey)).digest('hex').slice(0, 16);
}
