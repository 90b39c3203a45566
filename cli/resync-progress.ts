// What `hamod resync MODULE` prints: one line for where a mirror module's replication stands (in
// sync, or a progress bar of the reintegration), and how --watch redraws it on a terminal. Pure:
// the command reads the nodes' status and writes the result.
import type { NodeStatus } from '../runtime/agent/agent.js';

export type ModuleOnNode = { node: string; m: NodeStatus['modules'][number] };

const WIDTH = 30;
const mib = (n: number): string => (n / 1048576).toFixed(1);

/** done: the primary's mirror is in sync and the other node (if reported) is SECOND. */
export function progressLine(mods: readonly ModuleOnNode[]): { done: boolean; text: string } {
  const prim = mods.find((x) => x.m.role === 'primary');
  const sec = mods.find((x) => x.m.role !== 'primary');
  const s = prim?.m.sync ?? sec?.m.sync;
  if (!s) return { done: false, text: 'no replication information' };
  const inSync = prim?.m.sync?.state === 'in sync' && (sec === undefined || sec.m.state === 'SECOND');
  const total = s.totalBytes;
  const pct = total > 0 ? Math.min(100, Math.floor((s.doneBytes / total) * 100)) : inSync ? 100 : 0;
  const bar = '#'.repeat(Math.round((pct / 100) * WIDTH)).padEnd(WIDTH, '.');
  const who = `${prim ? `${prim.node} (${prim.m.state}) ${prim.m.sync?.state}` : 'no primary'}${sec ? ` -> ${sec.node} (${sec.m.state}${sec.m.detail ? ` ${sec.m.detail}` : ''})` : ''}`;
  const text = inSync
    ? `${who}: in sync`
    : `${who}: [${bar}] ${pct}% ${mib(s.doneBytes)}/${mib(total)} MiB checked or copied, ${mib(s.sentBytes)} MiB sent`;
  return { done: inSync, text };
}

/** One --watch refresh: on a terminal the line is redrawn in place (a newline once done), else
 * each refresh is a line of its own (logs, pipes). */
export function watchFrame(text: string, done: boolean, tty: boolean): string {
  if (!tty) return `${text}\n`;
  return `\r\x1b[2K${text}${done ? '\n' : ''}`;
}
