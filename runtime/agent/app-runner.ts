// Runs a module's services for one role, as the plan says: in start order, `start` scripts (one
// shot, with their timeout) then `run` daemons (supervised: their death is reported at once);
// stopped in reverse order with `stop` scripts, then stopSignal to each group and SIGKILL after the
// stop timeout. The mirror machine decides when; this only executes and reports.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import type { CompiledPlan, PlanService } from '../../compiler/plan/types.js';
import { resolveString, type ParamValues } from '../config/params.js';
import type { LogSink } from '../logs/index.js';
import { describeExit, isSuccess, parseSignal, runScript, startDaemon, type DaemonHandle, type ExitInfo, type GroupRegistry, type ScriptSpec } from '../supervisor/index.js';

const SETPRIV = '/usr/bin/setpriv';
const NICE = '/usr/bin/nice';

export type AppRole = 'primary' | 'secondary';

export interface AppRunnerDeps {
  plan: CompiledPlan;
  params: ParamValues;
  bundleDir: string;
  env: Record<string, string>;
  log: LogSink;
  registry?: GroupRegistry;
  /** A `run` process exited without being asked to. */
  onDaemonExit: (service: string, info: ExitInfo) => void;
  /** Where the process groups of running daemons are recorded (to clean up after an agent crash). */
  groupsFile?: string;
}

/**
 * Kills the process groups a previous run of the agent left behind (it crashed while the module
 * ran): only groups whose leader still carries this module's HAMOD_MODULE in its environment.
 */
export function killLeftovers(groupsFile: string, module: string): number[] {
  let pgids: number[] = [];
  try {
    pgids = (JSON.parse(readFileSync(groupsFile, 'utf8')) as { pgids?: number[] }).pgids ?? [];
  } catch {
    return [];
  }
  const killed: number[] = [];
  for (const pgid of pgids) {
    try {
      const environ = readFileSync(`/proc/${pgid}/environ`, 'utf8').split('\0');
      if (!environ.includes(`HAMOD_MODULE=${module}`)) continue;
      process.kill(-pgid, 'SIGKILL');
      killed.push(pgid);
    } catch {
      /* gone, or not ours */
    }
  }
  rmSync(groupsFile, { force: true });
  return killed;
}

export function servicesFor(plan: CompiledPlan, role: AppRole | 'every'): PlanService[] {
  if (role === 'every') return plan.services.filter((s) => s.role === 'every');
  return plan.services.filter((s) => s.role === role || s.role === 'both');
}

export class AppRunner {
  readonly #d: AppRunnerDeps;
  readonly #daemons = new Map<string, DaemonHandle>();
  #running: AppRole | null = null;

  constructor(deps: AppRunnerDeps) {
    this.#d = deps;
  }

  get running(): AppRole | null {
    return this.#running;
  }

  /** Process groups of the running daemons. */
  pgids(): number[] {
    return [...this.#daemons.values()].map((h) => h.pid).filter((p): p is number => p !== null);
  }

  daemonAlive(service: string): boolean {
    const h = this.#daemons.get(service);
    return h !== undefined && h.pid !== null && h.exitInfo === null;
  }

  /** Starts the role's services; resolves with an error message, or null when all started. */
  async start(role: AppRole): Promise<string | null> {
    this.#running = role;
    for (const s of servicesFor(this.#d.plan, role)) {
      const env = this.#envFor(s, role);
      if (s.start) {
        const info = await runScript(this.#spec(s, s.start.path, env, 'start', s.startTimeoutMs), { log: this.#d.log, ...this.#reg() });
        if (!isSuccess(info)) return `service ${s.name}: start script ${describeExit(info)}`;
      }
      if (s.run) {
        const handle = startDaemon(this.#daemonSpec(this.#spec(s, s.run.path, env, 'run')), {
          log: this.#d.log,
          stopSignal: parseSignal(s.stopSignal) ?? 'SIGTERM',
          stopTimeoutMs: s.stopTimeoutMs,
          onExit: (info, { requested }) => {
            if (!requested && this.#daemons.get(s.name) === handle) this.#d.onDaemonExit(s.name, info);
          },
          ...this.#reg(),
        });
        this.#daemons.set(s.name, handle);
        this.#recordGroups();
        if (handle.pid === null) return `service ${s.name}: ${handle.exitInfo ? describeExit(handle.exitInfo) : 'could not start'}`;
      }
    }
    return null;
  }

  /** Stops the role's services in reverse order; `force` skips stop scripts and kills at once. */
  async stop(role: AppRole, force: boolean): Promise<string> {
    const notes: string[] = [];
    for (const s of [...servicesFor(this.#d.plan, role)].reverse()) {
      const env = this.#envFor(s, role);
      if (s.stop && !force) {
        const info = await runScript(this.#spec(s, s.stop.path, env, 'stop', s.stopTimeoutMs), { log: this.#d.log, ...this.#reg() });
        if (!isSuccess(info)) notes.push(`${s.name}: stop script ${describeExit(info)}`);
      }
      const h = this.#daemons.get(s.name);
      if (h) {
        const info = force ? await h.kill() : await h.stop();
        this.#daemons.delete(s.name);
        this.#recordGroups();
        if (info.kind === 'timeout') notes.push(`${s.name}: killed after the stop timeout`);
      }
    }
    if (this.#running === role) this.#running = null;
    return notes.length ? notes.join('; ') : 'stopped';
  }

  async killAll(): Promise<void> {
    await Promise.all([...this.#daemons.values()].map((h) => h.kill()));
    this.#daemons.clear();
    this.#running = null;
  }

  /**
   * A `run` process dies with the agent (the kernel's parent-death signal, set by setpriv before
   * exec): an agent that crashes must not leave its application running while the peer takes over.
   */
  #daemonSpec(spec: ScriptSpec): ScriptSpec {
    if (!existsSync(SETPRIV)) return spec;
    return { ...spec, path: SETPRIV, args: ['--pdeathsig', 'SIGKILL', '--', spec.path, ...(spec.args ?? [])] };
  }

  #recordGroups(): void {
    if (!this.#d.groupsFile) return;
    const pgids = this.pgids();
    try {
      writeFileSync(this.#d.groupsFile, JSON.stringify({ pgids }) + '\n', { mode: 0o600 });
    } catch (e) {
      this.#d.log.event(`cannot record process groups: ${(e as Error).message}`);
    }
  }

  #reg(): { registry?: GroupRegistry } {
    return this.#d.registry ? { registry: this.#d.registry } : {};
  }

  #envFor(s: PlanService, role: AppRole): Record<string, string> {
    const env: Record<string, string> = { ...this.#d.env, HAMOD_ROLE: role, HAMOD_SERVICE: s.name };
    for (const [k, v] of Object.entries(s.environment)) env[k] = resolveString(v, this.#d.params);
    return env;
  }

  #spec(s: PlanService, rel: string, env: Record<string, string>, label: string, timeoutMs?: number) {
    const spec: Parameters<typeof runScript>[0] = { path: join(this.#d.bundleDir, rel), env, service: s.name, label };
    // The agent runs at a raised priority (heartbeats must not starve); its scripts must not.
    const nice = getPriority();
    if (nice < 0 && existsSync(NICE)) {
      spec.args = ['-n', String(-nice), '--', spec.path];
      spec.path = NICE;
    }
    if (s.workingDirectory !== undefined) spec.cwd = resolveString(s.workingDirectory, this.#d.params);
    if (s.user !== undefined) spec.user = s.user;
    if (s.group !== undefined) spec.group = s.group;
    if (timeoutMs !== undefined) spec.timeoutMs = timeoutMs;
    return spec;
  }
}
