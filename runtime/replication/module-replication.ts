// The replication layer of one mirror module on this node, as the mirror machine sees it: it applies
// `setReplication` to every replicated directory, and reports `replInSync` / `replOutOfSync` /
// `resyncDone` / `resyncFailed`.
//
// Reintegration is asked for by the receiving node (the secondary, mode `receive`): it starts its
// secondary daemons, then asks the primary's agent (mutual-TLS peer API) to attach them, with an
// attach id, and follows the primary's progress until every directory is in sync under that id.
import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PlanReplication } from '../../compiler/plan/types.js';
import { DEFAULT_ACTIVITY_LOG_BYTES, DirReplica, type DirProgress, type DirRole, type MirrorLink } from './dir-replica.js';

export interface AttachRequest {
  attachId: string;
  full: boolean;
  endpoints: Array<{ index: number; port: number }>;
}

export interface DirState extends DirProgress {
  dir: string;
  role: DirRole;
  link: MirrorLink;
  attachId: string | null;
  reason: string | null;
}

export interface ReplicationProgress {
  /** This node's part: primary (sends), secondary (receives), none. */
  role: DirRole;
  dirs: DirState[];
}

export interface PeerReplicationApi {
  attach(module: string, req: AttachRequest): Promise<{ ok: boolean; reason?: string }>;
  progress(module: string): Promise<ReplicationProgress>;
}

export interface ModuleReplicationDeps {
  module: string;
  plan: PlanReplication;
  /** Resolved directory paths, in the plan's order. */
  dirs: string[];
  stateDir: string;
  bin: string;
  secret: Buffer;
  /** This node's addresses (one per network). */
  listenAddresses: readonly string[];
  /** The peer's address on the network to use now (the first one whose heartbeats are up). */
  peerAddress: () => string;
  peer: PeerReplicationApi;
  log: (line: string) => void;
  onInSync: () => void;
  onOutOfSync: (reason: string) => void;
  onResyncDone: (generationId: string) => void;
  onResyncFailed: (reason: string) => void;
}

/**
 * What the receiving side does after its reintegration attempt number `failures` failed: a
 * changed-zones reintegration that fails twice (our copy no longer matches what the change logs
 * describe) is retried with checksums of every zone, which needs no history; past the fourth failure
 * of a reintegration the mirror machine waits for, it is reported failed (the machine decides what
 * next); otherwise the same kind is asked for again.
 */
export function afterFailedAttach(failures: number, full: boolean, awaited: boolean): 'again' | 'checksums' | 'give-up' {
  if (failures === 2 && !full) return 'checksums';
  if (failures >= 4 && awaited) return 'give-up';
  return 'again';
}

export class ModuleReplication {
  readonly #d: ModuleReplicationDeps;
  readonly dirs: DirReplica[];
  #mode = 'off';
  /** The receiving side's current reintegration: what the machine waits for, and the attach id. */
  #receive: { token: number; resyncTo: string | null; full: boolean; attachId: string | null } | null = null;
  #token = 0;
  /** Last progress seen from the primary (receiving side), for `hamod status`. */
  #remote: ReplicationProgress | null = null;
  #bandwidth: number | null;

