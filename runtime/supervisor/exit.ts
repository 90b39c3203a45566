// How a supervised process ended, as data. Every path of the supervisor ends in one of these.
import { constants } from 'node:os';

export type ExitInfo =
  /** The process called exit(code). */
  | { kind: 'exited'; code: number; durationMs: number }
  /** The process was ended by a signal it did not handle. */
  | { kind: 'signaled'; signal: NodeJS.Signals; durationMs: number }
  /**
   * It overran its deadline (a script's timeout, or a stop's stop timeout): the group got the
   * graceful signal, then SIGKILL if `killed`.
   */
  | { kind: 'timeout'; afterMs: number; killed: boolean; durationMs: number }
  /** Cancelled by the caller's AbortSignal or by `killAll()`: terminated like a timeout. */
  | { kind: 'aborted'; killed: boolean; durationMs: number }
  /** It never ran: ENOENT, EACCES (not executable), ENOUSER/ENOGROUP (unknown user), EINVAL (bad spec)… */
  | { kind: 'spawn-error'; errno: string; message: string; durationMs: number };

export function isSuccess(info: ExitInfo): boolean {
  return info.kind === 'exited' && info.code === 0;
}

export function classifyExit(code: number | null, signal: NodeJS.Signals | null, durationMs: number): ExitInfo {
  if (signal !== null) return { kind: 'signaled', signal, durationMs };
  return { kind: 'exited', code: code ?? 0, durationMs };
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}

/** One phrase for logs and status: "exited with code 1 after 2.31s". */
export function describeExit(info: ExitInfo): string {
  const after = `after ${formatMs(info.durationMs)}`;
  switch (info.kind) {
    case 'exited':
      return `exited with code ${info.code} ${after}`;
    case 'signaled':
      return `killed by ${info.signal} ${after}`;
    case 'timeout':
      return `timed out after ${formatMs(info.afterMs)}, ${info.killed ? 'SIGKILL needed' : 'ended on the stop signal'} (ran ${formatMs(info.durationMs)})`;
    case 'aborted':
      return `aborted ${after}${info.killed ? ', SIGKILL needed' : ''}`;
    case 'spawn-error':
      return `could not start: ${info.errno} (${info.message})`;
  }
}

/** Accepts `SIGTERM`, `TERM`, `sigterm` or a signal number; throws on anything else. */
export function parseSignal(name: string | number): NodeJS.Signals {
  const table = constants.signals as Record<string, number>;
  if (typeof name === 'number') {
    const found = Object.entries(table).find(([, n]) => n === name);
    if (!found) throw new Error(`unknown signal number ${name}`);
    return found[0] as NodeJS.Signals;
  }
  const upper = name.trim().toUpperCase();
  const full = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  if (!(full in table)) throw new Error(`unknown signal ${JSON.stringify(name)}`);
  return full as NodeJS.Signals;
}
