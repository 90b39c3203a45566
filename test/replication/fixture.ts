/**
 * Fixture for the native replication component (native/hamod-repl): builds it, starts a
 * secondary on one test host and a primary (FUSE mount over a directory) on another, and
 * compares directory trees. Used by replication.test.ts and scripts/bench-replication-proto.mjs.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readlinkSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestHost } from '../harness/index.js';

/** Repository root (this file is dist/test/replication/fixture.js once compiled). */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const BINARY = join(REPO, 'native/hamod-repl/build/hamod-repl');

/** Runs native/build.sh (make); throws with its output when the build fails. */
export function buildNative(): string {
  const r = spawnSync('sh', [join(REPO, 'native/build.sh')], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`native/build.sh failed (${r.status ?? r.signal}):\n${r.stderr}${r.stdout}`);
  return BINARY;
}

/** Why the replication tests cannot run here (missing build tools or FUSE), or undefined. */
export function replicationUnavailableReason(): string | undefined {
  for (const [cmd, pkg] of [['make', 'make'], ['pkg-config', 'pkg-config'], ['fusermount3', 'fuse3']] as const) {
    const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
    if (r.status !== 0) return `${cmd} missing (Debian package ${pkg}; see native/apt-packages.txt)`;
  }
  const pc = spawnSync('pkg-config', ['--exists', 'fuse3', 'libcrypto']);
  if (pc.status !== 0) return 'libfuse3-dev / libssl-dev missing (native/apt-packages.txt)';
  try {
    lstatSync('/dev/fuse');
  } catch {
    return '/dev/fuse missing';
  }
  return undefined;
}

