// File names of the cluster PKI and the careful reading and writing of its files.
//
// Layout (one directory per role, all files flat):
//   CA directory (kept by the operator, `hamod cluster init`): ca.key (0600), ca.crt
//   node directory (on every node):  ca.crt, node.crt, node.key (0600), cluster.secret (0600)
// New files are written to a temporary name created 0600/0644 through the open flags (never readable
// by others, not even for an instant, whatever the umask), synced, then linked into place (which
// fails instead of overwriting) or renamed over the old file when replacing is asked for.
import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PkiError } from './pki-error.js';

export const PKI_FILES = {
  caKey: 'ca.key',
  caCert: 'ca.crt',
  nodeKey: 'node.key',
  nodeCert: 'node.crt',
  secret: 'cluster.secret',
} as const;

/** Certificates and keys are a few KiB; refuse anything much larger. */
export const MAX_PKI_FILE_BYTES = 64 * 1024;

export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

/**
 * Writes `data` to `dest` with exactly `mode`. Without `overwrite`, fails with EXISTS when `dest`
 * exists (checked atomically by link(2)); with it, replaces `dest` atomically.
 */
export async function installFile(dest: string, data: string | Uint8Array, mode: number, overwrite = false): Promise<void> {
  const tmp = join(dirname(dest), `.${basename(dest)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    try {
      await fh.chmod(mode); // the umask may have removed bits we want (0644 for certificates)
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (overwrite) {
      await rename(tmp, dest);
    } else {
      try {
        await link(tmp, dest);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new PkiError('EXISTS', 'already exists; refusing to overwrite it', { file: dest });
        throw err;
      }
    }
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  await syncDir(dirname(dest));
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r').catch(() => null);
  if (fh === null) return;
  try {
    await fh.sync().catch(() => undefined);
  } finally {
    await fh.close();
  }
}

/**
 * Reads a PKI file through one descriptor (so the mode checked is the mode of what is read).
 * `private`: refuses a file that group or others can access, like ssh does.
 */
export async function readPkiFile(file: string, kind: 'private' | 'public', what: string): Promise<Buffer> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new PkiError('NOT_FOUND', `${what} not found`, { file });
    throw new PkiError('NOT_FOUND', `${what} cannot be opened (${code ?? 'error'})`, { file });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new PkiError('INVALID_FILE', `${what} is not a regular file`, { file });
    if (kind === 'private' && process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new PkiError('INSECURE_MODE', `${what} has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}; it must not be accessible by group or others`, {
        file,
        hint: `chmod 600 ${file}`,
      });
    }
    if (st.size > MAX_PKI_FILE_BYTES) throw new PkiError('INVALID_FILE', `${what} is ${st.size} bytes, too large`, { file });
    return await fh.readFile();
  } catch (err) {
    if (err instanceof PkiError) throw err;
    throw new PkiError('NOT_FOUND', `${what} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { file });
  } finally {
    await fh.close();
  }
}

export async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    return true;
  }
}
