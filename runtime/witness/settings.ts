// Settings of `hamod witness`: the listen address and the node names allowed to ask for leases.
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { DEFAULT_WITNESS_PORT } from '../config/cluster-config.js';
import { isValidNodeName } from '../pki/index.js';

export const DEFAULT_WITNESS_LISTEN = `0.0.0.0:${DEFAULT_WITNESS_PORT}`;

/** `ADDR:PORT`, `[IPv6]:PORT`, `ADDR` (default port) or `:PORT` (all IPv4 addresses); port 0 picks one. */
export function parseListenAddress(s: string, defaultPort: number = DEFAULT_WITNESS_PORT): { host: string; port: number } {
  const bad = (why: string): Error => new Error(`listen address ${JSON.stringify(s)}: ${why} (expected ADDR:PORT, [IPv6]:PORT or ADDR)`);
  let host: string;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(s);
  if (v6 !== null) {
    host = v6[1] ?? '';
    portText = v6[2];
  } else if (isIP(s) === 6) {
    host = s;
  } else {
    const i = s.lastIndexOf(':');
    host = i < 0 ? s : s.slice(0, i);
    portText = i < 0 ? undefined : s.slice(i + 1);
    if (host === '') host = '0.0.0.0';
  }
  if (isIP(host) === 0) throw bad(`${JSON.stringify(host)} is not an IP address`);
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw bad(`${JSON.stringify(portText)} is not a port number`);
    port = Number(portText);
  }
  return { host, port };
}

/** Comma-separated node names (`--nodes a,b`), checked. */
export function parseNodeList(s: string): string[] {
  const names = s.split(',').map((n) => n.trim()).filter((n) => n !== '');
  if (names.length === 0) throw new Error('the list of nodes is empty');
  for (const n of names) if (!isValidNodeName(n)) throw new Error(`${JSON.stringify(n)} is not a valid node name`);
  return [...new Set(names)];
}

/** Node names of a cluster configuration file (`{ nodes: [{ name }, …] }`); throws with the file name. */
export async function readClusterNodes(file: string): Promise<string[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`${file}: ${code !== undefined ? `cannot be read (${code})` : 'not valid JSON'}`);
  }
  const nodes = typeof raw === 'object' && raw !== null ? (raw as { nodes?: unknown }).nodes : undefined;
  if (!Array.isArray(nodes)) throw new Error(`${file}: "nodes" must be an array of {name}`);
  const names: string[] = [];
  for (const [i, n] of nodes.entries()) {
    const name: unknown = typeof n === 'object' && n !== null ? (n as { name?: unknown }).name : undefined;
    if (typeof name !== 'string' || !isValidNodeName(name)) throw new Error(`${file}: nodes[${i}].name is not a valid node name`);
    if (!names.includes(name)) names.push(name);
  }
  if (names.length === 0) throw new Error(`${file}: lists no node`);
  return names;
}
