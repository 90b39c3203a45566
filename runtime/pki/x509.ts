// Reading what hamod needs out of X.509 certificates (node:crypto's X509Certificate).
import { X509Certificate } from 'node:crypto';
import { PkiError } from './pki-error.js';

export function parseCertificate(pem: Buffer | string, file: string, what: string): X509Certificate {
  const text = typeof pem === 'string' ? pem : pem.toString('utf8');
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new PkiError('INVALID_FILE', `${what} is not a PEM certificate`, { file });
  try {
    return new X509Certificate(text);
  } catch {
    throw new PkiError('INVALID_FILE', `${what} is not a valid PEM certificate`, { file });
  }
}

/**
 * The single value of `field` (CN, OU, O) in a distinguished name as X509Certificate prints it
 * ("O=hamod\nOU=demo\nCN=node-a"); undefined when absent or repeated. hamod names never contain
 * characters that would be escaped there.
 */
export function nameField(dn: string, field: string): string | undefined {
  const values = dn
    .split('\n')
    .filter((line) => line.startsWith(`${field}=`))
    .map((line) => line.slice(field.length + 1));
  return values.length === 1 ? values[0] : undefined;
}

/** Throws EXPIRED unless `now` lies within the certificate's validity period. */
export function assertCurrentlyValid(cert: X509Certificate, now: Date, file: string, what: string): void {
  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  if (now < from) throw new PkiError('EXPIRED', `${what} is not valid before ${from.toISOString()} (is this machine's clock right?)`, { file });
  if (now > to) throw new PkiError('EXPIRED', `${what} expired on ${to.toISOString()}`, { file });
}

/** Calendar arithmetic in UTC: `d` plus `years` years. */
export function addYears(d: Date, years: number): Date {
  const out = new Date(d.getTime());
  out.setUTCFullYear(out.getUTCFullYear() + years);
  return out;
}
