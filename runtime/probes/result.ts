// What every probe returns, and the deadline plumbing they share.

export interface ProbeResult {
  ok: boolean;
  /** One line for the logs: why it failed, or what answered. */
  detail: string;
  durationMs: number;
}

export interface ProbeCallOptions {
  /** Cancels the probe early (e.g. the Prober is stopped); reported as "aborted". */
  signal?: AbortSignal;
}

/** A signal that fires after timeoutMs, or when `outer` fires. */
export function deadline(timeoutMs: number, outer?: AbortSignal): AbortSignal {
  const t = AbortSignal.timeout(Math.max(0, Math.floor(timeoutMs)));
  return outer === undefined ? t : AbortSignal.any([t, outer]);
}

/** "timed out after N ms" for the timeout, "aborted" for a cancellation. */
export function abortText(signal: AbortSignal, timeoutMs: number): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error && reason.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : 'aborted';
}

/** Measures from creation; `result()` builds the ProbeResult. */
export function stopwatch(): { ms(): number; result(ok: boolean, detail: string): ProbeResult } {
  const start = performance.now();
  const ms = (): number => Math.round((performance.now() - start) * 10) / 10;
  return { ms, result: (ok, detail) => ({ ok, detail, durationMs: ms() }) };
}

export function errText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== undefined && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

/** Last non-empty line of `text`, at most `max` characters (the end kept). */
export function lastLine(text: string, max = 200): string {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  const line = lines[lines.length - 1] ?? '';
  return line.length <= max ? line : `…${line.slice(line.length - (max - 1))}`;
}
