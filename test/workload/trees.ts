// Byte-for-byte comparison of two directory trees (the two replicas of a module's data), with the
// module's exclude globs applied the way the replication applies them (native/hamod-repl/CONTROL.md:
// fnmatch with FNM_PATHNAME relative to the directory; a pattern without `/` matches the name at
// any depth; excluding a directory excludes its subtree).
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export interface Entry {
  type: 'file' | 'dir' | 'symlink' | 'other';
  /** Permission bits and set-id/sticky bits (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** sha256 of a file's content, a symlink's target. */
  content: string;
}

/** fnmatch(FNM_PATHNAME)-like: `*` and `?` do not cross `/`, `**` does; `[...]` classes. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') { i++; re += '(?:.*/)?'; } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        const body = glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\');
        re += `[${body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** True when `rel` (relative, `/`-separated) or one of its parent directories is excluded. */
export function isExcluded(rel: string, excludes: readonly string[]): boolean {
  if (excludes.length === 0) return false;
  const parts = rel.split('/');
  const res = excludes.map((g) => ({ re: globToRegExp(g), anyDepth: !g.includes('/') }));
  for (let n = 1; n <= parts.length; n++) {
    const prefix = parts.slice(0, n).join('/');
    const name = parts[n - 1]!;
    if (res.some(({ re, anyDepth }) => re.test(prefix) || (anyDepth && re.test(name)))) return true;
  }
  return false;
}

/** Every entry under `root` (not root itself), by relative path. */
export function snapshotTree(root: string, excludes: readonly string[] = []): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (dir: string, relDir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const rel = relDir === '' ? name : `${relDir}/${name}`;
      if (isExcluded(rel, excludes)) continue;
      const p = join(dir, name);
      const st = lstatSync(p);
      const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size };
      if (st.isDirectory()) {
        out.set(rel, { type: 'dir', ...base, size: 0, content: '' });
        walk(p, rel);
      } else if (st.isFile()) out.set(rel, { type: 'file', ...base, content: createHash('sha256').update(readFileSync(p)).digest('hex') });
      else if (st.isSymbolicLink()) out.set(rel, { type: 'symlink', ...base, content: readlinkSync(p) });
      else out.set(rel, { type: 'other', ...base, content: '' });
    }
  };
  walk(root, '');
  return out;
}

/** Differences between two snapshots, one sentence each (empty: equal). */
export function diffTrees(a: Map<string, Entry>, b: Map<string, Entry>, names: [string, string] = ['a', 'b']): string[] {
  const out: string[] = [];
  const [na, nb] = names;
  for (const [rel, ea] of a) {
    const eb = b.get(rel);
    if (!eb) { out.push(`${rel}: only on ${na} (${ea.type}, ${ea.size} bytes)`); continue; }
    const d: string[] = [];
    if (ea.type !== eb.type) d.push(`type ${ea.type} vs ${eb.type}`);
    if (ea.mode !== eb.mode) d.push(`mode ${ea.mode.toString(8)} vs ${eb.mode.toString(8)}`);
    if (ea.uid !== eb.uid || ea.gid !== eb.gid) d.push(`owner ${ea.uid}:${ea.gid} vs ${eb.uid}:${eb.gid}`);
    if (ea.type !== 'dir' && ea.size !== eb.size) d.push(`size ${ea.size} vs ${eb.size}`);
    if (ea.content !== eb.content) d.push(ea.type === 'symlink' ? `target ${ea.content} vs ${eb.content}` : 'content differs');
    if (d.length) out.push(`${rel}: ${d.join(', ')} (${na} vs ${nb})`);
  }
  for (const [rel, eb] of b) if (!a.has(rel)) out.push(`${rel}: only on ${nb} (${eb.type}, ${eb.size} bytes)`);
  return out;
}

/** First differing byte of two buffers (for messages), or -1. */
export function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}
