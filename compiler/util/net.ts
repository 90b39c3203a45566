// Address checks shared by the compiler's rules and install-time parameter validation.
import { isIP } from 'node:net';

export function isIpAddress(s: string): boolean {
  return isIP(s) !== 0;
}

export function isCidr(s: string): boolean {
  const m = /^([^/]+)\/([0-9]{1,3})$/.exec(s);
  if (!m) return false;
  const fam = isIP(m[1]!);
  const bits = Number(m[2]);
  return fam === 4 ? bits <= 32 : fam === 6 ? bits <= 128 : false;
}
