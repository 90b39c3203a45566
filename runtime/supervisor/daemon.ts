// Foreground services (`run` scripts): started once, watched through their exit event. The exit is
// reported to `onExit` at once — this is how a process checker sees a death without polling.
//
// stop(): the stop signal to the whole group (then SIGCONT), up to stopTimeoutMs for the leader to
// exit and the group to empty, then SIGKILL to the group; resolves when the group is gone (capped,
// see KILL_WAIT_CAP_MS). When the leader dies on its own, whatever it left in its group is stopped
// the same way (`killStrays`, default on) so a crashed app's children do not keep its ports.
//
// Caveats for modules: a non-interactive sh starts `cmd &` children with SIGINT and SIGQUIT
// ignored, so a stopSignal of SIGINT/SIGQUIT never reaches them (the stop then ends in SIGKILL);
// and a child forked by a shell that traps the stop signal may lose it until it has exec'd.
// The processes run detached: if the agent itself dies they survive, and a restarted agent must
// find them again (e.g. from pgids it persisted from `registry.list()`).
import { performance } from 'node:perf_hooks';
import type { LogSink } from '../logs/lines.js';
import { classifyExit, describeExit, parseSignal, type ExitInfo } from './exit.js';
import { defaultRegistry, type GroupRegistry, type ProcessGroup } from './group.js';
import { labelOf, spawnInGroup, type ScriptSpec } from './spawn.js';

export interface DaemonOptions {
  log: LogSink;
  /** Signal that asks the service to stop (the plan's stopSignal): `SIGTERM`, `TERM`, `SIGINT`… */
  stopSignal: string;
  stopTimeoutMs: number;
  /**
   * The leader exited. `requested`: after stop()/kill()/killAll (expected), otherwise a crash.
   * Called once, in the same tick as the exit event (a few ticks later for a spawn error).
   */
  onExit: (info: ExitInfo, ctx: { requested: boolean }) => void;
  /** Stop what a leader that died on its own left in its group. Default true. */
  killStrays?: boolean;
  /** Grace between the stop signal and SIGKILL for such strays. Default min(stopTimeoutMs, 1000). */
  strayGraceMs?: number;
  registry?: GroupRegistry;
}

export interface DaemonHandle {
  /** Pid of the leader (also its process group id); null when it could not be spawned. */
  readonly pid: number | null;
  /** How the leader ended, once it has. */
  readonly exitInfo: ExitInfo | null;
  /** Resolves with the leader's exit (as given to onExit). */
  readonly exited: Promise<ExitInfo>;
  /**
   * Graceful stop of the whole group; the same promise on every call. Resolves with the leader's
   * exit, or `timeout` (killed: true) when SIGKILL was needed; at once if it had already exited and
   * nothing is left of its group.
   */
  stop(): Promise<ExitInfo>;
  /** SIGKILL to the whole group now (escalates a running stop); resolves like stop(). */
  kill(): Promise<ExitInfo>;
}

export function startDaemon(spec: ScriptSpec, opts: DaemonOptions): DaemonHandle {
  const { log } = opts;
  const registry = opts.registry ?? defaultRegistry;
  const stopSignal = parseSignal(opts.stopSignal);
  const label = labelOf(spec);
  const spawned = spawnInGroup(spec, log, registry);

  if (!spawned.ok) {
    const exited = spawned.info.then((info) => {
      log.event(`${label}: ${describeExit(info)}`);
      opts.onExit(info, { requested: false });
      return info;
    });
    const handle: DaemonHandle & { exitInfo: ExitInfo | null } = {
      pid: null,
      exitInfo: null,
      exited,
      stop: () => exited,
      kill: () => exited,
    };
    void exited.then((info) => (handle.exitInfo = info));
    return handle;
  }

  const { proc } = spawned;
  const group: ProcessGroup = proc.group;
  log.event(`${label}: started, pid ${proc.pid}`);
  let exitInfo: ExitInfo | null = null;
  let requested = false;
  let stopping: Promise<ExitInfo> | null = null;

  const exited = proc.exit.then((leader) => {
    const info = classifyExit(leader.code, leader.signal, leader.at - proc.startedAt);
    exitInfo = info;
    log.event(`${label}: ${requested ? '' : 'unexpectedly '}${describeExit(info)}`);
    try {
      opts.onExit(info, { requested });
    } catch (err) {
      log.event(`${label}: onExit handler failed: ${(err as Error).message}`);
    }
    if (!requested && (opts.killStrays ?? true)) {
      stopping = cleanStrays(info);
    }
    return info;
  });

  /** After a crash: stop the rest of the group, resolve with the crash's exit info. */
  const cleanStrays = async (info: ExitInfo): Promise<ExitInfo> => {
    if (await group.checkGone()) return info;
    const grace = opts.strayGraceMs ?? Math.min(opts.stopTimeoutMs, 1000);
    log.event(`${label}: the leader is gone, ${stopSignal} to the processes left in group ${proc.pid}`);
    const r = await group.terminate(stopSignal, grace);
    log.event(`${label}: group ${proc.pid} ${r.lingering ? 'still has live members after SIGKILL' : r.killed ? 'emptied by SIGKILL' : 'emptied'}`);
    return info;
  };

  const stopWith = (sig: NodeJS.Signals, graceMs: number): Promise<ExitInfo> => {
    if (stopping) {
      if (sig === 'SIGKILL') group.forceKill();
      return stopping;
    }
    if (exitInfo) {
      stopping = cleanStrays(exitInfo);
      return stopping;
    }
    requested = true;
    log.event(`${label}: stopping, ${sig} to process group ${proc.pid}`);
    const t0 = performance.now();
    stopping = (async () => {
      const r = await group.terminate(sig, graceMs);
      const leader = await exited;
      if (r.lingering) log.event(`${label}: process group ${proc.pid} still has live members after SIGKILL`);
      if (sig !== 'SIGKILL' && r.killed) {
        const info: ExitInfo = { kind: 'timeout', afterMs: graceMs, killed: true, durationMs: performance.now() - proc.startedAt };
        log.event(`${label}: stop ${describeExit(info)} after ${Math.round(performance.now() - t0)}ms`);
        return info;
      }
      return leader;
    })();
    return stopping;
  };

  group.shutdown = (graceMs) => stopWith(stopSignal, Math.min(graceMs, opts.stopTimeoutMs));

  return {
    pid: proc.pid,
    get exitInfo() {
      return exitInfo;
    },
    exited,
    stop: () => stopWith(stopSignal, opts.stopTimeoutMs),
    kill: () => stopWith('SIGKILL', 0),
  };
}
