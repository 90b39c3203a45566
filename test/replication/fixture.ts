/**
 * Fixture for the native replication component (native/hamod-repl): builds it, starts a
 * secondary on one test host and a primary (FUSE mount over a directory) on another, and
 * compares directory trees. Used by replication.test.ts and scripts/bench-replication-proto.mjs.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readlinkSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
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
function digest(path: string | Buffer, size: number): string {
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
    for (const f of new Set([...Object.keys(ea), ...Object.keys(eb)]) as Set<keyof Entry>) {
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

// ---- control socket (CONTROL.md) ----------------------------------------------------------

/** A client of the primary's control socket: one request line, one reply line. */
export class Control {
  private buf = '';
  private waiting: ((line: string) => void)[] = [];
  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        this.waiting.shift()?.(line);
      }
    });
  }

  static connect(path: string, timeoutMs = 10_000): Promise<Control> {
    const t0 = Date.now();
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const s = createConnection(path);
        s.once('connect', () => resolve(new Control(s)));
        s.once('error', (e) => {
          s.destroy();
          if (Date.now() - t0 > timeoutMs) reject(e);
          else setTimeout(attempt, 50);
        });
      };
      attempt();
    });
  }

  request(line: string, timeoutMs = 10_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`control: no reply to ${line}`)), timeoutMs);
      this.waiting.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
      this.sock.write(line + '\n');
    });
  }

  /** Sends a request that must succeed ("OK ..."). */
  async ok(line: string): Promise<string> {
    const r = await this.request(line);
    if (!r.startsWith('OK')) throw new Error(`control: ${line} -> ${r}`);
    return r;
  }

  async status(): Promise<Record<string, string>> {
    const r = await this.ok('STATUS');
    return Object.fromEntries(r.split(' ').slice(1).map((kv) => kv.split('=') as [string, string]));
  }

  close(): void {
    this.sock.destroy();
  }
}

export interface CtlPaths {
  control: string;
  secondaryLog: string;
}

export function ctlPaths(dirs: ReplDirs): CtlPaths {
  return { control: join(dirs.root, 'ctl.sock'), secondaryLog: join(dirs.root, 'secondary.log') };
}

