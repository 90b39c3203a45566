// Public API of ed25519 key management.
export { KeyError, type KeyErrorInit } from './key-error.js';
export { keyId, publicKeyFromRaw, rawPublicKey, toPublicKey, RAW_PUBLIC_KEY_BYTES } from './key-id.js';
export { loadPrivateKey, loadPublicKey } from './key-files.js';
export { keyStoreAt, keyStoreFromEnv, resolveHamodHome, type KeyStore } from './hamod-home.js';
export {
  KEY_NAME,
  exportPublicKey,
  generateKey,
  keyPaths,
  listKeys,
  loadStoreKey,
  trustedPublicKeys,
  type GeneratedKey,
  type KeyListing,
  type KeyPaths,
} from './key-store.js';
