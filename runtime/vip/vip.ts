// Virtual IP: added on the primary, removed on stop and before a swap (ARCHITECTURE.md §4).
// `ip addr add/del` through an ExecRunner (argv, no shell), then an announcement so the clients'
// neighbour caches follow at once instead of after their entries go stale:
// - IPv4: gratuitous ARP with iputils `arping -U` (ARP request announcement, RFC 5227 §2.3). Linux
//   neighbours override an existing entry on such a packet (it carries sender IP = target IP).
// - IPv6: no Debian tool sends an unsolicited NA (ndisc6 only solicits). The kernel does it itself
//   when a tentative address completes DAD on an interface with `ndisc_notify` set (addrconf.c,
//   addrconf_dad_completed: one NA to all-nodes, override flag). So for IPv6 we set
//   net.ipv6.conf.IF.ndisc_notify=1 and add the address with `nodad` (usable at once, the NA goes
//   out at once). Limits: one NA, not repeated; re-adding an address already present announces
//   nothing; neighbours that miss it re-resolve by NUD (stale → probe, ~5 s).
import { commandError, localExec, run, type ExecRunner } from './exec.js';
import { familyOf, listLinks, networkContains, sameAddress, type Family, type IfAddress, type LinkInfo } from './addresses.js';

export interface VipSpec {
  address: string;
  /** Default: the prefix of the interface network containing the address, else 32 / 128. */
  prefix?: number | null;
  /** Default: the interface whose configured network contains the address. */
  interface?: string | null;
  exec?: ExecRunner;
}

export interface AddVipOptions extends VipSpec {
  /** Announce the address to the neighbours (gratuitous ARP / unsolicited NA). Default true. */
  announce?: boolean;
  /** Gratuitous ARPs sent, one per second (the first at once). Default 2. */
  garpCount?: number;
}

export interface AnnounceResult {
  ok: boolean;
  method: 'arping' | 'ndisc_notify' | 'none';
  detail: string;
}

export interface AddVipResult {
  address: string;
  interface: string;
  prefix: number;
  /** False when the address was already configured on that interface. */
  added: boolean;
  /** Settles when the announcement is over (~garpCount seconds: arping paces its packets one per
   * second; the first leaves at once). Never rejects. Await it or log it; addVip does not wait. */
  announcement: Promise<AnnounceResult>;
}

export interface InterfaceChoice {
  interface: string;
  prefix: number;
  /** The configured address whose network contains the VIP. */
  network: string;
}

const fullLength = (f: Family): number => (f === 'ipv4' ? 32 : 128);
const isLinkLocal6 = (a: string): boolean => networkContains('fe80::', 10, a);

function requireFamily(address: string, what: string): Family {
  const f = familyOf(address);
  if (f === null) throw new Error(`${what}: "${address}" is not an IP address`);
  return f;
}

/** Longest-prefix configured network containing `address`, the address itself excluded. */
function chooseNetwork(links: readonly LinkInfo[], address: string, onlyIf?: string): IfAddress | null {
  const skipLL = !isLinkLocal6(address);
  let best: IfAddress | null = null;
  for (const link of links) {
    if (onlyIf !== undefined && link.ifname !== onlyIf) continue;
    for (const a of link.addresses) {
      if (sameAddress(a.local, address) || (skipLL && a.family === 'ipv6' && isLinkLocal6(a.local))) continue;
      if (networkContains(a.local, a.prefix, address) && (best === null || a.prefix > best.prefix)) best = a;
    }
  }
  return best;
}

function describeNetworks(links: readonly LinkInfo[]): string {
  const nets = links.flatMap((l) => l.addresses.map((a) => `${l.ifname} ${a.local}/${a.prefix}`));
  return nets.length === 0 ? 'none' : nets.join(', ');
}

/** The interface whose configured network contains `address` (longest prefix), or null. */
export async function findInterfaceFor(address: string, opts: { exec?: ExecRunner } = {}): Promise<InterfaceChoice | null> {
  requireFamily(address, 'findInterfaceFor');
  const best = chooseNetwork(await listLinks(withExec(opts.exec)), address);
  return best === null ? null : { interface: best.ifname, prefix: best.prefix, network: best.local };
}

/** Where `address` is configured (optionally: on that interface), or null. */
export async function findVip(address: string, opts: { interface?: string | null; exec?: ExecRunner } = {}): Promise<IfAddress | null> {
  requireFamily(address, 'findVip');
  const dev = opts.interface ?? undefined;
  const links = await listLinks(withExec(opts.exec));
  for (const l of links) {
    if (dev !== undefined && l.ifname !== dev) continue;
    const a = l.addresses.find((x) => sameAddress(x.local, address));
    if (a !== undefined) return a;
  }
  return null;
}

export async function hasVip(address: string, opts: { interface?: string | null; exec?: ExecRunner } = {}): Promise<boolean> {
  return (await findVip(address, opts)) !== null;
}

function withExec(exec: ExecRunner | undefined): { exec?: ExecRunner } {
  return exec === undefined ? {} : { exec };
}

