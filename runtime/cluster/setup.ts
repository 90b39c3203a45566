// `hamod cluster init` and `add-node`: a cluster CA, one data directory per node (its certificate
// and key, the shared heartbeat secret, the configuration), and one for the witness. The CA key
// stays in OUT/ca (keep it offline: it is only needed to add nodes).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createClusterCa, createClusterSecret, installClusterSecret, issueNodeCertificate, readClusterSecret } from '../pki/index.js';
import { saveConfig, loadConfig } from '../agent/config-store.js';
import { CONFIG_FORMAT, DEFAULT_HEARTBEAT_PORT, DEFAULT_PEER_PORT, configProblems, withChange, type ClusterConfig, type NodeConfig, type WitnessConfig } from '../config/cluster-config.js';

export const WITNESS_NAME = 'witness';

export interface InitOptions {
  name: string;
  nodes: NodeConfig[];
  witnesses: WitnessConfig[];
  outDir: string;
  peerPort?: number;
  heartbeatPort?: number;
}

export interface InitResult {
  config: ClusterConfig;
  caDir: string;
  nodeDirs: Record<string, string>;
  witnessDir: string | null;
}

export async function initCluster(o: InitOptions): Promise<InitResult> {
  const config: ClusterConfig = {
    format: CONFIG_FORMAT,
    cluster: { name: o.name, id: randomBytes(8).toString('hex') },
    version: 1,
    peerPort: o.peerPort ?? DEFAULT_PEER_PORT,
    heartbeatPort: o.heartbeatPort ?? DEFAULT_HEARTBEAT_PORT,
    nodes: o.nodes,
    witnesses: o.witnesses,
    modules: [],
  };
  const problems = configProblems(config);
  if (o.nodes.length === 0) problems.push('give at least one --node NAME=ADDRESS');
  if (o.nodes.length > 2) problems.push('a mirror cluster has two nodes (farm clusters come later)');
  if (o.nodes.some((n) => n.name === WITNESS_NAME)) problems.push(`"${WITNESS_NAME}" is reserved for the witness`);
  if (problems.length) throw new Error(problems.join('; '));
  if (existsSync(join(o.outDir, 'ca'))) throw new Error(`${o.outDir}/ca exists: a cluster was already initialised there`);
  const caDir = join(o.outDir, 'ca');
  await createClusterCa(caDir, { clusterName: o.name });
  const secretDir = caDir;
  await createClusterSecret(secretDir);
  const secret = await readClusterSecret(secretDir);
  const nodeDirs: Record<string, string> = {};
  for (const n of o.nodes) nodeDirs[n.name] = await issueNodeDir(caDir, secret, n.name, n.addresses, join(o.outDir, n.name), config);
  let witnessDir: string | null = null;
  if (o.witnesses.length) witnessDir = await issueNodeDir(caDir, secret, WITNESS_NAME, o.witnesses.map((w) => w.address), join(o.outDir, WITNESS_NAME), config);
  return { config, caDir, nodeDirs, witnessDir };
}

async function issueNodeDir(caDir: string, secret: Buffer, name: string, addresses: string[], dir: string, config: ClusterConfig): Promise<string> {
  await issueNodeCertificate(caDir, { nodeName: name, addresses }, dir);
  await installClusterSecret(dir, secret);
  saveConfig(join(dir, 'cluster.json'), config);
  return dir;
}

/** Adds a node: new configuration version in `dataDir` (an existing node's), and the new node's directory. */
export async function addNode(o: { caDir: string; dataDir: string; node: NodeConfig; outDir: string }): Promise<{ config: ClusterConfig; nodeDir: string }> {
  const current = loadConfig(join(o.dataDir, 'cluster.json'));
  if (current.nodes.length >= 2) throw new Error('a mirror cluster has two nodes already');
  const config = withChange(current, (c) => { c.nodes.push(o.node); });
  const secret = await readClusterSecret(o.caDir);
  const nodeDir = await issueNodeDir(o.caDir, secret, o.node.name, o.node.addresses, o.outDir, config);
  saveConfig(join(o.dataDir, 'cluster.json'), config);
  return { config, nodeDir };
}
