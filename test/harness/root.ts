/**
 * Gate for tests that need root and network namespaces. Outside CI they are skipped with a clear
 * reason when the machine cannot run them; under CI (CI set, as in .ci/run) or with
 * HAMOD_REQUIRE_NETNS=1 they are never skipped, so a missing capability fails loudly instead of
 * passing silently.
 */
import { spawnSync } from 'node:child_process';

/** Tools the harness runs, with the Debian package that provides each. */
export const HARNESS_TOOLS: readonly { argv: readonly string[]; pkg: string }[] = [
  { argv: ['ip', '-V'], pkg: 'iproute2' },
  { argv: ['nft', '--version'], pkg: 'nftables' },
  { argv: ['nsenter', '--version'], pkg: 'util-linux' },
  { argv: ['unshare', '--version'], pkg: 'util-linux' },
  { argv: ['ping', '-V'], pkg: 'iputils-ping' },
];

let cached: string | null | undefined;

function probe(): string | null {
  if (process.platform !== 'linux') return `test hosts need Linux (this is ${process.platform})`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return 'test hosts need root (network namespaces, veths, nftables): run as root';
  }
  const missing: string[] = [];
  for (const t of HARNESS_TOOLS) {
    const r = spawnSync(t.argv[0]!, t.argv.slice(1), { stdio: 'ignore', timeout: 5_000 });
    if (r.error !== undefined) missing.push(`${t.argv[0]} (apt-get install ${t.pkg})`);
  }
  if (missing.length) return `missing tools: ${missing.join(', ')}`;
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 5_000 });
  if (r.status !== 0) return `\`ip netns\` unavailable: ${(r.stderr ?? String(r.error)).trim()}`;
  return null;
}

/** Why the machine cannot run test hosts, or undefined when it can. */
export function netnsUnavailableReason(): string | undefined {
  if (cached === undefined) cached = probe();
  return cached ?? undefined;
}

/** True when netns tests must run even if they cannot (CI): they then fail instead of skipping. */
export function netnsRequired(): boolean {
  const ci = process.env['CI'];
  return (ci !== undefined && ci !== '' && ci !== '0' && ci !== 'false') || process.env['HAMOD_REQUIRE_NETNS'] === '1';
}

/**
 * Skip reason for node:test (`test(name, { skip: netnsSkipReason() }, fn)`): a string when the
 * test should be skipped, false when it must run.
 */
export function netnsSkipReason(): string | false {
  if (netnsRequired()) return false;
  return netnsUnavailableReason() ?? false;
}

/**
 * In a test body: returns true when the test may go on; otherwise marks it skipped with the
 * reason (`if (!requireRoot(t)) return;`). Under CI it never skips.
 */
export function requireRoot(t: { skip(message?: string): void }): boolean {
  const reason = netnsSkipReason();
  if (reason === false) return true;
  t.skip(reason);
  return false;
}
