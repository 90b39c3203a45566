// The agent's side of the fencing watchdog (fence-watchdog.ts): starts it and keeps each module's
// authority deadline, process groups and VIPs up to date.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface FenceTarget {
  /** Authority deadline on the agent's clock (performance.now ms), or null: nothing to enforce. */
  until: number | null;
  pgids: number[];
  vips: Array<{ address: string; prefix?: number; interface?: string }>;
}

export class FenceGuard {
  readonly #child: ChildProcess;
  /** performance.now() + offset = process.hrtime in ms (the clock shared with the watchdog). */
  readonly #offset = Number(process.hrtime.bigint()) / 1e6 - performance.now();
  readonly #last = new Map<string, string>();

  constructor(log: (line: string) => void) {
    const script = fileURLToPath(new URL('./fence-watchdog.js', import.meta.url));
    // Its own process group: a freeze (SIGSTOP) of the agent's group must not freeze it too.
    this.#child = spawn(process.execPath, [script], { stdio: ['pipe', 'ignore', 'pipe'], detached: true });
    this.#child.stderr?.on('data', (d: Buffer) => { for (const l of d.toString().trimEnd().split('\n')) log(l); });
    this.#child.stdin?.on('error', () => undefined);
    this.#child.on('exit', (code, signal) => log(`fence watchdog exited (${signal ?? code})`));
  }

  update(module: string, t: FenceTarget): void {
    const line = JSON.stringify({ module, until: t.until === null ? null : t.until + this.#offset, pgids: t.pgids, vips: t.vips });
    // Deadlines move on every grant; send every change (a line is ~200 bytes every 100 ms).
    if (this.#last.get(module) === line) return;
    this.#last.set(module, line);
    this.#child.stdin?.write(line + '\n');
  }

  /** Disarms everything and stops the watchdog (orderly agent shutdown). */
  close(): void {
    for (const m of this.#last.keys()) this.#child.stdin?.write(JSON.stringify({ module: m, until: null, pgids: [], vips: [] }) + '\n');
    this.#child.kill('SIGTERM');
  }
}