/** Starts `hamod-repl secondary` on `sec` (with its own change log); resolves when it listens. */
export async function startSecondary(
  sec: TestHost,
  dirs: ReplDirs,
  opts: { port?: number; dir?: string; changelog?: string; extraArgs?: string[]; env?: Record<string, string> } = {},
): Promise<LineWatcher> {
  const port = opts.port ?? 7800;
  const env = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`);
  const w = new LineWatcher(
    `secondary@${sec.name}`,
    sec.spawn([
      ...(env.length ? ['env', ...env] : []), BINARY, 'secondary', '--dir', opts.dir ?? dirs.secondaryDir, '--listen', `${sec.address}:${port}`, '--key-file', dirs.keyFile,
      '--changelog', opts.changelog ?? ctlPaths(dirs).secondaryLog, ...(opts.extraArgs ?? []),
    ]),
  );
  await w.waitLine(/^LISTENING /);
  return w;
}

export interface CtlPrimary {
  primary: LineWatcher;
  ctl: Control;
  stop(): Promise<void>;
}

/** Starts a primary driven through its control socket (no --peer), mounted over dirs.primaryDir
 * inside `pri`; resolves once READY and the control socket answers. */
export async function startControlledPrimary(
  pri: TestHost,
  dirs: ReplDirs,
  opts: { timeoutMs?: number; mode?: 'off' | 'hold'; extraArgs?: string[] } = {},
): Promise<CtlPrimary> {
  const { control } = ctlPaths(dirs);
  const primary = new LineWatcher(
    `primary@${pri.name}`,
    pri.spawn([
      BINARY, 'primary', '--dir', dirs.primaryDir, '--key-file', dirs.keyFile, '--control', control, '--changelog', dirs.changelog,
      '--timeout-ms', String(opts.timeoutMs ?? 1000), ...(opts.mode ? ['--mode', opts.mode] : []), ...(opts.extraArgs ?? []),
    ]),
  );
  await primary.waitLine(/^READY /);
  const ctl = await Control.connect(control);
  return {
    primary,
    ctl,
    stop: async () => {
      ctl.close();
      await primary.stop();
    },
  };
}

/** A secondary on `sec` and a controlled primary on `pri`, reintegrated in full under g1 and then in
 * sync mode (generation g1). */
export async function startSyncedPair(
  pri: TestHost,
  sec: TestHost,
  dirs: ReplDirs,
  opts: { primaryArgs?: string[]; secondaryEnv?: Record<string, string> } = {},
): Promise<{ sec: LineWatcher; p: CtlPrimary }> {
  const s = await startSecondary(sec, dirs, opts.secondaryEnv ? { env: opts.secondaryEnv } : {});
  const p = await startControlledPrimary(pri, dirs, opts.primaryArgs ? { extraArgs: opts.primaryArgs } : {});
  await p.ctl.ok('MODE alone g1');
  await p.ctl.ok(`ATTACH ${sec.address}:7800 full`);
  await p.primary.waitLine(/^INSYNC base=g1$/, 60_000);
  await p.ctl.ok('MODE sync g1');
  return { sec: s, p };
}

/** Runs `sh -c script` in a host without waiting: the promise of its result, and whether it ended. */
export function background(h: TestHost, script: string, timeoutMs = 60_000): { done: () => boolean; result: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  let ended = false;
  const result = h.exec(['sh', '-c', script], { timeoutMs }).then((r) => {
    ended = true;
    return r;
  });
  return { done: () => ended, result };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- byte-exact snapshots (names with any bytes) -------------------------------------------

export interface EntryB extends Entry {
  link?: string;
}

/** `getfattr -R` dump of every xattr namespace readable (names escaped by getfattr), sorted by file. */
export function xattrDumpAll(root: string): string {
  const r = spawnSync('getfattr', ['-R', '-h', '-d', '-m', '-', '-e', 'hex', '.'], { cwd: root, encoding: 'latin1' });
  return r.stdout.split('\n\n').filter((b) => b.trim()).sort().join('\n\n');
}

/** Like snapshot(), but names are raw bytes (keys: latin1 strings), xattrs of every namespace
 * and hard-link groups are included (`link` = the first path of the entry's inode). */
export function snapshotB(root: string, opts: { mtimes?: boolean } = {}): Map<string, EntryB> {
  const out = new Map<string, EntryB>();
  const firstOf = new Map<number, string>();
  const rootB = Buffer.from(root);
  const walk = (rel: Buffer) => {
    const p = rel.length ? Buffer.concat([rootB, Buffer.from('/'), rel]) : rootB;
    const st = lstatSync(p, { bigint: false });
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : st.isFIFO() ? 'fifo' : 'other';
    const key = rel.toString('latin1') || '.';
    const e: EntryB = { type, mode: st.mode, uid: st.uid, gid: st.gid, size: type === 'dir' ? 0 : st.size, nlink: st.nlink };
    if (opts.mtimes && type !== 'symlink') e.mtimeMs = st.mtimeMs;
    if (type === 'symlink') e.target = (readlinkSync(p, { encoding: 'buffer' }) as Buffer).toString('latin1');
    if (type === 'file') e.digest = digest(p, st.size);
    if (type !== 'dir' && st.nlink > 1) {
      const f = firstOf.get(st.ino);
      if (f === undefined) firstOf.set(st.ino, key);
      else e.link = f;
    }
    out.set(key, e);
    if (type === 'dir') {
      const names = (readdirSync(p, { encoding: 'buffer' }) as Buffer[]).sort(Buffer.compare);
      for (const n of names) walk(rel.length ? Buffer.concat([rel, Buffer.from('/'), n]) : n);
    }
  };
  walk(Buffer.alloc(0));
  return out;
}

export function diffSnapshotsB(a: Map<string, EntryB>, b: Map<string, EntryB>): string[] {
  return diffSnapshots(a as Map<string, Entry>, b as Map<string, Entry>).map((l) => JSON.stringify(l));
}
