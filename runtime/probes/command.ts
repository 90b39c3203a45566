// command checker: runs a program (the module's rendered check script) in its own process group;
// ok = exit 0. On timeout (or abort) the whole group is SIGKILLed; when the program exits, what is
// left of its group is killed too (a check must not leave processes behind). `detail` carries the
// status and the last line of output (stdout and stderr together), at most 200 characters.
import { runInGroup } from './group.js';
import { abortText, deadline, errText, lastLine, stopwatch, type ProbeCallOptions, type ProbeResult } from './result.js';

export interface CommandProbeOptions extends ProbeCallOptions {
  path: string;
  args?: readonly string[];
  /** The complete environment of the program (the caller merges); default process.env. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs: number;
}

export async function probeCommand(o: CommandProbeOptions): Promise<ProbeResult> {
  const sw = stopwatch();
  const signal = deadline(o.timeoutMs, o.signal);
  const r = await runInGroup([o.path, ...(o.args ?? [])], {
    signal,
    ...(o.env === undefined ? {} : { env: o.env }),
    ...(o.cwd === undefined ? {} : { cwd: o.cwd }),
  });
  if (r.spawnError !== undefined) return sw.result(false, `cannot run ${o.path}: ${errText(r.spawnError)}`);
  const line = lastLine(r.output);
  const withLine = (status: string): string => (line === '' ? status : `${status}: ${line}`);
  if (r.killed) return sw.result(false, withLine(`${abortText(signal, o.timeoutMs)}, process group killed`));
  if (r.code === 0) return sw.result(true, withLine('exit 0'));
  return sw.result(false, withLine(r.code === null ? `killed by ${r.exitSignal ?? 'a signal'}` : `exit ${r.code}`));
}
