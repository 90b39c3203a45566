// ping / witness checker: ok when ANY of the addresses answers one ICMP echo within the timeout.
// Runs iputils `ping -n -c 1 -W SECONDS ADDRESS` (argv, one per address, in parallel, each in its
// own process group, killed at the deadline or as soon as one address answered).
// Why not raw sockets: Node has no ICMP/raw socket API (it would need a native addon), and raw
// sockets need CAP_NET_RAW; iputils ping is setcap'd or uses unprivileged ICMP datagram sockets
// (net.ipv4.ping_group_range), handles IPv4 and IPv6, and enters a test host's namespace with us.
import { runInGroup } from './group.js';
import { abortText, deadline, errText, lastLine, stopwatch, type ProbeCallOptions, type ProbeResult } from './result.js';

export async function probePing(addresses: readonly string[], timeoutMs: number, opts: ProbeCallOptions = {}): Promise<ProbeResult> {
  const sw = stopwatch();
  if (addresses.length === 0) return sw.result(false, 'no address to ping');
  const bad = addresses.find((a) => a === '' || a.startsWith('-') || /\s/.test(a));
  if (bad !== undefined) return sw.result(false, `invalid address ${JSON.stringify(bad)}`);
  const signal = deadline(timeoutMs, opts.signal);
  const stopOthers = new AbortController();
  const each = AbortSignal.any([signal, stopOthers.signal]);
  const waitSec = Math.max(0.001, timeoutMs / 1000).toFixed(3);
  const found: { winner: string | null } = { winner: null };
  const failures: string[] = [];
  await Promise.all(
    addresses.map(async (addr) => {
      const r = await runInGroup(['ping', '-n', '-c', '1', '-W', waitSec, addr], { signal: each, env: { ...process.env, LC_ALL: 'C' } });
      if (r.code === 0 && !r.killed) {
        if (found.winner === null) found.winner = `${addr} answered in ${sw.ms()} ms`;
        stopOthers.abort();
      } else if (r.spawnError !== undefined) failures.push(`${addr}: cannot run ping: ${errText(r.spawnError)}`);
      else if (!r.killed || signal.aborted) failures.push(`${addr}: ${r.killed ? abortText(signal, timeoutMs) : lastLine(r.output, 80) || `exit ${r.code}`}`);
    }),
  );
  if (found.winner !== null) return sw.result(true, found.winner);
  return sw.result(false, `no answer: ${failures.join('; ')}`);
}
