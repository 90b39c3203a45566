// A node's credentials, loaded once at agent start from its node directory and checked as a whole:
// the node certificate was issued by the CA beside it, is currently valid, has a hamod node name as
// CN and matches the private key; key and secret are private files (0600) of the right form.
// The key and the secret never appear in logs: JSON and util.inspect show them redacted.
import { createPrivateKey, type X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { PKI_FILES, readPkiFile } from './files.js';
import { isValidNodeName } from './names.js';
import { PkiError } from './pki-error.js';
import { readClusterSecret } from './secret.js';
import { assertCurrentlyValid, nameField, parseCertificate } from './x509.js';

export class NodeCredentials {
  /** CN of the node certificate. */
  readonly nodeName: string;
  /** OU of the CA certificate. */
  readonly clusterName: string;
  /** PEM of the cluster CA certificate: the only trust anchor of the peer API. */
  readonly ca: string;
  /** PEM of the node certificate. */
  readonly cert: string;
  readonly notAfter: Date;
  readonly caFingerprint256: string;
  readonly #key: Buffer;
  readonly #secret: Buffer;

  constructor(init: { nodeName: string; clusterName: string; ca: string; cert: string; key: Buffer; secret: Buffer; notAfter: Date; caFingerprint256: string }) {
    this.nodeName = init.nodeName;
    this.clusterName = init.clusterName;
    this.ca = init.ca;
    this.cert = init.cert;
    this.notAfter = init.notAfter;
    this.caFingerprint256 = init.caFingerprint256;
    this.#key = init.key;
    this.#secret = init.secret;
  }

  /** PEM of the node's private key (for TLS options only). */
  get key(): Buffer {
    return this.#key;
  }

  /** The 32-byte cluster secret (for key derivation only). */
  get secret(): Buffer {
    return this.#secret;
  }

  toJSON(): Record<string, unknown> {
    return { nodeName: this.nodeName, clusterName: this.clusterName, notAfter: this.notAfter.toISOString(), caFingerprint256: this.caFingerprint256, key: '[redacted]', secret: '[redacted]' };
  }

  [inspect.custom](): string {
    return `NodeCredentials ${JSON.stringify(this.toJSON())}`;
  }
}

export interface LoadCredentialsOptions {
  /** Validity is checked at this time (tests); default now. */
  now?: Date;
}

/** Loads ca.crt, node.crt, node.key and cluster.secret from `dir` (see files.ts) and checks them. */
export async function loadNodeCredentials(dir: string, options: LoadCredentialsOptions = {}): Promise<NodeCredentials> {
  const now = options.now ?? new Date();
  const caPath = join(dir, PKI_FILES.caCert);
  const certPath = join(dir, PKI_FILES.nodeCert);
  const keyPath = join(dir, PKI_FILES.nodeKey);

  const caPem = (await readPkiFile(caPath, 'public', 'CA certificate')).toString('utf8');
  const ca = parseCertificate(caPem, caPath, 'CA certificate');
  const certPem = (await readPkiFile(certPath, 'public', 'node certificate')).toString('utf8');
  const cert = parseCertificate(certPem, certPath, 'node certificate');

  if (!ca.ca) throw new PkiError('INVALID_FILE', 'is not a CA certificate', { file: caPath });
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    throw new PkiError('CA_MISMATCH', 'node certificate was not issued by the cluster CA beside it', { file: certPath });
  }
  assertCurrentlyValid(ca, now, caPath, 'CA certificate');
  assertCurrentlyValid(cert, now, certPath, 'node certificate');
  const nodeName = nodeNameOf(cert, certPath);
  const clusterName = nameField(ca.subject, 'OU');
  if (clusterName === undefined) throw new PkiError('INVALID_FILE', 'CA certificate has no cluster name (OU)', { file: caPath });

  const key = await readPkiFile(keyPath, 'private', 'node private key');
  let matches = false;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(key));
  } catch {
    key.fill(0);
    throw new PkiError('INVALID_FILE', 'node private key is not an unencrypted PEM private key', { file: keyPath });
  }
  if (!matches) {
    key.fill(0);
    throw new PkiError('INVALID_FILE', 'node private key does not match the node certificate', { file: keyPath });
  }
  let secret: Buffer;
  try {
    secret = await readClusterSecret(dir);
  } catch (err) {
    key.fill(0);
    throw err;
  }
  return new NodeCredentials({
    nodeName,
    clusterName,
    ca: caPem,
    cert: certPem,
    key,
    secret,
    notAfter: new Date(cert.validTo),
    caFingerprint256: ca.fingerprint256,
  });
}

function nodeNameOf(cert: X509Certificate, file: string): string {
  const cn = nameField(cert.subject, 'CN');
  if (cn === undefined || !isValidNodeName(cn)) throw new PkiError('INVALID_FILE', 'node certificate has no valid node name as CN', { file });
  return cn;
}
