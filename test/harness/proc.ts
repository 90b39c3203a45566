/**
 * Process helpers for the test-host harness: running commands with timeouts (each in its own
 * process group), finding the processes that live in a given namespace, and process-group
 * signalling. Linux only (reads /proc).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';

export interface ExecResult {
  /** Exit code, or null when the command was ended by a signal. */
  code: number | null;
  /** Signal that ended the command, or null. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the command was killed because it ran past its timeout. */
  timedOut: boolean;
}

export interface RunOptions {
  /** Kill the command's whole process group (SIGKILL) after this many ms. Default 10 000. */
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string | Buffer;
  /** Environment; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Cap on captured stdout/stderr each (bytes); output past it is dropped. Default 32 MiB. */
  maxBuffer?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_BUFFER = 32 * 1024 * 1024;

/** Runs argv (no shell) in a new process group, collecting its output. Never rejects for a
 * non-zero exit; rejects only when the program cannot be started. */
export function runCommand(argv: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error('runCommand: empty argv'));
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBuffer = opts.maxBuffer ?? DEFAULT_MAX_BUFFER;
  return new Promise<ExecResult>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        detached: true,
        stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        env: opts.env ?? process.env,
        ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
      });
    } catch (err) {
      reject(err);
      return;
    }
    const out: Buffer[] = [];
    const errb: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let timedOut = false;
    child.stdout?.on('data', (b: Buffer) => {
      if (outLen < maxBuffer) out.push(b.subarray(0, maxBuffer - outLen));
      outLen += b.length;
    });
    child.stderr?.on('data', (b: Buffer) => {
      if (errLen < maxBuffer) errb.push(b.subarray(0, maxBuffer - errLen));
      errLen += b.length;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(errb).toString('utf8'),
        timedOut,
      });
    });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined); // EPIPE if the command does not read its input
      child.stdin.end(opts.input);
    }
  });
}

/** Synchronous variant, used by the exit-time safety net. */
export function runCommandSync(argv: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): ExecResult {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('runCommandSync: empty argv');
  const r = spawnSync(file, args, {
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    maxBuffer: DEFAULT_MAX_BUFFER,
  });
  const timedOut = r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
  return {
    code: r.status,
    signal: r.signal,
    stdout: r.stdout ?? '',
    stderr: (r.stderr ?? '') + (r.error !== undefined && !timedOut ? String(r.error) : ''),
    timedOut,
  };
}

/** True when a process with this pid exists (EPERM counts as existing). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Inode number of a namespace file (/run/netns/NAME or /proc/PID/ns/KIND). */
export function nsInode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

function listPids(): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (/^\d+$/.test(e)) pids.push(Number(e));
  }
  return pids;
}

/** Pids of every live (non-zombie) process whose namespace of `kind` has inode `ino`. */
export function pidsInNamespace(kind: 'net' | 'mnt', ino: number): number[] {
  const want = `${kind}:[${ino}]`;
  const found: number[] = [];
  for (const pid of listPids()) {
    try {
      if (readlinkSync(`/proc/${pid}/ns/${kind}`) === want) found.push(pid);
    } catch {
      // gone, or a zombie (its namespaces are already released)
    }
  }
  return found;
}

/** Pids of processes whose environment holds `key=value` with value accepted by `match`. */
export function pidsWithEnv(key: string, match: (value: string) => boolean): number[] {
  const prefix = `${key}=`;
  const found: number[] = [];
  for (const pid of listPids()) {
    if (pid === process.pid) continue;
    let env: string;
    try {
      env = readFileSync(`/proc/${pid}/environ`, 'latin1');
    } catch {
      continue;
    }
    for (const kv of env.split('\0')) {
      if (kv.startsWith(prefix) && match(kv.slice(prefix.length))) {
        found.push(pid);
        break;
      }
    }
  }
  return found;
}

/** Process state letter (R, S, D, T, t, Z, ...) and process group of a pid, from /proc/PID/stat. */
export function procStat(pid: number): { state: string; pgid: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm is in parentheses and may contain anything: parse after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  const pgid = Number(rest[2]);
  if (state === undefined || !Number.isInteger(pgid)) return undefined;
  return { state, pgid };
}

let ownPgid: number | undefined;
/** Process group of this Node process (never signalled by the harness). */
export function ownProcessGroup(): number {
  ownPgid ??= procStat(process.pid)?.pgid ?? -1;
  return ownPgid;
}

/** Sends `signal` to the process group `pgid`; ignores a group that no longer exists.
 * Refuses to signal the harness's own process group. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  if (pgid <= 1 || pgid === ownProcessGroup()) return false;
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Sends `signal` to one pid; ignores a process that no longer exists. */
export function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  if (pid <= 1 || pid === process.pid) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** SIGKILLs every process in the namespace (except `exclude`) until none is left or `deadlineMs`
 * passes. Returns the pids still found at the end (normally none). Synchronous on purpose: it
 * also runs from process 'exit' hooks. */
export function killNamespaceSync(kind: 'net' | 'mnt', ino: number, deadlineMs = 2_000): number[] {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const pids = pidsInNamespace(kind, ino).filter((p) => p !== process.pid);
    if (pids.length === 0) return [];
    for (const pid of pids) {
      signalPid(pid, 'SIGKILL');
      // a stopped process dies of SIGKILL too; SIGCONT only helps tracing cases
      signalPid(pid, 'SIGCONT');
    }
    if (Date.now() > end) return pids;
    sleepSync(5);
  }
}
