// What the transport needs of a node's credentials (structurally a pki NodeCredentials), and the
// TLS settings both ends share: TLS 1.3 only, the cluster CA as the one trust anchor.
import type { PeerCertificate } from 'node:tls';

export interface TlsCredentials {
  readonly nodeName: string;
  /** PEM of the cluster CA certificate. */
  readonly ca: string | Buffer;
  /** PEM of this node's certificate. */
  readonly cert: string | Buffer;
  /** PEM of this node's private key. */
  readonly key: string | Buffer;
}

export const TLS_VERSION = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' } as const;

export function tlsOptions(c: TlsCredentials): { ca: string | Buffer; cert: string | Buffer; key: string | Buffer; minVersion: 'TLSv1.3'; maxVersion: 'TLSv1.3' } {
  // `ca` replaces Node's default root store: only certificates of this cluster's CA verify.
  return { ca: c.ca, cert: c.cert, key: c.key, ...TLS_VERSION };
}

/** The node name a verified peer certificate carries: its single CN, or undefined. */
export function certificateNodeName(cert: PeerCertificate | Record<string, never> | null | undefined): string | undefined {
  if (cert === null || cert === undefined || !('subject' in cert) || cert.subject === undefined) return undefined;
  const cn: unknown = cert.subject.CN;
  return typeof cn === 'string' && cn !== '' ? cn : undefined; // several CNs come as an array: refused
}