  constructor(d: ModuleReplicationDeps) {
    this.#d = d;
    this.#bandwidth = d.plan.resyncBandwidthBytesPerSec;
    mkdirSync(d.stateDir, { recursive: true, mode: 0o700 });
    // Both nodes derive the same per-module key from the cluster secret.
    const keyFile = join(d.stateDir, 'repl.key');
    writeFileSync(keyFile, createHmac('sha256', d.secret).update(`hamod-repl/v1/${d.module}`).digest(), { mode: 0o600 });
    const insync = () => {
      if (this.dirs.every((x) => x.status().link === 'insync')) d.onInSync();
    };
    this.dirs = d.dirs.map(
      (dir, index) =>
        new DirReplica({
          index, dir, stateDir: d.stateDir, bin: d.bin, keyFile,
          zoneBytes: d.plan.zoneSizeBytes, timeoutMs: d.plan.timeoutMs,
          activityLogBytes: d.plan.activityLogBytes ?? DEFAULT_ACTIVITY_LOG_BYTES,
          include: d.plan.directories[index]?.include ?? [], exclude: d.plan.directories[index]?.exclude ?? [],
          listenAddresses: d.listenAddresses, log: d.log,
          onInSync: insync,
          onOutOfSync: (r) => d.onOutOfSync(`${dir}: ${r}`),
          onDaemonExit: (role, how) => {
            if (role === 'primary' && this.#primaryMode()) d.onOutOfSync(`${dir}: replication daemon ${how}`);
            if (role === 'secondary' && this.#receive) this.#failReceive(`${dir}: replication daemon ${how}`);
          },
        }),
    );
  }

  /** The machine runs this node as primary (the daemon is mounted over the directories). */
  #primaryMode(): boolean {
    return this.#mode === 'sync' || this.#mode === 'alone' || this.#mode === 'hold';
  }

  /** Agent start: removes what a crashed run left mounted on the directories. */
  async init(): Promise<void> {
    await Promise.all(this.dirs.map((x) => x.cleanup()));
  }

  /** Runtime override of the resync bandwidth cap (bytes per second, null = the module's setting). */
  setBandwidth(bytesPerSec: number | null): void {
    this.#bandwidth = bytesPerSec ?? this.#d.plan.resyncBandwidthBytesPerSec;
  }

  /** `setReplication { mode, generation }` of the mirror machine; resolves when applied. */
  async setMode(mode: string, generationId: string): Promise<void> {
    const was = this.#mode;
    this.#mode = mode;
    if (mode !== 'receive') this.#receive = null;
    await Promise.all(this.dirs.map((x) => x.setMode(mode, generationId)));
    // A secondary attaches to the primary; when a resync was asked for in the same step
    // (beginResync follows at once), that one does it.
    if (mode === 'receive' && was !== 'receive') {
      setTimeout(() => {
        if (this.#mode === 'receive' && !this.#receive) this.#startReceive(null, false);
      }, 50);
    }
  }

  /** `beginResync` (receiving side): reintegrate from the primary; resyncDone when in sync. */
  beginResync(toGenerationId: string, full: boolean): void {
    this.#startReceive(toGenerationId, full);
  }

  /** The heartbeats say the peer is gone: writes stop waiting for its mirror at once. */
  peerLost(): void {
    for (const x of this.dirs) x.dropMirror();
  }

  abortResync(): void {
    this.#receive = null;
  }

  #failReceive(reason: string): void {
    const r = this.#receive;
    if (!r) return;
    this.#receive = null;
    if (r.resyncTo !== null) this.#d.onResyncFailed(reason);
    else this.#d.log(`replication: ${reason}`);
  }

  /** Attaches our secondaries to the primary and follows the reintegration (runs in the background). */
  #startReceive(resyncTo: string | null, full: boolean): void {
    const token = ++this.#token;
    this.#receive = { token, resyncTo, full, attachId: null };
    void this.#receiveLoop(token).catch((e: unknown) => {
      if (this.#receive?.token === token) this.#failReceive((e as Error).message);
    });
  }

  async #receiveLoop(token: number): Promise<void> {
    const live = () => this.#receive !== null && this.#receive.token === token && this.#mode === 'receive';
    let attachId: string | null = null;
    let lastReason = '';
    let failures = 0;
    while (live()) {
      if (attachId === null) {
        // A secondary daemon that died (or never started) is started again.
        for (const x of this.dirs) {
          if (x.port === null && live()) {
            try {
              await x.setMode('receive', '');
            } catch (e) {
              this.#d.log(`replication: cannot start the secondary daemon of ${x.d.dir}: ${(e as Error).message}`);
            }
          }
        }
        const endpoints = this.dirs.map((x, index) => ({ index, port: x.port ?? 0 }));
        if (endpoints.some((e) => e.port === 0)) {
          await sleep(1000);
          continue;
        }
        const id = randomBytes(8).toString('hex');
        let r: { ok: boolean; reason?: string };
        try {
          r = await this.#d.peer.attach(this.#d.module, { attachId: id, full: this.#receive!.full, endpoints });
        } catch (e) {
          r = { ok: false, reason: (e as Error).message };
        }
        if (!live()) return;
        if (!r.ok) {
          if (r.reason !== lastReason) this.#d.log(`replication: the primary cannot reintegrate us yet: ${r.reason ?? 'refused'}`);
          lastReason = r.reason ?? '';
          await sleep(1000);
          continue;
        }
        attachId = id;
        this.#receive!.attachId = id;
        this.#d.log(`replication: reintegration ${id} started by the primary (${this.#receive!.full ? 'full, checksums' : 'changed zones'})`);
      }
      await sleep(500);
      if (!live()) return;
      let p: ReplicationProgress;
      try {
        p = await this.#d.peer.progress(this.#d.module);
      } catch {
        continue;
      }
      this.#remote = p;
      const mine = p.dirs.filter((x) => x.attachId === attachId);
      const failed = mine.find((x) => x.link === 'failed' || x.link === 'none');
      if (mine.length < this.dirs.length || failed) {
        // The primary dropped this attachment (or a newer one replaced it): try again.
        if (failed) {
          failures++;
          const next = afterFailedAttach(failures, this.#receive!.full, this.#receive!.resyncTo !== null);
          if (next === 'checksums') {
            this.#receive!.full = true;
            this.#d.log(`replication: changed-zones reintegration failed twice (${failed.reason ?? failed.link}): retrying with checksums of every zone`);
          } else if (next === 'give-up') return this.#failReceive(`reintegration failed: ${failed.reason ?? failed.link}`);
        }
        this.#d.log(`replication: reintegration ${attachId} ${failed ? `failed (${failed.reason ?? failed.link})` : 'superseded'}; asking again`);
        attachId = null;
        await sleep(1000);
        continue;
      }
      if (mine.every((x) => x.link === 'insync')) {
        const r = this.#receive!;
        if (r.resyncTo !== null) {
          const to = r.resyncTo;
          r.resyncTo = null;
          this.#d.onResyncDone(to);
        }
        // Stay attached; a later loss is seen by the primary, which moves to a new generation and
        // so makes the machine ask for a new resync.
        return;
      }
    }
  }

  /** Primary side: the peer asks for its secondaries to be attached. */
  async attachFromPeer(req: AttachRequest): Promise<{ ok: boolean; reason?: string }> {
    if (!this.#primaryMode()) return { ok: false, reason: `not primary here (replication ${this.#mode})` };
    if (req.endpoints.length !== this.dirs.length) return { ok: false, reason: 'directory count differs' };
    try {
      for (const e of req.endpoints) {
        const dir = this.dirs[e.index];
        if (!dir || !Number.isInteger(e.port) || e.port <= 0 || e.port > 65535) return { ok: false, reason: 'bad endpoint' };
        await dir.attach(this.#d.peerAddress(), e.port, req.full ? 'full' : 'delta', this.#bandwidth, req.attachId);
      }
    } catch (e) {
      return { ok: false, reason: (e as Error).message };
    }
    return { ok: true };
  }

  progress(): ReplicationProgress {
    const dirs = this.dirs.map((x) => x.status());
    const role: DirRole = dirs.some((x) => x.role === 'primary') ? 'primary' : dirs.some((x) => x.role === 'secondary') ? 'secondary' : 'none';
    return { role, dirs };
  }

  /** What `hamod status` shows: our directories, and on the receiving side the primary's progress. */
  summary(): { state: string; doneBytes: number; totalBytes: number; sentBytes: number; dirs: DirState[] } {
    const own = this.progress();
    const dirs = own.role === 'secondary' && this.#remote && this.#receive?.attachId ? this.#remote.dirs.filter((x) => x.attachId === this.#receive?.attachId) : own.dirs;
    const sum = (k: 'doneBytes' | 'totalBytes' | 'sentBytes') => dirs.reduce((a, x) => a + x[k], 0);
    let state: string;
    if (own.role === 'none') state = 'off';
    else if (own.role === 'secondary') state = this.#receive?.resyncTo ? (this.#receive.attachId ? 'resyncing' : 'waiting for the primary') : dirs.length && dirs.every((x) => x.link === 'insync') ? 'in sync' : this.#receive ? 'attaching' : 'receiving';
    else state = dirs.every((x) => x.link === 'insync') ? 'in sync' : dirs.some((x) => x.link === 'resync') ? 'resyncing the peer' : this.#mode === 'alone' ? 'alone (changes recorded)' : this.#mode === 'hold' ? 'holding writes' : 'waiting for the peer';
    return { state, doneBytes: sum('doneBytes'), totalBytes: sum('totalBytes'), sentBytes: sum('sentBytes'), dirs };
  }

  async close(): Promise<void> {
    this.#receive = null;
    this.#mode = 'off';
    await Promise.all(this.dirs.map((x) => x.close()));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
