// Running a program in its own process group with a hard deadline: on timeout or abort the whole
// group is SIGKILLed, so a checker script's children die with it. Used by the command and ping probes.
import { spawn, type ChildProcess } from 'node:child_process';

export interface GroupRunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Fires → the group is killed. */
  signal: AbortSignal;
  /** Bytes of combined stdout+stderr kept (the tail). Default 4096. */
  tailBytes?: number;
}

export interface GroupRunResult {
  code: number | null;
  exitSignal: NodeJS.Signals | null;
  /** True when it was killed because `signal` fired. */
  killed: boolean;
  /** Tail of the combined output. */
  output: string;
  /** Set when the program could not be started. */
  spawnError?: Error;
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* the group is gone already */
  }
}

/** Never rejects. After the leader exits, what is left of its group is killed too. */
export function runInGroup(argv: readonly string[], opts: GroupRunOptions): Promise<GroupRunResult> {
  const [file, ...args] = argv;
  const tailBytes = opts.tailBytes ?? 4096;
  return new Promise<GroupRunResult>((resolve) => {
    if (file === undefined) return resolve({ code: null, exitSignal: null, killed: false, output: '', spawnError: new Error('empty argv') });
    if (opts.signal.aborted) return resolve({ code: null, exitSignal: null, killed: true, output: '' });
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: opts.env ?? process.env,
        ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
      });
    } catch (err) {
      return resolve({ code: null, exitSignal: null, killed: false, output: '', spawnError: err as Error });
    }
    let tail = Buffer.alloc(0);
    const onData = (b: Buffer): void => {
      tail = Buffer.concat([tail, b]);
      if (tail.length > tailBytes) tail = tail.subarray(tail.length - tailBytes);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    let killed = false;
    let done = false;
    let exit: { code: number | null; sig: NodeJS.Signals | null } | null = null;
    let grace: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      killed = true;
      killGroup(child);
    };
    opts.signal.addEventListener('abort', onAbort, { once: true });
    const finish = (spawnError?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(grace);
      opts.signal.removeEventListener('abort', onAbort);
      child.stdout?.destroy();
      child.stderr?.destroy();
      const r: GroupRunResult = { code: exit?.code ?? null, exitSignal: exit?.sig ?? null, killed, output: tail.toString('utf8') };
      if (spawnError !== undefined) r.spawnError = spawnError;
      resolve(r);
    };
    child.once('error', (err) => {
      if (child.pid === undefined) finish(err);
    });
    child.once('exit', (code, sig) => {
      exit = { code, sig };
      // Leftovers of the group (background children) would hold the pipes open: kill them, and
      // do not wait for 'close' forever if one escaped the group (setsid).
      killGroup(child);
      grace = setTimeout(() => finish(), 200);
    });
    child.once('close', () => finish());
  });
}
