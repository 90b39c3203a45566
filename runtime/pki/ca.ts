// The cluster certificate authority, created once by `hamod cluster init`: an ECDSA P-256 key
// (ca.key, 0600) and a self-signed certificate (ca.crt) valid 10 years, subject
// "O=hamod, OU=<cluster name>, CN=hamod cluster CA", allowed to sign end-entity certificates only
// (pathlen 0). ECDSA P-256 rather than Ed25519: every TLS 1.3 stack accepts it for mutual TLS.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ensurePrivateDir, exists, installFile, PKI_FILES } from './files.js';
import { assertClusterName } from './names.js';
import { EC_KEYGEN_ARGS, opensslConfig, opensslTime, withOpenssl } from './openssl.js';
import { PkiError } from './pki-error.js';
import { addYears } from './x509.js';

export const CA_VALIDITY_YEARS = 10;
/** notBefore is set this far in the past, so nodes whose clocks lag a little accept a new certificate. */
export const BACKDATE_MS = 60 * 60 * 1000;
export const CA_COMMON_NAME = 'hamod cluster CA';

export interface ClusterCaOptions {
  clusterName: string;
  /** Issuing time (tests); default now. */
  now?: Date;
}

export interface ClusterCa {
  clusterName: string;
  caKeyPath: string;
  caCertPath: string;
  /** SHA-256 fingerprint of the CA certificate (colon-separated hex): safe to print and compare. */
  fingerprint256: string;
  notAfter: Date;
}

/** Creates ca.key and ca.crt in `dir` (created 0700 if missing). EXISTS if either is there already. */
export async function createClusterCa(dir: string, options: ClusterCaOptions): Promise<ClusterCa> {
  const { clusterName } = options;
  assertClusterName(clusterName);
  const caKeyPath = join(dir, PKI_FILES.caKey);
  const caCertPath = join(dir, PKI_FILES.caCert);
  await ensurePrivateDir(dir);
  for (const f of [caKeyPath, caCertPath]) {
    if (await exists(f)) throw new PkiError('EXISTS', 'a cluster CA already exists here; refusing to replace it', { file: f });
  }
  const now = options.now ?? new Date();

  const { keyPem, certPem } = await withOpenssl(
    opensslConfig({ clusterName, commonName: CA_COMMON_NAME }),
    async (ws) => {
      await ws.run([...EC_KEYGEN_ARGS, '-out', 'ca.key']);
      await ws.run(['req', '-new', '-config', ws.config, '-key', 'ca.key', '-out', 'ca.csr']);
      await ws.run([
        'ca', '-batch', '-config', ws.config, '-selfsign', '-keyfile', 'ca.key', '-in', 'ca.csr', '-out', 'ca.crt', '-notext',
        '-extensions', 'v3_ca',
        '-startdate', opensslTime(new Date(now.getTime() - BACKDATE_MS)),
        '-enddate', opensslTime(addYears(now, CA_VALIDITY_YEARS)),
      ]);
      return { keyPem: await readFile(join(ws.dir, 'ca.key')), certPem: await readFile(join(ws.dir, 'ca.crt'), 'utf8') };
    },
  );

  try {
    const cert = new X509Certificate(certPem);
    if (!cert.ca || !cert.checkPrivateKey(createPrivateKey(keyPem)) || !cert.verify(cert.publicKey)) {
      throw new PkiError('OPENSSL_FAILED', 'openssl produced an unexpected CA certificate');
    }
    await installFile(caKeyPath, keyPem, 0o600);
    try {
      await installFile(caCertPath, certPem, 0o644);
    } catch (err) {
      await unlink(caKeyPath).catch(() => undefined); // ours: created just above
      throw err;
    }
    return { clusterName, caKeyPath, caCertPath, fingerprint256: cert.fingerprint256, notAfter: new Date(cert.validTo) };
  } finally {
    keyPem.fill(0);
  }
}
