// The key store in $HAMOD_HOME/keys: NAME.key (PKCS#8 PEM, created 0600 through the open flags so
// it is never readable by others, not even for an instant) and NAME.pub (SPKI PEM, 0644).
// Trusted signers' public keys live in $HAMOD_HOME/trusted/*.pub.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { Stats } from 'node:fs';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KeyError } from './key-error.js';
import { loadPrivateKey, loadPublicKey } from './key-files.js';
import { keyId, rawPublicKey, toPublicKey } from './key-id.js';
import type { KeyStore } from './hamod-home.js';

export const KEY_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export interface KeyPaths {
  privateKey: string;
  publicKey: string;
}

export interface GeneratedKey extends KeyPaths {
  name: string;
  keyId: string;
  /** SPKI PEM of the new public key (safe to print and share). */
  publicKeyPem: string;
}

export interface KeyListing {
  name: string;
  keyId: string;
  hasPrivate: boolean;
  /** ISO 8601; the modification time of the private key file (or the public one without it). */
  createdAt: string;
}

/** File paths of key `name`; HM505 when the name is not allowed. */
export function keyPaths(store: KeyStore, name: string): KeyPaths {
  if (!KEY_NAME.test(name)) {
    throw new KeyError('HM505', `invalid key name ${JSON.stringify(name)}: use 1-64 of a-z 0-9 . _ -, starting with a letter or digit`, {
      file: name,
    });
  }
  return { privateKey: join(store.keysDir, `${name}.key`), publicKey: join(store.keysDir, `${name}.pub`) };
}

/** Creates a new ed25519 key pair; HM504 if a key with that name (either file) exists. */
export async function generateKey(store: KeyStore, name: string): Promise<GeneratedKey> {
  const paths = keyPaths(store, name);
  await mkdir(store.keysDir, { recursive: true, mode: 0o700 });
  if (await exists(paths.publicKey)) throw exists504(name, paths.publicKey);

  const { privateKey, publicKey } = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  // 'wx' = O_CREAT|O_EXCL: claims the name atomically and never follows or reuses an existing file.
  if (!(await writeNew(paths.privateKey, privateKey, 0o600))) throw exists504(name, paths.privateKey);
  try {
    if (!(await writeNew(paths.publicKey, publicKey, 0o644, true))) throw exists504(name, paths.publicKey);
  } catch (err) {
    await rm(paths.privateKey, { force: true });
    throw err;
  }
  const pub = await loadPublicKey(paths.publicKey);
  return { name, keyId: keyId(pub), publicKeyPem: publicKey, ...paths };
}

/** Every key in the store, sorted by name. */
export async function listKeys(store: KeyStore): Promise<KeyListing[]> {
  const names = new Set<string>();
  for (const file of await listDir(store.keysDir)) {
    const m = /^(.*)\.(key|pub)$/.exec(file);
    if (m?.[1] !== undefined && KEY_NAME.test(m[1])) names.add(m[1]);
  }
  const out: KeyListing[] = [];
  for (const name of [...names].sort()) {
    const paths = keyPaths(store, name);
    const priv = await statFile(paths.privateKey);
    const pubStat = await statFile(paths.publicKey);
    const publicKey = pubStat ? await loadPublicKey(paths.publicKey) : toPublicKey(await loadPrivateKey(paths.privateKey));
    const created = priv ?? pubStat;
    out.push({
      name,
      keyId: keyId(publicKey),
      hasPrivate: priv !== undefined,
      createdAt: (created?.mtime ?? new Date(0)).toISOString(),
    });
  }
  return out;
}

/** SPKI PEM of key `name` (from NAME.pub, or derived from NAME.key when the .pub is missing). */
export async function exportPublicKey(store: KeyStore, name: string): Promise<string> {
  const paths = keyPaths(store, name);
  let publicKey: KeyObject;
  if (await statFile(paths.publicKey)) publicKey = await loadPublicKey(paths.publicKey);
  else if (await statFile(paths.privateKey)) publicKey = toPublicKey(await loadPrivateKey(paths.privateKey));
  else throw new KeyError('HM501', `no key named ${JSON.stringify(name)} in ${store.keysDir}`, { file: paths.publicKey, hint: 'list keys with `hamod keys list`' });
  return publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

/** The private key `name` of the store (HM501/HM502/HM503 as loadPrivateKey). */
export async function loadStoreKey(store: KeyStore, name: string): Promise<KeyObject> {
  return loadPrivateKey(keyPaths(store, name).privateKey);
}

/**
 * Public keys trusted for verifying bundles: every *.pub of the store's own keys, plus every *.pub
 * in the trusted directory. Duplicates (same raw key) appear once. A malformed file is an error,
 * not silently skipped: a trust list that quietly shrinks is worse than one that fails loudly.
 */
export async function trustedPublicKeys(store: KeyStore): Promise<KeyObject[]> {
  const seen = new Set<string>();
  const out: KeyObject[] = [];
  for (const dir of [store.keysDir, store.trustedDir]) {
    for (const file of (await listDir(dir)).sort()) {
      if (!file.endsWith('.pub') || file.startsWith('.')) continue;
      const path = join(dir, file);
      if (!(await statFile(path))) continue;
      const key = await loadPublicKey(path);
      const raw = rawPublicKey(key).toString('hex');
      if (seen.has(raw)) continue;
      seen.add(raw);
      out.push(key);
    }
  }
  return out;
}

function exists504(name: string, file: string): KeyError {
  return new KeyError('HM504', `a key named ${JSON.stringify(name)} already exists`, { file });
}

/**
 * Writes a new file with `mode` set at creation; false if the path already exists. The private key
 * is never chmod'ed: its 0600 comes from the open flags alone (umask can only remove bits). A
 * public key is meant to be world-readable, so `ignoreUmask` sets its mode exactly.
 */
async function writeNew(path: string, content: string, mode: number, ignoreUmask = false): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx', mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new KeyError('HM506', `cannot create key file (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { file: path });
  }
  try {
    await handle.writeFile(content, 'utf8');
    if (ignoreUmask) await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function statFile(path: string): Promise<Stats | undefined> {
  try {
    const st = await stat(path);
    return st.isFile() ? st : undefined;
  } catch {
    return undefined;
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new KeyError('HM501', `cannot read key directory (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { file: dir });
  }
}
