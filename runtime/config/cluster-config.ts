// The cluster configuration: nodes, their heartbeat networks, witnesses and installed module
// instances. Identical on every node and versioned: every change bumps `version`, and a node that
// sees a peer with a higher version fetches the newer one (and says so in `hamod status` until then).
import { isIP } from 'node:net';

export const CONFIG_FORMAT = 1;
export const DEFAULT_PEER_PORT = 7410;
export const DEFAULT_HEARTBEAT_PORT = 7411;
export const DEFAULT_WITNESS_PORT = 7412;

export interface NodeConfig {
  name: string;
  /** One address per heartbeat network; the first also carries the peer API (mTLS). */
  addresses: string[];
}

export interface WitnessConfig {
  address: string;
  port: number;
}

export interface ModuleInstance {
  name: string;
  version: string;
  /** sha256 of the bundle file (the agent keeps bundles by digest). */
  bundleDigest: string;
  /** Instance parameters, secrets included (the file holding them is 0600). */
  params: Record<string, string | number | boolean>;
}

export interface ClusterConfig {
  format: typeof CONFIG_FORMAT;
  cluster: { name: string; id: string };
  version: number;
  peerPort: number;
  heartbeatPort: number;
  nodes: NodeConfig[];
  witnesses: WitnessConfig[];
  modules: ModuleInstance[];
}

const NAME_RE = /^[a-z][a-z0-9-]{0,62}$/;

/** Every problem with a configuration, or [] (used on load, and before any change is applied). */
export function configProblems(c: ClusterConfig): string[] {
  const p: string[] = [];
  if (c.format !== CONFIG_FORMAT) p.push(`unsupported configuration format ${String(c.format)}`);
  if (!NAME_RE.test(c.cluster?.name ?? '')) p.push(`cluster name ${JSON.stringify(c.cluster?.name)} is not a valid name`);
  if (!Number.isInteger(c.version) || c.version < 1) p.push('version must be a positive integer');
  for (const port of [c.peerPort, c.heartbeatPort]) if (!Number.isInteger(port) || port < 1 || port > 65535) p.push(`port ${port} is out of range`);
  const names = new Set<string>();
  const addrs = new Set<string>();
  for (const n of c.nodes ?? []) {
    if (!NAME_RE.test(n.name)) p.push(`node name ${JSON.stringify(n.name)} is not valid (lowercase letters, digits, dashes)`);
    if (names.has(n.name)) p.push(`node ${n.name} is listed twice`);
    names.add(n.name);
    if (!n.addresses?.length) p.push(`node ${n.name} has no address`);
    for (const a of n.addresses ?? []) {
      if (isIP(a) === 0) p.push(`node ${n.name}: ${JSON.stringify(a)} is not an IP address`);
      if (addrs.has(a)) p.push(`address ${a} is used twice`);
      addrs.add(a);
    }
  }
  const nets = new Set((c.nodes ?? []).map((n) => n.addresses.length));
  if (nets.size > 1) p.push('every node needs one address per heartbeat network (same count on all nodes)');
  for (const w of c.witnesses ?? []) if (isIP(w.address) === 0 || !Number.isInteger(w.port)) p.push(`witness ${JSON.stringify(w)} is not an address and port`);
  const mods = new Set<string>();
  for (const m of c.modules ?? []) {
    if (mods.has(m.name)) p.push(`module ${m.name} is installed twice`);
    mods.add(m.name);
    if (!/^[0-9a-f]{64}$/.test(m.bundleDigest)) p.push(`module ${m.name}: bad bundle digest`);
  }
  return p;
}

/** Parses `NAME=ADDR[,ADDR2]` as given to `hamod cluster init --node`. */
export function parseNodeFlag(s: string): NodeConfig {
  const i = s.indexOf('=');
  if (i <= 0) throw new Error(`--node ${JSON.stringify(s)}: expected NAME=ADDRESS[,ADDRESS2]`);
  return { name: s.slice(0, i), addresses: s.slice(i + 1).split(',').map((x) => x.trim()).filter(Boolean) };
}

export function parseWitnessFlag(s: string): WitnessConfig {
  const m = /^(.+?)(?::(\d+))?$/.exec(s);
  return { address: m?.[1] ?? s, port: m?.[2] !== undefined ? Number(m[2]) : DEFAULT_WITNESS_PORT };
}

export function withChange(c: ClusterConfig, change: (draft: ClusterConfig) => void): ClusterConfig {
  const draft = structuredClone(c);
  change(draft);
  draft.version = c.version + 1;
  const problems = configProblems(draft);
  if (problems.length) throw new Error(problems.join('; '));
  return draft;
}

export function peerOf(c: ClusterConfig, self: string): NodeConfig | undefined {
  return c.nodes.find((n) => n.name !== self);
}
