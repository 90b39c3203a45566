// A test PKI, built once per test file in a temporary directory: cluster "alpha" (CA, nodes a, b,
// c, shared secret), cluster "beta" (CA, a node named like alpha's node-b), and a self-signed
// certificate whose CN is node-b. Every address in it is a loopback address.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClusterCa, createClusterSecret, installClusterSecret, issueNodeCertificate, loadNodeCredentials, readClusterSecret, type NodeCredentials } from '../../runtime/pki/index.js';
import type { TlsCredentials } from '../../runtime/transport/index.js';

export const LOOPBACK = ['127.0.0.1', '::1'];

export interface TestPki {
  root: string;
  alphaCa: string;
  betaCa: string;
  nodeA: NodeCredentials;
  nodeB: NodeCredentials;
  /** A member of alpha that servers under test do not list in knownNodes. */
  nodeC: NodeCredentials;
  /** Cluster beta's node-b: same name, another CA. */
  betaB: NodeCredentials;
  /** Self-signed certificate with CN node-b, trusting alpha's CA. */
  selfSignedB: TlsCredentials;
  cleanup(): void;
}

export async function buildTestPki(): Promise<TestPki> {
  const root = mkdtempSync(join(tmpdir(), 'hamod-transport-'));
  const alphaCa = join(root, 'alpha-ca');
  const betaCa = join(root, 'beta-ca');
  await createClusterCa(alphaCa, { clusterName: 'alpha' });
  await createClusterCa(betaCa, { clusterName: 'beta' });
  await createClusterSecret(alphaCa);
  const secret = await readClusterSecret(alphaCa);

  const node = async (ca: string, name: string, dir: string): Promise<NodeCredentials> => {
    const out = join(root, dir);
    await issueNodeCertificate(ca, { nodeName: name, addresses: LOOPBACK }, out);
    await installClusterSecret(out, secret);
    return loadNodeCredentials(out);
  };
  const nodeA = await node(alphaCa, 'node-a', 'alpha-a');
  const nodeB = await node(alphaCa, 'node-b', 'alpha-b');
  const nodeC = await node(alphaCa, 'node-c', 'alpha-c');
  const betaB = await node(betaCa, 'node-b', 'beta-b');

  const selfDir = join(root, 'self-signed');
  execFileSync('mkdir', ['-m', '700', selfDir]);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30',
    '-subj', '/O=hamod/OU=alpha/CN=node-b',
    '-addext', 'subjectAltName=DNS:node-b,IP:127.0.0.1',
    '-addext', 'extendedKeyUsage=serverAuth,clientAuth',
    '-keyout', join(selfDir, 'node.key'), '-out', join(selfDir, 'node.crt'),
  ], { stdio: 'ignore' });
  const selfSignedB: TlsCredentials = {
    nodeName: 'node-b',
    ca: nodeA.ca,
    cert: readFileSync(join(selfDir, 'node.crt')),
    key: readFileSync(join(selfDir, 'node.key')),
  };
  return { root, alphaCa, betaCa, nodeA, nodeB, nodeC, betaB, selfSignedB, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
