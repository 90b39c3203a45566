// Reading key files. A private key must be an ed25519 PKCS#8 PEM readable by its owner only; a
// public key must be an ed25519 SPKI PEM. Error messages name the file and the problem only:
// neither the file content nor OpenSSL's error text (which could quote it) is ever included.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { open } from 'node:fs/promises';
import { KeyError } from './key-error.js';

/** A PEM key is a few hundred bytes; anything much larger is not a key file. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

export async function loadPrivateKey(file: string): Promise<KeyObject> {
  const pem = await readKeyFile(file, 'private', (mode) => {
    // Group/other bits: refuse, like ssh does. Windows has no POSIX modes to check.
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new KeyError('HM503', `private key file has mode ${(mode & 0o777).toString(8).padStart(4, '0')}; it must not be accessible by group or others`, {
        file,
        hint: `chmod 600 ${file}`,
      });
    }
  });
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new KeyError('HM502', 'is not an unencrypted PEM private key', { file });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new KeyError('HM502', `is an ${key.asymmetricKeyType ?? 'unknown'} key; hamod signs with ed25519`, { file });
  }
  return key;
}

export async function loadPublicKey(file: string): Promise<KeyObject> {
  const pem = await readKeyFile(file, 'public');
  // createPublicKey would happily derive a public key from a private PEM: refuse that, so a
  // private key never ends up copied around as if it were a public one.
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(pem)) {
    throw new KeyError('HM502', 'holds a private key where a public key is expected', { file });
  }
  if (!pem.includes('-----BEGIN PUBLIC KEY-----')) {
    throw new KeyError('HM502', 'is not a PEM public key (expected "-----BEGIN PUBLIC KEY-----")', { file });
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    throw new KeyError('HM502', 'is not a valid PEM public key', { file });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new KeyError('HM502', `is an ${key.asymmetricKeyType ?? 'unknown'} key; hamod uses ed25519`, { file });
  }
  return key;
}

/** Reads a key file through one descriptor, so the mode checked is the mode of what is read. */
async function readKeyFile(file: string, kind: 'private' | 'public', checkMode?: (mode: number) => void): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new KeyError('HM501', `${kind} key file not found`, { file });
    throw new KeyError('HM501', `${kind} key file cannot be opened (${code ?? 'error'})`, { file });
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new KeyError('HM502', `${kind} key path is not a regular file`, { file });
    checkMode?.(st.mode);
    if (st.size > MAX_KEY_FILE_BYTES) throw new KeyError('HM502', `is ${st.size} bytes, too large to be a ${kind} key`, { file });
    return await handle.readFile('utf8');
  } catch (err) {
    if (err instanceof KeyError) throw err;
    throw new KeyError('HM501', `${kind} key file cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { file });
  } finally {
    await handle.close();
  }
}
