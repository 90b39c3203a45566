// Spawning one script or program as the leader of a new process group, with its output captured
// line by line into the module's log. Shared by runScript and startDaemon.
import { spawn, type ChildProcess } from 'node:child_process';
import { isAbsolute } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { LineSplitter, type LogSink } from '../logs/lines.js';
import type { ExitInfo } from './exit.js';
import { ProcessGroup, type GroupRegistry } from './group.js';
import { IdentityError, resolveIdentity } from './identity.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ScriptSpec {
  /** Absolute path of the executable, run directly with `args` (argv, never a shell string). */
  path: string;
  args?: readonly string[];
  /** The whole environment of the process: nothing is inherited; PATH is set to DEFAULT_PATH when absent. */
  env: Readonly<Record<string, string>>;
  /** Working directory. Default `/` (never the agent's own). */
  cwd?: string;
  /** Run as this user (name or uid); its primary group unless `group` is given. Needs root. */
  user?: string | number;
  group?: string | number;
  /** Service name: the `service` field of the captured lines. */
  service: string;
  /** What this is, for events and the registry: `start`, `stop`, `run`, `check http`… Default: the file name. */
  label?: string;
  /** runScript: deadline after which the group gets SIGTERM. Absent or 0: none. */
  timeoutMs?: number;
  /** runScript: after the deadline's SIGTERM, how long before SIGKILL. Default 5000 ms. */
  killGraceMs?: number;
}

export interface LeaderExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** performance.now() at the exit event. */
  at: number;
}

export interface Spawned {
  pid: number;
  group: ProcessGroup;
  child: ChildProcess;
  startedAt: number;
  exit: Promise<LeaderExit>;
  /** Both output pipes closed and their last partial lines written. Never resolves while a descendant keeps them open. */
  outputClosed: Promise<void>;
}

export type SpawnResult = { ok: true; proc: Spawned } | { ok: false; info: Promise<ExitInfo> };

export function labelOf(spec: ScriptSpec): string {
  return `${spec.service} ${spec.label ?? spec.path.slice(spec.path.lastIndexOf('/') + 1)}`;
}

function failed(errno: string, message: string, startedAt: number): SpawnResult {
  return { ok: false, info: Promise.resolve({ kind: 'spawn-error', errno, message, durationMs: performance.now() - startedAt }) };
}

function capture(stream: Readable | null, onLine: (text: string) => void): Promise<void> {
  if (!stream) return Promise.resolve();
  return new Promise((resolve) => {
    const splitter = new LineSplitter(onLine);
    stream.on('data', (chunk: Buffer) => splitter.push(chunk));
    stream.on('error', () => undefined);
    stream.on('close', () => {
      splitter.flush();
      resolve();
    });
  });
}

/** Spawns `spec` detached (setsid: its own session and process group) with its output piped to `log`. */
export function spawnInGroup(spec: ScriptSpec, log: LogSink, registry: GroupRegistry): SpawnResult {
  const startedAt = performance.now();
  if (registry.closed) return failed('ECANCELED', 'the supervisor is shutting down', startedAt);
  if (!isAbsolute(spec.path)) return failed('EINVAL', `not an absolute path: ${spec.path}`, startedAt);
  let identity;
  try {
    identity = resolveIdentity(spec.user, spec.group);
  } catch (err) {
    if (err instanceof IdentityError) return failed(err.errno, err.message, startedAt);
    throw err;
  }
  const env: Record<string, string> = { ...spec.env };
  if (env['PATH'] === undefined) env['PATH'] = DEFAULT_PATH;

  let child: ChildProcess;
  try {
    child = spawn(spec.path, spec.args ?? [], {
      cwd: spec.cwd ?? '/',
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(identity.uid !== undefined ? { uid: identity.uid } : {}),
      ...(identity.gid !== undefined ? { gid: identity.gid } : {}),
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return failed(e.code ?? 'EINVAL', e.message, startedAt);
  }
  const pid = child.pid;
  if (pid === undefined) {
    // spawn failed (ENOENT, EACCES, EPERM on uid switch…): Node reports it on the next tick.
    child.stdout?.destroy();
    child.stderr?.destroy();
    return {
      ok: false,
      info: new Promise((resolve) => {
        child.once('error', (err: NodeJS.ErrnoException) =>
          resolve({ kind: 'spawn-error', errno: err.code ?? 'UNKNOWN', message: err.message, durationMs: performance.now() - startedAt }),
        );
      }),
    };
  }
  child.on('error', () => undefined); // we never use child.kill(); nothing else emits here after a good spawn
  const exit = new Promise<LeaderExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() }));
  });
  const outputClosed = Promise.all([
    capture(child.stdout, (text) => log.line(spec.service, 'stdout', text)),
    capture(child.stderr, (text) => log.line(spec.service, 'stderr', text)),
  ]).then(() => undefined);
  const group = new ProcessGroup(pid, labelOf(spec), exit, registry);
  return { ok: true, proc: { pid, group, child, startedAt, exit, outputClosed } };
}

/** Waits for the output pipes to close, at most `ms` (a background descendant may hold them for ever). */
export function settleOutput(proc: Spawned, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    void proc.outputClosed.then(() => {
      clearTimeout(t);
      resolve();
    });
  });
}
