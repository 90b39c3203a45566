// Helpers shared by the replication cluster tests (jepsen, crash-consistency, stale-divergence):
// the records test module, its logs, requests to the application, replica comparison.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../compiler/validate/schema-file.js';
import { APP_PORT, PRIMARY_LIKE, logTail, type Cluster } from '../cluster/fixture.js';
import { diffTrees, snapshotTree } from './trees.js';

export const RECORDS_MODULE_DIR = join(PACKAGE_ROOT, 'test/modules/records');
export const MODULE = 'records';
/** The module's replication excludes (test/modules/records/module.yaml). */
export const EXCLUDES = ['cache/**'];
export type NodeName = 'n1' | 'n2';
export const other = (n: NodeName): NodeName => (n === 'n1' ? 'n2' : 'n1');

/** The fixture's log tail plus this module's logs and any other log of the agents (replication). */
export function tailLogs(c: Cluster, lines = 30): string {
  const out = [logTail(c.root, lines)];
  for (const n of ['n1', 'n2'] as const) {
    const dir = join(c.dataDir(n), 'logs');
    let names: string[] = [];
    try { names = readdirSync(dir).filter((f) => f.endsWith('.log') && f !== 'mirror.log'); } catch { /* none */ }
    for (const name of names) {
      try {
        const text = readFileSync(join(dir, name), 'utf8').trimEnd().split('\n');
        out.push(`--- ${n}/logs/${name}`, ...text.slice(-lines));
      } catch { /* unreadable */ }
    }
  }
  return out.join('\n');
}

/** Primary-like node of a phases sample, or null (none, or both: the monitor reports that). */
export function primaryOf(p: Record<NodeName, string | null>): NodeName | null {
  const prims = (['n1', 'n2'] as const).filter((n) => PRIMARY_LIKE.has(p[n] ?? ''));
  return prims.length === 1 ? prims[0]! : null;
}

/** Waits for a PRIM + SECOND pair; returns who is who. */
export async function waitPair(c: Cluster, what: string, timeoutMs = 60_000): Promise<{ prim: NodeName; second: NodeName }> {
  const p = await c.waitFor(what, (x) => (x.n1 === 'PRIM' && x.n2 === 'SECOND') || (x.n2 === 'PRIM' && x.n1 === 'SECOND'), timeoutMs);
  const prim: NodeName = p.n1 === 'PRIM' ? 'n1' : 'n2';
  return { prim, second: other(prim) };
}

/**
 * POST through curl: from the client host to the VIP (`via: 'vip'`), or inside a node to its own
 * application (127.0.0.1), which works while the client host is cut off.
 */
export async function post(c: Cluster, via: 'vip' | NodeName, path: string, body: string | Buffer, timeoutS = 10): Promise<{ ok: boolean; status: number; body: string }> {
  const host = via === 'vip' ? c.hosts.w : c.hosts[via];
  const addr = via === 'vip' ? c.vip : '127.0.0.1';
  const r = await host.exec(['curl', '-sS', '-m', String(timeoutS), '-o', '-', '-w', '\n%{http_code}', '-X', 'POST', '--data-binary', '@-', `http://${addr}:${APP_PORT}${path}`], {
    input: typeof body === 'string' ? body : body.toString('latin1'),
    timeoutMs: (timeoutS + 5) * 1000,
  });
  const i = r.stdout.lastIndexOf('\n');
  const status = Number(r.stdout.slice(i + 1)) || 0;
  const text = i >= 0 ? r.stdout.slice(0, i) : r.stdout;
  return { ok: r.code === 0 && status === 200, status, body: r.code === 0 ? text : `${text}${r.stderr}`.trim() };
}

/** GET through curl from the client host to the VIP; the body (up to 256 MiB), or null on failure. */
export async function getVip(c: Cluster, path: string, timeoutS = 30): Promise<string | null> {
  const r = await c.hosts.w.exec(['curl', '-sS', '-f', '-m', String(timeoutS), `http://${c.vip}:${APP_PORT}${path}`], { timeoutMs: (timeoutS + 5) * 1000, maxBuffer: 256 * 1024 * 1024 });
  return r.code === 0 ? r.stdout : null;
}

/** A node's copy of the records file, read from its disk (null: no file). */
export function recordsOnDisk(c: Cluster, node: NodeName): Buffer | null {
  const p = join(c.diskOf(node), 'records.log');
  return existsSync(p) ? readFileSync(p) : null;
}

/** Differences between the two replicas on disk, excluding what the module excludes (empty: equal). */
export function compareReplicas(c: Cluster, excludes: readonly string[] = EXCLUDES): string[] {
  return diffTrees(snapshotTree(c.diskOf('n1'), excludes), snapshotTree(c.diskOf('n2'), excludes), ['n1', 'n2']);
}

/**
 * Replicas compared until equal or `timeoutMs` (the last operations' acknowledgements and the
 * secondary's own page cache need no time, but a resync reported done a moment ago might still be
 * in its last step): returns the last differences.
 */
export async function replicasEqual(c: Cluster, timeoutMs = 5_000): Promise<string[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const d = compareReplicas(c);
    if (d.length === 0 || Date.now() > end) return d;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The module's status on a node in one line (state, detail, data, replication, last reason). */
export async function describeNode(c: Cluster, n: NodeName): Promise<string> {
  const st = await c.status(n);
  const m = st?.modules[0];
  if (!m) return `${n}: no answer`;
  return `${n}: ${m.state}${m.detail ? ` (${m.detail})` : ''}, data ${m.data.generation} ${m.data.status}, replication ${m.replication}, vip ${m.vip}; last: ${m.last ? `${m.last.from} -> ${m.last.to}: ${m.last.reason}` : '-'}`;
}

/** Lines of a module log (`logs/records.log`) of a node, or []. */
export function moduleLog(c: Cluster, n: NodeName): string[] {
  try {
    return readFileSync(join(c.dataDir(n), 'logs', `${MODULE}.log`), 'utf8').split('\n');
  } catch {
    return [];
  }
}

/** The compact history of the monitor: `+12.3s n1=PRIM n2=SECOND` lines since `since`. */
export function monitorHistory(c: Cluster, since: number): string[] {
  return c.monitor.timeline.filter((e) => e.at >= since).map((e) => `+${((e.at - since) / 1000).toFixed(1)}s n1=${e.n1} n2=${e.n2}`);
}
