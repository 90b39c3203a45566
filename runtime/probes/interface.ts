// interface checker: the interface is administratively up with carrier (flags UP and LOWER_UP,
// operstate UP or UNKNOWN — loopback and some virtual devices report UNKNOWN), and optionally the
// VIP is configured on it. One `ip -j addr show dev NAME` (netlink) rather than /sys/class/net:
// sysfs shows the interfaces of the namespace it was mounted in, so a process entered into another
// network namespace with nsenter (our test hosts) would read the machine's interfaces there.
import { listLinks, sameAddress, type LinkInfo } from '../vip/addresses.js';
import { localExec, type ExecRunner } from '../vip/exec.js';
import { abortText, deadline, errText, stopwatch, type ProbeCallOptions, type ProbeResult } from './result.js';

export interface InterfaceProbeOptions extends ProbeCallOptions {
  /** Also require this address on the interface. */
  vip?: string | null;
  /** Default 2000 ms. */
  timeoutMs?: number;
  exec?: ExecRunner;
}

export async function probeInterface(name: string, o: InterfaceProbeOptions = {}): Promise<ProbeResult> {
  const sw = stopwatch();
  const timeoutMs = o.timeoutMs ?? 2000;
  const signal = deadline(timeoutMs, o.signal);
  const exec = o.exec ?? localExec;
  let links: LinkInfo[];
  try {
    const listing = listLinks({ dev: name, exec: (argv) => exec(argv, { timeoutMs }) });
    const aborted = new Promise<never>((_, reject) => {
      if (signal.aborted) reject(new Error(abortText(signal, timeoutMs)));
      signal.addEventListener('abort', () => reject(new Error(abortText(signal, timeoutMs))), { once: true });
    });
    aborted.catch(() => undefined);
    links = await Promise.race([listing, aborted]);
  } catch (err) {
    return sw.result(false, `${name}: ${errText(err)}`);
  }
  const link = links.find((l) => l.ifname === name);
  if (link === undefined) return sw.result(false, `${name}: no such interface`);
  const state = `operstate ${link.operstate}, flags ${link.flags.join(',')}`;
  if (!link.flags.includes('UP')) return sw.result(false, `${name} is administratively down (${state})`);
  if (!link.flags.includes('LOWER_UP') || link.flags.includes('NO-CARRIER')) return sw.result(false, `${name} has no carrier (${state})`);
  if (link.operstate !== 'UP' && link.operstate !== 'UNKNOWN') return sw.result(false, `${name} is not operational (${state})`);
  if (o.vip != null) {
    const vip = o.vip;
    const a = link.addresses.find((x) => sameAddress(x.local, vip));
    if (a === undefined) return sw.result(false, `${name} is up but ${vip} is not configured on it`);
    if (a.dadfailed) return sw.result(false, `${name}: ${vip} failed duplicate address detection`);
    return sw.result(true, `${name} up, ${vip}/${a.prefix} configured`);
  }
  return sw.result(true, `${name} up (${link.operstate})`);
}
