// Installing a bundle's files: verify everything first (openBundle), write into a fresh private
// temporary directory next to the destination, read every file back against the manifest, then
// move the whole tree into place with one rename, so the destination either does not exist or is
// complete. Nothing from the archive but validated paths and contents reaches the file system.
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { BundleError } from './bundle-error.js';
import { parentsOf } from './entry-name.js';
import { openBundle, type OpenBundleOptions, type OpenedBundle } from './open-bundle.js';
import { MODE_DIRECTORY } from './tar.js';

export interface ExtractedBundle extends OpenedBundle {
  /** Absolute path of the directory now holding the payload. */
  dir: string;
}

/**
 * Verifies `buf` like openBundle, then creates `destDir` holding exactly the payload files (0644
 * or 0755, directories 0755). Fails (HM506) if `destDir` already exists or cannot be written.
 *
 * The final rename(2) replaces nothing that existed when we checked; a directory created by
 * someone else in the instant between the check and the rename would make the rename fail unless
 * it is empty (Linux lets a rename replace an empty directory).
 */
export async function extractBundleSafely(buf: Buffer, destDir: string, opts: OpenBundleOptions = {}): Promise<ExtractedBundle> {
  const opened = openBundle(buf, opts);
  const dest = resolve(destDir);
  const outputError = (message: string, err?: unknown): BundleError =>
    new BundleError('HM506', err === undefined ? message : `${message} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, {
      source: dest,
      cause: err,
    });

  let destExists: boolean;
  try {
    destExists = await pathExists(dest);
  } catch (err) {
    throw outputError('cannot inspect the destination', err);
  }
  if (destExists) throw outputError('the destination already exists');

  let tmp: string;
  try {
    // mkdtemp creates the directory 0700 with an unpredictable name: nobody else can plant links in it.
    tmp = await mkdtemp(join(dirname(dest), `.${basename(dest)}.tmp-`));
  } catch (err) {
    throw outputError('cannot create a temporary directory next to the destination', err);
  }
  try {
    const paths = [...opened.files.keys()].sort();
    const dirs = [...new Set(paths.flatMap(parentsOf))].sort();
    for (const d of dirs) {
      const target = inside(tmp, d);
      await mkdir(target, { recursive: true });
    }
    for (const path of paths) {
      const data = opened.files.get(path) as Buffer;
      const mode = opened.manifest.files[path]?.mode ?? 0o644;
      // 'wx': create only, never follow or overwrite; chmod on the descriptor so umask cannot change the mode.
      const handle = await open(inside(tmp, path), 'wx', mode);
      try {
        await handle.writeFile(data);
        await handle.chmod(mode);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    // Directories last, so their final mode never gets in the way of writing into them.
    for (const d of [...dirs, '']) {
      const handle = await open(d === '' ? tmp : inside(tmp, d), 'r');
      try {
        await handle.chmod(MODE_DIRECTORY);
      } finally {
        await handle.close();
      }
    }
    // Read back what is on disk: catches a file system that mangled names or content.
    for (const path of paths) {
      const expected = opened.manifest.files[path]?.sha256;
      const actual = createHash('sha256').update(await readFile(inside(tmp, path))).digest('hex');
      if (actual !== expected) {
        throw new BundleError('HM404', `${path} differs from the manifest after extraction`, { source: dest, entry: path });
      }
    }
    if (await pathExists(dest)) throw outputError('the destination already exists');
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (err instanceof BundleError) throw err;
    throw outputError('cannot write the extracted files', err);
  }
  await syncDir(dirname(dest));
  return { ...opened, dir: dest };
}

/** `root` joined with a validated relative path, asserted to stay inside `root`. */
function inside(root: string, relative: string): string {
  const target = join(root, ...relative.split('/'));
  if (!target.startsWith(root + sep)) throw new BundleError('HM402', `entry ${JSON.stringify(relative)} escapes the destination`);
  return target;
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Makes the rename durable; best effort (not every platform can fsync a directory). */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // ignored: durability hint only
  }
}