/** Collects a child's stdout lines; `waitLine(re)` resolves with the first line matching. */
export class LineWatcher {
  readonly lines: string[] = [];
  stderr = '';
  private waiters: { re: RegExp; resolve: (l: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  private exited: string | undefined;
  readonly exitPromise: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly name: string, readonly child: ChildProcess) {
    let buf = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.lines.push(line);
        if (process.env.HAMOD_REPL_DEBUG) process.stderr.write(`[${name}] ${line}\n`);
        for (const w of [...this.waiters]) {
          if (w.re.test(line)) {
            clearTimeout(w.timer);
            this.waiters = this.waiters.filter((x) => x !== w);
            w.resolve(line);
          }
        }
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      this.stderr += d;
      if (process.env.HAMOD_REPL_DEBUG) process.stderr.write(`[${name}!] ${d}`);
    });
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = `exited (${code ?? signal})`;
        for (const w of this.waiters) {
          clearTimeout(w.timer);
          w.reject(new Error(`${name} ${this.exited} while waiting for ${w.re}: ${this.stderr}${this.lines.join('\n')}`));
        }
        this.waiters = [];
        resolve({ code, signal });
      });
    });
  }

  waitLine(re: RegExp, timeoutMs = 10_000): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    if (this.exited) return Promise.reject(new Error(`${this.name} ${this.exited}: ${this.stderr}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x.timer !== timer);
        reject(new Error(`${this.name}: no line matching ${re} within ${timeoutMs} ms; got:\n${this.lines.join('\n')}\n${this.stderr}`));
      }, timeoutMs);
      this.waiters.push({ re, resolve, reject, timer });
    });
  }

  /** SIGTERM (the primary then unmounts), SIGKILL after graceMs. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.exited) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exitPromise;
    clearTimeout(t);
  }
}

export interface ReplDirs {
  root: string;
  primaryDir: string;
  secondaryDir: string;
  keyFile: string;
  changelog: string;
  cleanup(): void;
}

/** A scratch area on the real disk (not tmpfs): primary and secondary directories, key, log. */
export function makeDirs(base = '/var/tmp'): ReplDirs {
  const root = mkdtempSync(join(base, 'hamod-repl-'));
  const primaryDir = join(root, 'primary');
  const secondaryDir = join(root, 'secondary');
  mkdirSync(primaryDir);
  mkdirSync(secondaryDir);
  const keyFile = join(root, 'cluster.key');
  writeFileSync(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  return {
    root,
    primaryDir,
    secondaryDir,
    keyFile,
    changelog: join(root, 'changes.log'),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

export interface PairOptions {
  port?: number;
  timeoutMs?: number;
  /** Key file of the secondary when it differs (authentication tests). */
  secondaryKeyFile?: string;
  extraPrimaryArgs?: string[];
}

export interface ReplPair {
  secondary: LineWatcher;
  primary: LineWatcher;
  stop(): Promise<void>;
}

/** Starts the secondary on `sec` and then the primary on `pri`, mounted over dirs.primaryDir
 * (visible only inside `pri`'s mount namespace). Resolves once the primary is READY. */
export async function startPair(pri: TestHost, sec: TestHost, dirs: ReplDirs, opts: PairOptions = {}): Promise<ReplPair> {
  const port = opts.port ?? 7800;
  const secondary = new LineWatcher(
    `secondary@${sec.name}`,
    sec.spawn([BINARY, 'secondary', '--dir', dirs.secondaryDir, '--listen', `${sec.address}:${port}`, '--key-file', opts.secondaryKeyFile ?? dirs.keyFile]),
  );
  await secondary.waitLine(/^LISTENING /);
  const primary = new LineWatcher(
    `primary@${pri.name}`,
    pri.spawn([
      BINARY, 'primary', '--dir', dirs.primaryDir, '--peer', `${sec.address}:${port}`, '--key-file', dirs.keyFile,
      '--timeout-ms', String(opts.timeoutMs ?? 2000), '--changelog', dirs.changelog, ...(opts.extraPrimaryArgs ?? []),
    ]),
  );
  await primary.waitLine(/^READY /);
  return {
    secondary,
    primary,
    stop: async () => {
      await primary.stop();
      await secondary.stop();
    },
  };
}

export interface Entry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  mtimeMs?: number;
  target?: string;
  digest?: string;
}

/** Content digest: whole file up to 64 MiB; past it, 1 MiB samples at every GiB, at 5 GiB and at
 * the end (enough for the sparse big files of the tests, whose allocation is checked apart).
 * st_blocks is not compared: ext4's speculative preallocation makes it differ by a few blocks. */
function digest(path: string, size: number): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    const read = (pos: number, max: number) => {
      let done = 0;
      while (done < max) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, max - done), pos + done);
        if (n === 0) break;
        h.update(buf.subarray(0, n));
        done += n;
      }
    };
    if (size <= 64 << 20) read(0, size);
    else {
      for (let off = 0; off < size; off += 1 << 30) read(off, 1 << 20);
      read(Math.max(0, size - (1 << 20)), 1 << 20);
      read(5 * 2 ** 30 - 4096, 1 << 20);
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** Snapshot of a tree (from the machine's namespace: the underlying directories, no FUSE). */
export function snapshot(root: string, mtimeOf: ReadonlySet<string> = new Set()): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (rel: string) => {
    const p = rel ? join(root, rel) : root;
    const st = lstatSync(p);
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : st.isFIFO() ? 'fifo' : 'other';
    const e: Entry = {
      type,
      mode: st.mode,
      uid: st.uid,
      gid: st.gid,
      size: type === 'dir' ? 0 : st.size,
      nlink: st.nlink,
    };
    if (mtimeOf.has(rel)) e.mtimeMs = st.mtimeMs;
    if (type === 'symlink') e.target = readlinkSync(p);
    if (type === 'file') e.digest = digest(p, st.size);
    out.set(rel || '.', e);
    if (type === 'dir') for (const name of readdirSync(p).sort()) walk(rel ? `${rel}/${name}` : name);
  };
  walk('');
  return out;
}

/** Differences between two snapshots, as readable lines (empty when equal). */
export function diffSnapshots(a: Map<string, Entry>, b: Map<string, Entry>): string[] {
  const out: string[] = [];
  for (const [k, ea] of a) {
    const eb = b.get(k);
    if (!eb) {
      out.push(`only on primary: ${k}`);
      continue;
    }
    for (const f of Object.keys(ea) as (keyof Entry)[]) {
      if (ea[f] !== eb[f]) out.push(`${k}: ${f} primary=${String(ea[f])} secondary=${String(eb[f])}`);
    }
  }
  for (const k of b.keys()) if (!a.has(k)) out.push(`only on secondary: ${k}`);
  return out;
}

/** `getfattr -R` dump of user.* xattrs (the machine needs the `attr` package). */
export function xattrDump(root: string): string {
  const r = spawnSync('getfattr', ['-R', '-h', '-d', '-m', '^user\\.', '.'], { cwd: root, encoding: 'utf8' });
  return r.stdout;
}
