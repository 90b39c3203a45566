// One-shot scripts: start, stop, command checkers. Resolves when the script has exited (with its
// exit classified); on timeout or abort, once its whole process group is gone.
//
// A start script that leaves a background process (`myapp &`) is normal: it returns when the
// script exits, the background process keeps running (and its output keeps being captured) and its
// group stays in the registry so `killAll` still reaches it.
import { performance } from 'node:perf_hooks';
import type { LogSink } from '../logs/lines.js';
import { classifyExit, describeExit, type ExitInfo } from './exit.js';
import { defaultRegistry, type GroupRegistry } from './group.js';
import { labelOf, settleOutput, spawnInGroup, type ScriptSpec } from './spawn.js';

export const DEFAULT_KILL_GRACE_MS = 5000;
/** After the script exits, how long to wait for the last output still in its pipes. */
const OUTPUT_SETTLE_MS = 200;

export interface RunScriptOptions {
  log: LogSink;
  /** Aborting terminates the group like a timeout; the result is `aborted`. */
  signal?: AbortSignal;
  registry?: GroupRegistry;
}

export async function runScript(spec: ScriptSpec, opts: RunScriptOptions): Promise<ExitInfo> {
  const { log } = opts;
  const registry = opts.registry ?? defaultRegistry;
  const label = labelOf(spec);
  if (opts.signal?.aborted) return { kind: 'aborted', killed: false, durationMs: 0 };

  const spawned = spawnInGroup(spec, log, registry);
  if (!spawned.ok) {
    const info = await spawned.info;
    log.event(`${label}: ${describeExit(info)}`);
    return info;
  }
  const { proc } = spawned;
  const graceMs = spec.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  log.event(`${label}: started, pid ${proc.pid}`);

  let reason: 'timeout' | 'aborted' | null = null;
  let leaderExited = false;
  const end = (why: 'timeout' | 'aborted', grace: number): Promise<unknown> => {
    if (!reason && !leaderExited) {
      reason = why;
      log.event(`${label}: ${why === 'timeout' ? `timed out after ${spec.timeoutMs}ms` : 'aborted'}, SIGTERM to process group ${proc.pid}`);
    }
    return proc.group.terminate('SIGTERM', grace);
  };
  const timer = spec.timeoutMs ? setTimeout(() => void end('timeout', graceMs), spec.timeoutMs) : null;
  const onAbort = (): void => void end('aborted', graceMs);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  proc.group.shutdown = (grace) => end('aborted', grace);

  const leader = await proc.exit;
  leaderExited = true;
  if (timer) clearTimeout(timer);
  opts.signal?.removeEventListener('abort', onAbort);

  let info: ExitInfo;
  if (reason) {
    const r = await proc.group.terminate('SIGTERM', graceMs); // joins the running termination
    const durationMs = performance.now() - proc.startedAt;
    if (r.lingering) log.event(`${label}: process group ${proc.pid} still has live members after SIGKILL`);
    info = reason === 'timeout' ? { kind: 'timeout', afterMs: spec.timeoutMs ?? 0, killed: r.killed, durationMs } : { kind: 'aborted', killed: r.killed, durationMs };
  } else {
    info = classifyExit(leader.code, leader.signal, leader.at - proc.startedAt);
    proc.group.shutdown = null; // what it left running is stopped as a plain group
  }
  await settleOutput(proc, OUTPUT_SETTLE_MS);
  if (!reason && !(await proc.group.checkGone())) log.event(`${label}: left processes running in group ${proc.pid}`);
  log.event(`${label}: ${describeExit(info)}`);
  return info;
}
