// Process supervision (effects layer): one-shot scripts and foreground daemons, each the leader of
// its own process group, with exits classified and output captured into the module log.
export { runScript, DEFAULT_KILL_GRACE_MS } from './run-script.js';
export type { RunScriptOptions } from './run-script.js';
export { startDaemon } from './daemon.js';
export type { DaemonHandle, DaemonOptions } from './daemon.js';
export { classifyExit, describeExit, formatMs, isSuccess, parseSignal } from './exit.js';
export type { ExitInfo } from './exit.js';
export { GroupRegistry, ProcessGroup, KILL_WAIT_CAP_MS, defaultRegistry, killAll, liveMembers } from './group.js';
export type { KillAllResult, TerminateResult } from './group.js';
export { IdentityError, resolveIdentity } from './identity.js';
export type { Identity } from './identity.js';
export { DEFAULT_PATH } from './spawn.js';
export type { ScriptSpec } from './spawn.js';
export type { LogSink, LogStream } from '../logs/lines.js';
