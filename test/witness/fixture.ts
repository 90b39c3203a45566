// A test PKI for the witness, built once per test file in a temporary directory with the cluster
// PKI library: cluster "alpha" (CA, nodes node-a, node-b, node-c and "witness", each in its own node
// directory with the cluster secret) and cluster "beta" (another CA, with a node named node-b).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClusterCa, createClusterSecret, installClusterSecret, issueNodeCertificate, loadNodeCredentials, readClusterSecret, type NodeCredentials } from '../../runtime/pki/index.js';

export interface WitnessPki {
  root: string;
  /** Node directory of the witness (ca.crt, node.crt, node.key, cluster.secret). */
  witnessDir: string;
  witness: NodeCredentials;
  nodeA: NodeCredentials;
  nodeB: NodeCredentials;
  /** A member of alpha that the witnesses under test do not allow. */
  nodeC: NodeCredentials;
  /** Cluster beta's node-b: an allowed name, another CA. */
  betaB: NodeCredentials;
  /** A fresh empty directory under root. */
  tempDir(prefix: string): string;
  cleanup(): void;
}

export async function buildWitnessPki(): Promise<WitnessPki> {
  const root = mkdtempSync(join(tmpdir(), 'hamod-witness-'));
  const alphaCa = join(root, 'alpha-ca');
  const betaCa = join(root, 'beta-ca');
  await Promise.all([createClusterCa(alphaCa, { clusterName: 'alpha' }), createClusterCa(betaCa, { clusterName: 'beta' })]);
  await createClusterSecret(alphaCa);
  const secret = await readClusterSecret(alphaCa);
  const node = async (ca: string, name: string, dir: string): Promise<NodeCredentials> => {
    const out = join(root, dir);
    await issueNodeCertificate(ca, { nodeName: name, addresses: ['127.0.0.1'] }, out);
    await installClusterSecret(out, secret);
    return loadNodeCredentials(out);
  };
  const [witness, nodeA, nodeB, nodeC, betaB] = await Promise.all([
    node(alphaCa, 'witness', 'witness'),
    node(alphaCa, 'node-a', 'alpha-a'),
    node(alphaCa, 'node-b', 'alpha-b'),
    node(alphaCa, 'node-c', 'alpha-c'),
    node(betaCa, 'node-b', 'beta-b'),
  ]);
  return {
    root,
    witnessDir: join(root, 'witness'),
    witness,
    nodeA,
    nodeB,
    nodeC,
    betaB,
    tempDir: (prefix) => mkdtempSync(join(root, `${prefix}-`)),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}
