// Public API of the bundle format: a gzip'd ustar archive holding manifest.json (canonical JSON
// listing every payload file's sha256, size and mode), manifest.sig (ed25519 over the manifest
// bytes) and the payload files.
export { BundleError, type BundleErrorInit } from './bundle-error.js';
export { createBundle, type CreateBundleOptions } from './create-bundle.js';
export { openBundle, type OpenBundleOptions, type OpenedBundle } from './open-bundle.js';
export { extractBundleSafely, type ExtractedBundle } from './extract-bundle.js';
export { FORMAT_VERSION, MANIFEST_PATH, SIGNATURE_PATH, type Manifest, type ManifestFile } from './manifest.js';
export { DEFAULT_TAR_LIMITS, type TarLimits } from './tar.js';
