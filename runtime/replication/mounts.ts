// The mounts the agent stacks on a replicated directory: the replication daemon's FUSE mount on the
// primary (fsname hamod-repl), a read-only bind of the directory over itself on the secondary. Only
// mounts we made are ever removed: FUSE mounts of type fuse.hamod-repl, and bind mounts whose mount
// id we recorded (an operator's own mount at the same place is left alone).
import { execFile } from 'node:child_process';
import { readFileSync, readlinkSync, writeFileSync, renameSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface MountEntry {
  id: number;
  parent: number;
  mountPoint: string;
  options: string;
  fsType: string;
  source: string;
}

/** Octal escapes of /proc/self/mountinfo (space, tab, newline, backslash). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const f = pre.split(' ');
    const g = post.split(' ');
    out.push({ id: Number(f[0]), parent: Number(f[1]), mountPoint: unescape(f[4] ?? ''), options: f[5] ?? '', fsType: g[0] ?? '', source: unescape(g[1] ?? '') });
  }
  return out;
}

export function mountsAt(path: string, text = readFileSync('/proc/self/mountinfo', 'utf8')): MountEntry[] {
  return parseMountinfo(text).filter((m) => m.mountPoint === path);
}

/** The topmost mount at `path` (the one a process sees), or null. */
export function topMountAt(path: string): MountEntry | null {
  const at = mountsAt(path);
  if (at.length === 0) return null;
  const ids = new Set(at.map((m) => m.id));
  // The top one is not the parent of another mount at the same place.
  return at.find((m) => !at.some((o) => o.parent === m.id && ids.has(o.id))) ?? at[at.length - 1]!;
}

export async function umount(path: string, lazy: boolean): Promise<void> {
  await run('umount', lazy ? ['-l', path] : [path], { timeout: 10_000 });
}

/**
 * Records of the read-only binds we made, so that only those are removed later. A mount id is only
 * unique within one mount namespace and one boot (ids are reused): each record carries both, and a
 * record from another namespace or boot is ignored (that mount is gone; the id may now be someone
 * else's, e.g. the operator's own mount of the directory).
 */
export class BindRecord {
  constructor(private readonly file: string) {}

  static #where(): string {
    let ns = '?';
    let boot = '?';
    try { ns = readlinkSync('/proc/self/ns/mnt'); } catch { /* no procfs */ }
    try { boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(); } catch { /* no procfs */ }
    return `${boot}/${ns}`;
  }

  read(): Record<string, number> {
    try {
      const r = JSON.parse(readFileSync(this.file, 'utf8')) as { where?: string; binds?: Record<string, number> };
      return r.where === BindRecord.#where() && r.binds ? r.binds : {};
    } catch {
      return {};
    }
  }

  write(rec: Record<string, number>): void {
    writeFileSync(`${this.file}.tmp`, JSON.stringify({ where: BindRecord.#where(), binds: rec }), { mode: 0o600 });
    renameSync(`${this.file}.tmp`, this.file);
  }

  /** The mount is a read-only bind we recorded. */
  isOurs(path: string, m: MountEntry): boolean {
    return this.read()[path] === m.id && m.options.split(',').includes('ro');
  }
}

/**
 * Removes what a previous run left stacked on `path` (a crashed agent's stale FUSE mount, its
 * read-only bind). Stops at the first mount that is not ours.
 */
export async function removeOurMounts(path: string, binds: BindRecord, log: (l: string) => void): Promise<void> {
  for (let i = 0; i < 16; i++) {
    const top = topMountAt(path);
    if (!top) return;
    const rec = binds.read();
    const ours = top.fsType === 'fuse.hamod-repl' || binds.isOurs(path, top);
    if (!ours) return;
    try {
      await umount(path, true);
      log(`removed a leftover ${top.fsType === 'fuse.hamod-repl' ? 'replication mount' : 'read-only bind'} on ${path}`);
    } catch (e) {
      log(`cannot remove the leftover mount on ${path}: ${(e as Error).message.split('\n')[0]}`);
      return;
    }
    if (rec[path] === top.id) {
      delete rec[path];
      binds.write(rec);
    }
  }
}

/** Makes `path` read-only for applications: a read-only bind of itself over itself. */
export async function bindReadOnly(path: string, binds: BindRecord): Promise<void> {
  await run('mount', ['--bind', path, path], { timeout: 10_000 });
  const top = topMountAt(path);
  if (top) {
    const rec = binds.read();
    rec[path] = top.id;
    binds.write(rec);
  }
  await run('mount', ['-o', 'remount,bind,ro', path], { timeout: 10_000 });
}

export async function unbindReadOnly(path: string, binds: BindRecord): Promise<void> {
  const rec = binds.read();
  const top = topMountAt(path);
  if (!top || !binds.isOurs(path, top)) return;
  try {
    await umount(path, false);
  } catch {
    await umount(path, true);
  }
  delete rec[path];
  binds.write(rec);
}
