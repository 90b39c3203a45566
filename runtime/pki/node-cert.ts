// Node certificates, issued by the cluster CA (`hamod cluster init` for the first node,
// `hamod cluster add-node` for the others): an ECDSA P-256 key (node.key, 0600) and a certificate
// (node.crt) with CN = node name, subjectAltName = DNS:<node name> + the node's IP addresses,
// extendedKeyUsage serverAuth + clientAuth (a node is both a server and a client of its peers),
// valid 5 years (never past the CA's own end). The CA certificate is copied beside them (ca.crt):
// the node directory is then everything `loadNodeCredentials` needs but the cluster secret.
import { createPrivateKey, type X509Certificate } from 'node:crypto';
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BACKDATE_MS } from './ca.js';
import { ensurePrivateDir, exists, installFile, PKI_FILES, readPkiFile } from './files.js';
import { assertNodeName, normalizeAddresses } from './names.js';
import { EC_KEYGEN_ARGS, opensslConfig, opensslTime, withOpenssl } from './openssl.js';
import { PkiError } from './pki-error.js';
import { addYears, assertCurrentlyValid, nameField, parseCertificate } from './x509.js';

export const NODE_VALIDITY_YEARS = 5;

export interface NodeCertificateRequest {
  nodeName: string;
  /** IP addresses the node is reached at (peer API, heartbeat networks). */
  addresses: readonly string[];
  /**
   * Replace an existing node.key/node.crt (re-issuing, e.g. after an address change), and a ca.crt
   * of another CA (moving the node to another cluster). Default false.
   */
  replace?: boolean;
  /** Issuing time (tests); default now. */
  now?: Date;
}

export interface IssuedNodeCertificate {
  nodeName: string;
  clusterName: string;
  keyPath: string;
  certPath: string;
  caCertPath: string;
  serialNumber: string;
  fingerprint256: string;
  notAfter: Date;
}

/** The cluster CA of `caDir`, checked: certificate, matching key, still valid. */
async function loadCa(caDir: string, now: Date): Promise<{ cert: X509Certificate; certPem: Buffer; keyPath: string; certPath: string; clusterName: string }> {
  const certPath = join(caDir, PKI_FILES.caCert);
  const keyPath = join(caDir, PKI_FILES.caKey);
  const certPem = await readPkiFile(certPath, 'public', 'CA certificate');
  const cert = parseCertificate(certPem, certPath, 'CA certificate');
  const keyPem = await readPkiFile(keyPath, 'private', 'CA private key');
  try {
    let matches = false;
    try {
      matches = cert.checkPrivateKey(createPrivateKey(keyPem));
    } catch {
      throw new PkiError('INVALID_FILE', 'CA private key is not an unencrypted PEM private key', { file: keyPath });
    }
    if (!matches) throw new PkiError('INVALID_FILE', 'CA private key does not match the CA certificate', { file: keyPath });
  } finally {
    keyPem.fill(0);
  }
  if (!cert.ca) throw new PkiError('INVALID_FILE', 'is not a CA certificate', { file: certPath });
  assertCurrentlyValid(cert, now, certPath, 'CA certificate');
  const clusterName = nameField(cert.subject, 'OU');
  if (clusterName === undefined) throw new PkiError('INVALID_FILE', 'CA certificate has no cluster name (OU)', { file: certPath });
  return { cert, certPem, keyPath, certPath, clusterName };
}

/** Issues node.key + node.crt for `request.nodeName` into `outDir` (created 0700), with ca.crt beside them. */
export async function issueNodeCertificate(caDir: string, request: NodeCertificateRequest, outDir: string): Promise<IssuedNodeCertificate> {
  const { nodeName } = request;
  assertNodeName(nodeName);
  const ips = normalizeAddresses(request.addresses);
  const replace = request.replace ?? false;
  const now = request.now ?? new Date();
  const ca = await loadCa(caDir, now);

  const keyPath = join(outDir, PKI_FILES.nodeKey);
  const certPath = join(outDir, PKI_FILES.nodeCert);
  const caCertPath = join(outDir, PKI_FILES.caCert);
  await ensurePrivateDir(outDir);
  let copyCa = true;
  if (await exists(caCertPath)) {
    const present = await readFile(caCertPath);
    if (present.equals(ca.certPem)) copyCa = false;
    else if (!replace) throw new PkiError('CA_MISMATCH', "holds another cluster's CA certificate", { file: caCertPath });
  }
  if (!replace) {
    for (const f of [keyPath, certPath]) {
      if (await exists(f)) throw new PkiError('EXISTS', 'a node certificate already exists here; pass replace to re-issue it', { file: f });
    }
  }

  const caNotAfter = new Date(ca.cert.validTo);
  const wanted = addYears(now, NODE_VALIDITY_YEARS);
  const notAfter = wanted < caNotAfter ? wanted : caNotAfter;

  const { keyPem, certPem } = await withOpenssl(
    opensslConfig({ clusterName: ca.clusterName, commonName: nodeName, dns: nodeName, ips }),
    async (ws) => {
      await ws.run([...EC_KEYGEN_ARGS, '-out', 'node.key']);
      await ws.run(['req', '-new', '-config', ws.config, '-key', 'node.key', '-out', 'node.csr']);
      await ws.run([
        'ca', '-batch', '-config', ws.config, '-cert', ca.certPath, '-keyfile', ca.keyPath, '-in', 'node.csr', '-out', 'node.crt', '-notext',
        '-extensions', 'v3_node',
        '-startdate', opensslTime(new Date(now.getTime() - BACKDATE_MS)),
        '-enddate', opensslTime(notAfter),
      ]);
      return { keyPem: await readFile(join(ws.dir, 'node.key')), certPem: await readFile(join(ws.dir, 'node.crt'), 'utf8') };
    },
  );

  try {
    const cert = parseCertificate(certPem, 'node.crt', 'issued certificate');
    if (!cert.checkIssued(ca.cert) || !cert.verify(ca.cert.publicKey) || !cert.checkPrivateKey(createPrivateKey(keyPem)) || nameField(cert.subject, 'CN') !== nodeName) {
      throw new PkiError('OPENSSL_FAILED', 'openssl produced an unexpected node certificate');
    }
    if (copyCa) await installFile(caCertPath, ca.certPem, 0o644, true);
    await installFile(keyPath, keyPem, 0o600, replace);
    try {
      await installFile(certPath, certPem, 0o644, replace);
    } catch (err) {
      if (!replace) await unlink(keyPath).catch(() => undefined); // ours: created just above
      throw err;
    }
    return {
      nodeName,
      clusterName: ca.clusterName,
      keyPath,
      certPath,
      caCertPath,
      serialNumber: cert.serialNumber,
      fingerprint256: cert.fingerprint256,
      notAfter: new Date(cert.validTo),
    };
  } finally {
    keyPem.fill(0);
  }
}
