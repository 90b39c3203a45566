// Running the network tools (ip, arping, sysctl) with argv arrays, never a shell. Every function of
// runtime/vip (and the interface probe) takes an optional ExecRunner so the same code runs on this
// machine or inside a test host: `exec: (argv, o) => host.exec(argv, o)`.
import { execFile } from 'node:child_process';

export interface ExecOutput {
  /** Exit code, or null when the command was ended by a signal. */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ExecRunOptions {
  /** Kill the command after this many ms. */
  timeoutMs?: number;
}

/** Runs argv; resolves with the exit code whatever it is, rejects only when it cannot start. */
export type ExecRunner = (argv: readonly string[], opts?: ExecRunOptions) => Promise<ExecOutput>;

const DEFAULT_TIMEOUT_MS = 10_000;

/** The default runner: execFile on this machine, SIGKILL after the timeout (default 10 s). */
export const localExec: ExecRunner = (argv, opts = {}) => {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error('exec: empty argv'));
  return new Promise<ExecOutput>((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err === null) return resolve({ code: 0, stdout, stderr });
        const e = err as NodeJS.ErrnoException & { code?: unknown; killed?: boolean; signal?: NodeJS.Signals | null };
        // A string code (ENOENT, EACCES…) means the program could not be run at all.
        if (typeof e.code === 'string' && e.code !== 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') return reject(err);
        resolve({ code: typeof e.code === 'number' ? e.code : null, stdout, stderr: stderr || err.message });
      },
    );
  });
};

/** A command that failed: carries its argv, exit code and stderr. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly argv: readonly string[],
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

/** Runs argv with `exec`; a program that cannot start becomes a CommandError too. */
export async function run(exec: ExecRunner, argv: readonly string[], opts?: ExecRunOptions): Promise<ExecOutput> {
  try {
    return await exec(argv, opts);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new CommandError(`${argv.join(' ')}: cannot run: ${msg}`, argv, null, msg);
  }
}

/** Runs argv and throws a CommandError with its stderr unless it exits 0. */
export async function runOk(exec: ExecRunner, argv: readonly string[], opts?: ExecRunOptions): Promise<ExecOutput> {
  const r = await run(exec, argv, opts);
  if (r.code !== 0) throw commandError(argv, r);
  return r;
}

export function commandError(argv: readonly string[], r: ExecOutput, what?: string): CommandError {
  const status = r.code === null ? 'killed' : `exit ${r.code}`;
  const stderr = r.stderr.trim();
  return new CommandError(`${what ?? argv.join(' ')} failed (${status})${stderr ? `: ${stderr}` : ''}`, argv, r.code, r.stderr);
}
