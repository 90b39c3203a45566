// One native replication daemon (native/hamod-repl) of one replicated directory: started with the
// kernel's parent-death signal (it dies with the agent, like the application), its stdout read as
// event lines, the primary's control socket used for commands (one request, one reply line).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../compiler/validate/schema-file.js';

const SETPRIV = '/usr/bin/setpriv';

/**
 * The daemon binary: HAMOD_REPL_BIN, or native/hamod-repl/build/hamod-repl (built from source by
 * `npm run build` / native/build.sh at install; never by the agent, whose event loop carries the
 * heartbeats).
 */
export function replBinary(): string {
  const env = process.env.HAMOD_REPL_BIN;
  if (env) return env;
  const bin = join(PACKAGE_ROOT, 'native/hamod-repl/build/hamod-repl');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: build it with native/build.sh (Debian packages: native/apt-packages.txt)`);
  return bin;
}

export interface DaemonEvents {
  onLine: (line: string) => void;
  onExit: (how: string) => void;
}

export class ReplDaemon {
  readonly child: ChildProcess;
  #exited = false;
  readonly #exit: Promise<string>;
  #stderr = '';

  constructor(bin: string, args: string[], ev: DaemonEvents) {
    const argv = existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'SIGKILL', '--', bin, ...args] : [bin, ...args];
    this.child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let buf = '';
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        ev.onLine(line);
      }
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (d: string) => {
      this.#stderr = (this.#stderr + d).slice(-4000);
    });
    this.#exit = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.#exited = true;
        const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
        const tail = this.#stderr.trim().split('\n').slice(-2).join(' | ');
        const msg = tail ? `${how} (${tail})` : how;
        ev.onExit(msg);
        resolve(msg);
      });
      this.child.on('error', (e) => {
        this.#exited = true;
        ev.onExit(e.message);
        resolve(e.message);
      });
    });
  }

  get alive(): boolean {
    return !this.#exited;
  }

  get stderrTail(): string {
    return this.#stderr;
  }

  /** SIGTERM (the daemon unmounts and exits), SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<string> {
    if (this.#exited) return this.#exit;
    try { this.child.kill('SIGTERM'); } catch { /* gone */ }
    const t = setTimeout(() => { try { this.child.kill('SIGKILL'); } catch { /* gone */ } }, graceMs);
    const how = await this.#exit;
    clearTimeout(t);
    return how;
  }

  kill(): void {
    try { this.child.kill('SIGKILL'); } catch { /* gone */ }
  }

  exited(): Promise<string> {
    return this.#exit;
  }
}

/** A line-protocol client of the primary daemon's control socket; requests are serialised. */
export class ControlClient {
  #sock: Socket | null = null;
  #buf = '';
  readonly #waiting: Array<(line: string | Error) => void> = [];
  #chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly path: string) {}

  #connect(): Promise<Socket> {
    if (this.#sock && !this.#sock.destroyed) return Promise.resolve(this.#sock);
    return new Promise((resolve, reject) => {
      const s = createConnection(this.path);
      s.setEncoding('utf8');
      s.once('connect', () => {
        this.#sock = s;
        resolve(s);
      });
      s.on('data', (d: string) => {
        this.#buf += d;
        let i;
        while ((i = this.#buf.indexOf('\n')) >= 0) {
          const line = this.#buf.slice(0, i);
          this.#buf = this.#buf.slice(i + 1);
          this.#waiting.shift()?.(line);
        }
      });
      s.on('error', (e) => {
        reject(e);
        for (const w of this.#waiting.splice(0)) w(e);
      });
      s.on('close', () => {
        if (this.#sock === s) this.#sock = null;
        this.#buf = '';
        for (const w of this.#waiting.splice(0)) w(new Error('control socket closed'));
      });
    });
  }

  /** Sends one request; resolves with the reply line (`OK ...`), rejects on `ERR ...` or timeout. */
  request(line: string, timeoutMs = 10_000): Promise<string> {
    const p = this.#chain.then(async () => {
      const s = await this.#connect();
      return new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => {
          const i = this.#waiting.indexOf(done);
          if (i >= 0) this.#waiting.splice(i, 1);
          s.destroy();
          reject(new Error(`replication daemon did not answer "${line}" within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = (r: string | Error) => {
          clearTimeout(t);
          if (r instanceof Error) reject(r);
          else if (r.startsWith('OK')) resolve(r);
          else reject(new Error(r.replace(/^ERR\s*/, '') || 'error'));
        };
        this.#waiting.push(done);
        s.write(`${line}\n`);
      });
    });
    this.#chain = p.catch(() => undefined);
    return p;
  }

  close(): void {
    this.#sock?.destroy();
    this.#sock = null;
  }
}

/** `key=value` pairs of a reply or event line. */
export function kv(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of line.matchAll(/([a-z_]+)=(\S*)/g)) out[m[1]!] = m[2]!;
  return out;
}
