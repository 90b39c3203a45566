// A process group led by a process we spawned (detached: it called setsid, so pgid = its pid), and
// the registry of live groups for the agent's shutdown.
//
// Signals go to the whole group (kill(-pgid)), so children and grandchildren of a script are
// stopped with it. The group is "empty" when kill(-pgid, 0) fails with ESRCH, or when its only
// members are zombies (seen in /proc): an init that does not reap orphans — as in some containers —
// would otherwise keep a dead group alive for ever. Once the leader has exited and the group is seen
// empty it is never signalled again: from then on its number may be reused by an unrelated process
// (the kernel does not reuse a pid while it still names a process group, so signalling a group that
// was non-empty at the last check is safe).
//
// Limits: a descendant that calls setsid()/setpgid() leaves the group and escapes (double-forking
// daemons do this); only cgroups — systemd's approach — would contain those.
import { readdir, readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';

/** After SIGKILL, how long to wait for the group to disappear before giving up (uninterruptible sleep, D state). */
export const KILL_WAIT_CAP_MS = 5000;
const POLL_MS = 20;
const PROC_SCAN_MIN_INTERVAL_MS = 100;

export interface TerminateResult {
  /** SIGKILL was sent. */
  killed: boolean;
  /** Members were still alive when we gave up waiting after SIGKILL. */
  lingering: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Members of process group `pgid` that are not zombies, from /proc; null when /proc is unreadable. */
export async function liveMembers(pgid: number): Promise<number[] | null> {
  let names: string[];
  try {
    names = await readdir('/proc');
  } catch {
    return null;
  }
  const found: number[] = [];
  await Promise.all(
    names.map(async (name) => {
      if (!/^\d+$/.test(name)) return;
      try {
        const stat = await readFile(`/proc/${name}/stat`, 'utf8');
        // pid (comm) state ppid pgrp …; comm may contain spaces and parentheses.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') found.push(Number(name));
      } catch {
        // the process ended meanwhile
      }
    }),
  );
  return found;
}

export class ProcessGroup {
  private leaderDone = false;
  private gone = false;
  private sigkillSent = false;
  private lastScan = -Infinity;
  private terminating: Promise<TerminateResult> | null = null;
  /** Set by the owner (a daemon handle, a running script): how `killAll` stops it, given a grace period. */
  shutdown: ((graceMs: number) => Promise<unknown>) | null = null;

  constructor(
    readonly pgid: number,
    readonly label: string,
    readonly leaderExit: Promise<unknown>,
    private readonly registry: GroupRegistry | null,
  ) {
    void leaderExit.then(() => {
      this.leaderDone = true;
    });
    registry?.add(this);
  }

  get leaderExited(): boolean {
    return this.leaderDone;
  }

  get isGone(): boolean {
    return this.gone;
  }

  get terminationStarted(): boolean {
    return this.terminating !== null;
  }

  /** Sends `sig` to every member; false when the group no longer exists. */
  signal(sig: NodeJS.Signals): boolean {
    if (this.gone) return false;
    try {
      process.kill(-this.pgid, sig);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code !== 'ESRCH';
    }
  }

  forceKill(): void {
    this.sigkillSent = true;
    this.signal('SIGKILL');
  }

  /** True once the leader has exited and no live member remains (checked now, cached once true). */
  async checkGone(): Promise<boolean> {
    if (this.gone) return true;
    if (!this.leaderDone) return false;
    let alive = true;
    try {
      process.kill(-this.pgid, 0);
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code !== 'ESRCH'; // EPERM: it exists
    }
    if (alive && performance.now() - this.lastScan >= PROC_SCAN_MIN_INTERVAL_MS) {
      this.lastScan = performance.now();
      const members = await liveMembers(this.pgid);
      if (members !== null && members.length === 0) alive = false; // zombies only
    }
    if (!alive && !this.gone) {
      this.gone = true;
      this.registry?.delete(this);
    }
    return !alive;
  }

  /** Waits until the leader has exited and the group is empty, or `deadline` (performance.now()). */
  async waitGone(deadline: number): Promise<boolean> {
    for (;;) {
      if (await this.checkGone()) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await (this.leaderDone ? sleep(Math.min(POLL_MS, left)) : Promise.race([sleep(Math.min(POLL_MS, left)), this.leaderExit]));
    }
  }

  /**
   * `sig` (and SIGCONT, so a stopped process can act on it) to the group; SIGKILL to what remains
   * after `graceMs`; resolves when the group is empty or `capMs` after SIGKILL. A second call joins
   * the first; a second call with SIGKILL escalates it at once.
   */
  terminate(sig: NodeJS.Signals, graceMs: number, capMs = KILL_WAIT_CAP_MS): Promise<TerminateResult> {
    if (this.terminating) {
      if (sig === 'SIGKILL') this.forceKill();
      return this.terminating;
    }
    this.terminating = (async () => {
      if (sig === 'SIGKILL') this.forceKill();
      else if (this.signal(sig)) this.signal('SIGCONT');
      let done = await this.waitGone(performance.now() + graceMs);
      if (!done) {
        this.forceKill();
        done = await this.waitGone(performance.now() + capMs);
      }
      return { killed: this.sigkillSent, lingering: !done };
    })();
    return this.terminating;
  }
}

export interface KillAllResult {
  /** Groups that were live when killAll began. */
  groups: number;
  /** Process group ids still holding live processes at the end (D state…). */
  lingering: number[];
}

/** Live process groups, so the agent can stop everything on shutdown. */
export class GroupRegistry {
  private readonly groups = new Set<ProcessGroup>();
  private pruneTimer: NodeJS.Timeout | null = null;
  private closedFlag = false;

  get closed(): boolean {
    return this.closedFlag;
  }

  add(group: ProcessGroup): void {
    this.groups.add(group);
    void group.leaderExit.then(() => this.schedulePrune());
  }

  delete(group: ProcessGroup): void {
    this.groups.delete(group);
  }

  list(): Array<{ pgid: number; label: string; leaderExited: boolean }> {
    return [...this.groups].map((g) => ({ pgid: g.pgid, label: g.label, leaderExited: g.leaderExited }));
  }

  /**
   * Stops every live group (each owner's own stop when it has one, else stop signal SIGTERM) with
   * `graceMs` before SIGKILL, and waits for them. With `close` (default) later spawns through this
   * registry fail with ECANCELED, so a restart racing the shutdown cannot leave a process behind.
   */
  async killAll(opts: { graceMs?: number; capMs?: number; close?: boolean } = {}): Promise<KillAllResult> {
    if (opts.close ?? true) this.closedFlag = true;
    const graceMs = opts.graceMs ?? 5000;
    const groups = [...this.groups];
    await Promise.all(
      groups.map(async (g) => {
        try {
          if (g.shutdown) await g.shutdown(graceMs);
          else await g.terminate('SIGTERM', graceMs, opts.capMs);
        } catch {
          await g.terminate('SIGKILL', 0, opts.capMs);
        }
      }),
    );
    const lingering: number[] = [];
    for (const g of groups) if (!(await g.checkGone())) lingering.push(g.pgid);
    return { groups: groups.length, lingering };
  }

  /** Groups whose leader exited but whose members live on are re-checked every second until empty. */
  private schedulePrune(): void {
    if (this.pruneTimer) return;
    this.pruneTimer = setInterval(() => {
      const waiting = [...this.groups].filter((g) => g.leaderExited);
      if (waiting.length === 0 && this.pruneTimer) {
        clearInterval(this.pruneTimer);
        this.pruneTimer = null;
        return;
      }
      for (const g of waiting) void g.checkGone();
    }, 1000);
    this.pruneTimer.unref();
  }
}

/** The registry used when callers do not pass their own. */
export const defaultRegistry = new GroupRegistry();

export function killAll(opts?: { graceMs?: number; capMs?: number; close?: boolean }): Promise<KillAllResult> {
  return defaultRegistry.killAll(opts);
}
