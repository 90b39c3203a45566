// The fencing watchdog: a small process beside the agent that enforces the primary's authority
// deadline even when the agent cannot (frozen, stuck, crashed). The agent sends, on every change,
// each module's deadline on the system-wide monotonic clock (process.hrtime) with the process
// groups and virtual IPs to fence; when a deadline passes without being extended, the watchdog
// SIGKILLs the groups and removes the VIPs. If the agent dies (its pipe closes), everything still
// armed is fenced at once. Input: one JSON object per line on stdin.
import { createInterface } from 'node:readline';
import { removeVip } from '../vip/index.js';

interface Arm {
  module: string;
  /** Deadline in ms of process.hrtime (CLOCK_MONOTONIC), or null to disarm. */
  until: number | null;
  pgids: number[];
  vips: Array<{ address: string; prefix?: number; interface?: string }>;
}

/** Grace after the deadline: the agent fences itself at the deadline; this is the backstop. */
const GRACE_MS = 25;
const armed = new Map<string, { arm: Arm; timer: NodeJS.Timeout }>();
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const log = (s: string) => process.stderr.write(`${new Date().toISOString()} fence-watchdog: ${s}\n`);

async function fence(a: Arm, why: string): Promise<void> {
  armed.delete(a.module);
  log(`module ${a.module}: ${why}: killing process groups ${a.pgids.join(', ') || '(none)'} and removing ${a.vips.map((v) => v.address).join(', ') || 'no VIP'}`);
  for (const pgid of a.pgids) {
    try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone */ }
  }
  await Promise.all(a.vips.map((v) => removeVip(v).catch((e: unknown) => log(`cannot remove ${v.address}: ${String(e)}`))));
}

function update(a: Arm): void {
  const prev = armed.get(a.module);
  if (prev) clearTimeout(prev.timer);
  armed.delete(a.module);
  if (a.until === null) return;
  const delay = Math.max(0, a.until + GRACE_MS - nowMs());
  armed.set(a.module, { arm: a, timer: setTimeout(() => void fence(a, 'authority deadline passed without renewal from the agent'), delay) });
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  try {
    update(JSON.parse(line) as Arm);
  } catch (e) {
    log(`bad input: ${String(e)}`);
  }
});
rl.on('close', () => {
  const all = [...armed.values()];
  for (const { timer } of all) clearTimeout(timer);
  void Promise.all(all.map(({ arm }) => fence(arm, 'the agent is gone'))).then(() => process.exit(0));
});