export async function addVip(opts: AddVipOptions): Promise<AddVipResult> {
  const exec = opts.exec ?? localExec;
  const { address } = opts;
  const family = requireFamily(address, 'addVip');
  const links = await listLinks({ exec });
  let ifname: string;
  let prefix: number;
  if (opts.interface != null) {
    ifname = opts.interface;
    if (!links.some((l) => l.ifname === ifname)) throw new Error(`addVip ${address}: no interface named "${ifname}"`);
    prefix = opts.prefix ?? chooseNetwork(links, address, ifname)?.prefix ?? fullLength(family);
  } else {
    const best = chooseNetwork(links, address);
    if (best === null) {
      throw new Error(
        `addVip ${address}: no interface has a configured network containing this address ` +
          `(networks: ${describeNetworks(links)}); give the interface explicitly`,
      );
    }
    ifname = best.ifname;
    prefix = opts.prefix ?? best.prefix;
  }
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > fullLength(family)) {
    throw new Error(`addVip ${address}: invalid prefix ${prefix}`);
  }
  const present = links.flatMap((l) => l.addresses).find((a) => sameAddress(a.local, address));
  if (present !== undefined && present.ifname !== ifname) {
    throw new Error(`addVip ${address}: already configured on ${present.ifname}, not on ${ifname}`);
  }
  const announce = opts.announce ?? true;
  let notifySet: string | null = null;
  if (family === 'ipv6' && announce && present === undefined) notifySet = await enableNdiscNotify(exec, ifname);

  let added = false;
  if (present === undefined) {
    const argv = ['ip', 'addr', 'add', `${address}/${prefix}`, 'dev', ifname, ...(family === 'ipv6' ? ['nodad'] : [])];
    const r = await run(exec, argv);
    if (r.code === 0) added = true;
    else if (!/already assigned|File exists/i.test(r.stderr)) throw commandError(argv, r, `addVip ${address}: ip addr add`);
  }

  let announcement: Promise<AnnounceResult>;
  if (!announce) announcement = Promise.resolve({ ok: true, method: 'none', detail: 'announcement disabled' });
  else if (family === 'ipv4') announcement = sendGratuitousArp(address, ifname, { exec, count: opts.garpCount ?? 2 });
  else {
    announcement = Promise.resolve(
      notifySet !== null
        ? { ok: false, method: 'ndisc_notify', detail: `unsolicited NA not sent: ${notifySet}` }
        : added
          ? { ok: true, method: 'ndisc_notify', detail: `kernel sent an unsolicited NA on ${ifname}` }
          : { ok: false, method: 'none', detail: 'address already present: no unsolicited NA (IPv6)' },
    );
  }
  return { address, interface: ifname, prefix, added, announcement };
}

/** Sets net.ipv6.conf.IF.ndisc_notify=1; returns null, or why it could not. */
async function enableNdiscNotify(exec: ExecRunner, ifname: string): Promise<string | null> {
  const argv = ['sysctl', '-q', '-w', `net/ipv6/conf/${ifname}/ndisc_notify=1`];
  try {
    const r = await run(exec, argv);
    return r.code === 0 ? null : commandError(argv, r).message;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Gratuitous ARP: `arping -U -c COUNT -I IF ADDR` (iputils-arping). Never rejects. */
export async function sendGratuitousArp(
  address: string,
  ifname: string,
  opts: { exec?: ExecRunner; count?: number } = {},
): Promise<AnnounceResult> {
  const count = Math.max(1, Math.floor(opts.count ?? 2));
  const argv = ['arping', '-q', '-U', '-c', String(count), '-I', ifname, address];
  try {
    const r = await run(opts.exec ?? localExec, argv, { timeoutMs: (count + 2) * 1000 });
    if (r.code === 0) return { ok: true, method: 'arping', detail: `${count} gratuitous ARP(s) for ${address} on ${ifname}` };
    return { ok: false, method: 'arping', detail: commandError(argv, r).message };
  } catch (err) {
    return { ok: false, method: 'arping', detail: err instanceof Error ? err.message : String(err) };
  }
}

export interface RemoveVipResult {
  address: string;
  /** Interfaces it was removed from (empty: it was not configured: fine). */
  removedFrom: string[];
}

/** Removes the address (from `interface`, or wherever it is). Idempotent. */
export async function removeVip(opts: VipSpec): Promise<RemoveVipResult> {
  const exec = opts.exec ?? localExec;
  const { address } = opts;
  requireFamily(address, 'removeVip');
  const links = await listLinks({ exec });
  const removedFrom: string[] = [];
  for (const l of links) {
    if (opts.interface != null && l.ifname !== opts.interface) continue;
    for (const a of l.addresses) {
      if (!sameAddress(a.local, address)) continue;
      const argv = ['ip', 'addr', 'del', `${a.local}/${a.prefix}`, 'dev', l.ifname];
      const r = await run(exec, argv);
      if (r.code === 0) removedFrom.push(l.ifname);
      else if (!/not found|Cannot assign requested address/i.test(r.stderr)) throw commandError(argv, r, `removeVip ${address}: ip addr del`);
    }
  }
  return { address, removedFrom };
}
