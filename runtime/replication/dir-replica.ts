// One replicated directory of a mirror module on this node, in the role the mirror machine asks for:
//   primary   (modes hold / alone / sync): `hamod-repl primary` mounted over the directory, driven
//             through its control socket; it attaches the peer's secondary when asked;
//   secondary (mode receive): `hamod-repl secondary` listening for the primary, and the directory
//             made read-only for applications (a read-only bind of itself);
//   none      (mode off): no daemon, no mount of ours.
// Role changes are serialised; each one first removes what the previous role left.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ControlClient, kv, ReplDaemon } from './daemon.js';
import { bindReadOnly, BindRecord, removeOurMounts, topMountAt, umount, unbindReadOnly } from './mounts.js';

/** hamod-repl's activity-log extent (its default --al-extent-bytes). */
export const AL_EXTENT_BYTES = 4 * 2 ** 20;
/** The activity log of a plan that does not say (compiled before it existed): 1024 extents. */
export const DEFAULT_ACTIVITY_LOG_BYTES = 1024 * AL_EXTENT_BYTES;

export type DirRole = 'none' | 'primary' | 'secondary';
export type MirrorLink = 'none' | 'resync' | 'insync' | 'failed';

export interface DirProgress {
  phase: string;
  doneBytes: number;
  totalBytes: number;
  sentBytes: number;
}

export interface DirReplicaDeps {
  index: number;
  dir: string;
  stateDir: string;
  bin: string;
  keyFile: string;
  zoneBytes: number;
  /** Data the daemon's activity log tracks, in 4 MiB extents; 0: none. */
  activityLogBytes: number;
  timeoutMs: number;
  include: readonly string[];
  exclude: readonly string[];
  /** This node's addresses (one per network): the secondary daemon listens on each. */
  listenAddresses: readonly string[];
  log: (line: string) => void;
  onInSync: () => void;
  onOutOfSync: (reason: string) => void;
  onDaemonExit: (role: DirRole, how: string) => void;
}

export class DirReplica {
  readonly d: DirReplicaDeps;
  #role: DirRole = 'none';
  /** The role the last setMode asked for (role changes are applied in order by #serial). */
  #target: DirRole = 'none';
  #daemon: ReplDaemon | null = null;
  #control: ControlClient | null = null;
  #port: number | null = null;
  #chain: Promise<unknown> = Promise.resolve();
  #link: MirrorLink = 'none';
  #attachId: string | null = null;
  #progress: DirProgress = { phase: '', doneBytes: 0, totalBytes: 0, sentBytes: 0 };
  #reason: string | null = null;
  #waitLine: { re: RegExp; resolve: (l: string) => void } | null = null;
  readonly #binds: BindRecord;

  constructor(d: DirReplicaDeps) {
    this.d = d;
    this.#binds = new BindRecord(join(d.stateDir, 'repl-binds.json'));
  }

  get role(): DirRole {
    return this.#role;
  }

  get port(): number | null {
    return this.#role === 'secondary' ? this.#port : null;
  }

  status(): { dir: string; role: DirRole; link: MirrorLink; attachId: string | null; reason: string | null } & DirProgress {
    return { dir: this.d.dir, role: this.#role, link: this.#link, attachId: this.#attachId, reason: this.#reason, ...this.#progress };
  }

  #files() {
    const i = this.d.index;
    return {
      changelog: join(this.d.stateDir, `repl-${i}.changes`),
      socket: join(this.d.stateDir, `repl-${i}.sock`),
    };
  }

