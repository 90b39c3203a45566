// What may be a cluster name, a node name and a certificate address. Node names end up in the
// certificate's CN and in a DNS subjectAltName, and are compared exactly (case included) with the
// CN a peer presents, so they follow DNS host name syntax; names are also written into OpenSSL
// configuration files, which the restricted alphabets make safe without any escaping.
import { isIP } from 'node:net';
import { PkiError } from './pki-error.js';

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const NODE_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
const CLUSTER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function isValidNodeName(name: string): boolean {
  return name.length <= 253 && NODE_NAME.test(name) && isIP(name) === 0;
}

export function assertNodeName(name: string): void {
  if (!isValidNodeName(name)) {
    throw new PkiError('INVALID_INPUT', `invalid node name ${JSON.stringify(name)}: use a DNS host name (letters, digits, '-', labels separated by '.'), not an IP address`);
  }
}

export function assertClusterName(name: string): void {
  if (!CLUSTER_NAME.test(name)) {
    throw new PkiError('INVALID_INPUT', `invalid cluster name ${JSON.stringify(name)}: use 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit`);
  }
}

/** Validated, de-duplicated IP addresses (IPv6 zone ids are refused: they mean nothing in a certificate). */
export function normalizeAddresses(addresses: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of addresses) {
    if (isIP(a) === 0 || a.includes('%')) throw new PkiError('INVALID_INPUT', `invalid IP address ${JSON.stringify(a)} for a node certificate`);
    if (!out.includes(a)) out.push(a);
  }
  return out;
}
