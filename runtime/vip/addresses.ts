// Reading the interfaces and their addresses from `ip -j addr show` (netlink, so always the
// caller's network namespace, unlike /sys/class/net which shows the namespace sysfs was mounted
// in), and address arithmetic through node:net's BlockList (IPv4 and IPv6 parsing for free).
import { BlockList, isIP } from 'node:net';
import { commandError, localExec, run, type ExecRunner } from './exec.js';

export type Family = 'ipv4' | 'ipv6';

export interface IfAddress {
  ifname: string;
  family: Family;
  /** The address as `ip` prints it (canonical form). */
  local: string;
  prefix: number;
  tentative: boolean;
  dadfailed: boolean;
}

export interface LinkInfo {
  ifname: string;
  /** Link flags as `ip` names them: UP, LOWER_UP, NO-CARRIER, LOOPBACK… */
  flags: string[];
  /** Kernel operstate: UP, DOWN, UNKNOWN, LOWERLAYERDOWN, DORMANT… */
  operstate: string;
  mac: string | null;
  addresses: IfAddress[];
}

export function familyOf(address: string): Family | null {
  const v = isIP(address);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : null;
}

/** Same address whatever its spelling (2001:db8::1 = 2001:0db8:0:0::1). */
export function sameAddress(a: string, b: string): boolean {
  const fa = familyOf(a);
  if (fa === null || fa !== familyOf(b)) return false;
  const bl = new BlockList();
  bl.addAddress(a, fa);
  return bl.check(b, fa);
}

/** Whether `address` lies in the network of `local`/`prefix`. */
export function networkContains(local: string, prefix: number, address: string): boolean {
  const f = familyOf(local);
  if (f === null || f !== familyOf(address)) return false;
  const bl = new BlockList();
  bl.addSubnet(local, prefix, f);
  return bl.check(address, f);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses the JSON printed by `ip -j addr show [dev IF]`. */
export function parseIpAddrJson(stdout: string): LinkInfo[] {
  const data: unknown = JSON.parse(stdout.trim() === '' ? '[]' : stdout);
  if (!Array.isArray(data)) throw new Error('ip -j addr: expected a JSON array');
  const links: LinkInfo[] = [];
  for (const l of data) {
    if (!isObject(l) || typeof l['ifname'] !== 'string') continue;
    const ifname = l['ifname'];
    const flags = Array.isArray(l['flags']) ? l['flags'].filter((f): f is string => typeof f === 'string') : [];
    const addresses: IfAddress[] = [];
    for (const a of Array.isArray(l['addr_info']) ? l['addr_info'] : []) {
      if (!isObject(a) || typeof a['local'] !== 'string' || typeof a['prefixlen'] !== 'number') continue;
      const family = a['family'] === 'inet' ? 'ipv4' : a['family'] === 'inet6' ? 'ipv6' : null;
      if (family === null) continue;
      addresses.push({
        ifname,
        family,
        local: a['local'],
        prefix: a['prefixlen'],
        tentative: a['tentative'] === true,
        dadfailed: a['dadfailed'] === true,
      });
    }
    links.push({
      ifname,
      flags,
      operstate: typeof l['operstate'] === 'string' ? l['operstate'] : 'UNKNOWN',
      mac: typeof l['address'] === 'string' ? l['address'] : null,
      addresses,
    });
  }
  return links;
}

/** The interfaces (or one, `dev`) with their addresses. Throws with `ip`'s stderr on failure. */
export async function listLinks(opts: { dev?: string; exec?: ExecRunner } = {}): Promise<LinkInfo[]> {
  const argv = ['ip', '-j', 'addr', 'show', ...(opts.dev === undefined ? [] : ['dev', opts.dev])];
  const r = await run(opts.exec ?? localExec, argv);
  if (r.code !== 0) throw commandError(argv, r);
  return parseIpAddrJson(r.stdout);
}