  #patterns(): string[] {
    return [...this.d.include.flatMap((p) => ['--include', p]), ...this.d.exclude.flatMap((p) => ['--exclude', p])];
  }

  #serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.#chain.then(f);
    this.#chain = p.catch(() => undefined);
    return p;
  }

  /** Applies a mode of the mirror machine (`off | receive | hold | alone | sync`). */
  setMode(mode: string, generation: string): Promise<void> {
    const target: DirRole = mode === 'off' ? 'none' : mode === 'receive' ? 'secondary' : 'primary';
    const was = this.#target;
    this.#target = target;
    const log = (e: unknown) => this.d.log(`replication: mode ${mode} on ${this.d.dir}: ${(e as Error).message}`);
    if (mode === 'off') {
      // Fencing must not wait for the daemon (it may be waiting for a lost mirror's answer): the
      // application is killed first by the agent; writes are refused (EROFS) as soon as the daemon
      // reads the command; its exit and the unmount follow.
      void this.#serial(async () => {
        if (this.#role === 'primary') {
          try { await this.#control?.request('MODE off', 3000); } catch { /* dead daemon: its mount refuses everything */ }
        }
        await this.#stopPrimary();
        await this.#stopSecondary();
      }).catch(log);
      return Promise.resolve();
    }
    if (target === 'primary' && was === 'primary' && this.#role === 'primary' && this.#daemon?.alive) {
      // Only the mode changes (the daemon is, or is being, mounted): the command is queued in order
      // and nothing waits for it. The modes only ever hold or release writes.
      void this.#serial(async () => {
        await this.#ensurePrimary();
        await this.#control!.request(mode === 'hold' ? 'MODE hold' : `MODE ${mode} ${generation}`);
      }).catch(log);
      return Promise.resolve();
    }
    // A role change: the caller (the application's start) waits for the mount.
    return this.#serial(async () => {
      if (mode === 'receive') {
        await this.#stopPrimary();
        await this.#ensureSecondary();
      } else {
        await this.#stopSecondary();
        await this.#ensurePrimary();
        await this.#control!.request(mode === 'hold' ? 'MODE hold' : `MODE ${mode} ${generation}`);
      }
    });
  }

  /** On the primary: reintegrate the peer's secondary listening at host:port, then keep it in sync. */
  attach(host: string, port: number, kind: 'delta' | 'full', bandwidth: number | null, attachId: string): Promise<void> {
    return this.#serial(async () => {
      if (this.#role !== 'primary' || !this.#control) throw new Error('not primary here');
      if (this.#link === 'resync' || this.#link === 'insync') {
        try { await this.#control.request('DETACH'); } catch { /* nothing attached any more */ }
      }
      this.#attachId = attachId;
      this.#link = 'resync';
      this.#reason = null;
      this.#progress = { phase: 'connect', doneBytes: 0, totalBytes: 0, sentBytes: 0 };
      try {
        await this.#control.request(`ATTACH ${host}:${port} ${kind}${bandwidth ? ` ${bandwidth}` : ''}`);
      } catch (e) {
        this.#link = 'failed';
        this.#reason = (e as Error).message;
        throw e;
      }
    });
  }

  /** The peer is lost: drop the mirror now rather than let writes wait out the replication timeout. */
  dropMirror(): void {
    if (this.#link !== 'insync' && this.#link !== 'resync') return;
    void this.#serial(async () => {
      if (this.#role !== 'primary' || !this.#control || (this.#link !== 'insync' && this.#link !== 'resync')) return;
      try {
        await this.#control.request('DETACH', 3000);
        this.#link = 'none';
        this.#reason = 'peer lost';
      } catch { /* already detached */ }
    });
  }

  async #ensurePrimary(): Promise<void> {
    if (this.#role === 'primary' && this.#daemon?.alive) return;
    await this.#stopPrimary();
    await removeOurMounts(this.d.dir, this.#binds, this.d.log);
    mkdirSync(this.d.dir, { recursive: true, mode: 0o755 });
    const f = this.#files();
    const args = [
      'primary', '--dir', this.d.dir, '--key-file', this.d.keyFile, '--control', f.socket, '--changelog', f.changelog,
      '--zone-bytes', String(this.d.zoneBytes), '--al-extents', String(Math.ceil(this.d.activityLogBytes / AL_EXTENT_BYTES)), '--timeout-ms', String(this.d.timeoutMs), '--mode', 'hold', ...this.#patterns(),
    ];
    const daemon = this.#spawn(args, 'primary');
    await this.#expect(daemon, /^READY\b/, 20_000, 'mount the replicated directory');
    this.#daemon = daemon;
    this.#control = new ControlClient(f.socket);
    this.#role = 'primary';
    this.#link = 'none';
    this.d.log(`replication: ${this.d.dir} mounted (primary)`);
  }

  async #ensureSecondary(): Promise<void> {
    if (this.#role === 'secondary' && this.#daemon?.alive) return;
    await this.#stopSecondary();
    await removeOurMounts(this.d.dir, this.#binds, this.d.log);
    mkdirSync(this.d.dir, { recursive: true, mode: 0o755 });
    const f = this.#files();
    const args = ['secondary', '--dir', this.d.dir, ...this.d.listenAddresses.flatMap((a) => ['--listen', `${a}:0`]), '--key-file', this.d.keyFile, '--changelog', f.changelog, ...this.#patterns()];
    const daemon = this.#spawn(args, 'secondary');
    const line = await this.#expect(daemon, /^LISTENING \d+/, 20_000, 'listen for the primary');
    this.#port = Number(line.split(' ')[1]);
    this.#daemon = daemon;
    this.#role = 'secondary';
    this.#link = 'none';
    try {
      await bindReadOnly(this.d.dir, this.#binds);
    } catch (e) {
      this.d.log(`replication: cannot make ${this.d.dir} read-only for applications: ${(e as Error).message.split('\n')[0]}`);
    }
    this.d.log(`replication: ${this.d.dir} receiving on port ${this.#port} (secondary, read-only for applications)`);
  }

  async #stopPrimary(): Promise<void> {
    if (this.#role !== 'primary') return;
    const daemon = this.#daemon;
    this.#role = 'none';
    this.#daemon = null;
    this.#link = 'none';
    try { await this.#control?.request('MODE off', 3000); } catch { /* already gone */ }
    this.#control?.close();
    this.#control = null;
    if (daemon) {
      const how = await daemon.stop(10_000);
      this.d.log(`replication: ${this.d.dir} unmounted (${how})`);
    }
    // A mount still busy (or a daemon killed) leaves a stale FUSE mount: detach it lazily.
    const top = topMountAt(this.d.dir);
    if (top?.fsType === 'fuse.hamod-repl') {
      try { await umount(this.d.dir, true); } catch (e) { this.d.log(`replication: lazy unmount of ${this.d.dir}: ${(e as Error).message}`); }
    }
  }

  async #stopSecondary(): Promise<void> {
    if (this.#role !== 'secondary') return;
    const daemon = this.#daemon;
    this.#role = 'none';
    this.#daemon = null;
    this.#port = null;
    this.#link = 'none';
    try { await unbindReadOnly(this.d.dir, this.#binds); } catch (e) { this.d.log(`replication: removing the read-only bind of ${this.d.dir}: ${(e as Error).message}`); }
    if (daemon) await daemon.stop(5000);
  }

  #spawn(args: string[], role: DirRole): ReplDaemon {
    const daemon: ReplDaemon = new ReplDaemon(this.d.bin, args, {
      onLine: (line) => this.#line(line),
      onExit: (how) => {
        if (this.#daemon === daemon) {
          this.d.log(`replication: the ${role} daemon of ${this.d.dir} ${how}`);
          this.#daemon = null;
          this.#role = 'none';
          this.#link = 'none';
          this.d.onDaemonExit(role, how);
        }
      },
    });
    return daemon;
  }

  #expect(daemon: ReplDaemon, re: RegExp, timeoutMs: number, what: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.#waitLine = null;
        daemon.kill();
        reject(new Error(`replication daemon did not ${what} within ${timeoutMs} ms: ${daemon.stderrTail.trim().split('\n').slice(-2).join(' | ')}`));
      }, timeoutMs);
      void daemon.exited().then((how) => {
        clearTimeout(t);
        reject(new Error(`replication daemon could not ${what}: ${how}`));
      });
      this.#waitLine = {
        re,
        resolve: (l) => {
          clearTimeout(t);
          this.#waitLine = null;
          resolve(l);
        },
      };
    });
  }

  #line(line: string): void {
    if (this.#waitLine?.re.test(line)) this.#waitLine.resolve(line);
    const word = line.split(' ', 1)[0];
    switch (word) {
      case 'RESYNC': {
        const v = kv(line);
        this.#progress = { phase: v.phase ?? '', doneBytes: Number(v.done ?? 0), totalBytes: Number(v.total ?? 0), sentBytes: Number(v.sent ?? 0) };
        // The first line of a reintegration says how the daemon does it (CONTROL.md).
        if (v.mode) this.d.log(`replication: ${this.d.dir} reintegrating the peer: ${reintegrationKind(v.mode, v.walk)}`);
        return;
      }
      case 'INSYNC':
        this.#link = 'insync';
        this.#progress = { ...this.#progress, phase: 'done', doneBytes: this.#progress.totalBytes };
        this.d.log(`replication: ${this.d.dir} in sync with the peer (${this.#progress.sentBytes} bytes sent)`);
        this.d.onInSync();
        return;
      case 'OUTOFSYNC': {
        const reason = line.slice('OUTOFSYNC'.length).trim() || 'mirror lost';
        this.#link = 'none';
        this.#reason = reason;
        this.d.log(`replication: ${this.d.dir} out of sync: ${reason}`);
        // Our own DETACH (a new attachment replaces the mirror, or mode off) is not a failure:
        // in sync mode the daemon then waits for the new mirror and reports if it does not come.
        if (!reason.startsWith('detached')) this.d.onOutOfSync(reason);
        return;
      }
      case 'RESYNCFAILED': {
        const reason = line.slice('RESYNCFAILED'.length).trim() || 'failed';
        this.#link = 'failed';
        this.#reason = reason;
        this.d.log(`replication: resync of ${this.d.dir} failed: ${reason}`);
        return;
      }
      case 'STATE':
        this.d.log(`replication: ${this.d.dir}: ${line}`);
        return;
      default:
        return;
    }
  }

  /** Removes mounts a previous run left (only when no daemon of ours runs). */
  cleanup(): Promise<void> {
    return this.#serial(async () => {
      if (this.#daemon === null) await removeOurMounts(this.d.dir, this.#binds, this.d.log);
    });
  }

  /** Agent shutdown: the daemons stop, our mounts go. */
  close(): Promise<void> {
    return this.#serial(async () => {
      await this.#stopPrimary();
      await this.#stopSecondary();
    });
  }
}

/** How a reintegration runs, from its first RESYNC line's `mode=` and `walk=`. */
export function reintegrationKind(mode: string, walk: string | undefined): string {
  if (mode === 'full') return 'full (checksums of every zone of both copies)';
  if (walk === 'crash') return 'changed zones after a crash (namespace walked, activity log zones compared)';
  return 'changed zones only';
}
