// Crash consistency across a failover (issue 4). The records test application runs a small script
// of file operations (create, write, append, overwrite, rename over an existing file, mkdir, unlink,
// truncate, with fsync / fdatasync / directory fsync points: test/workload/cc.ts) in the replicated
// directory, stopping after its K-th fsync point plus the unsynced operations up to the next one;
// then the primary's host crashes. On the node that took over:
//  - what POSIX durability promises holds: every fsynced file has its fsynced content, every
//    fsynced atomic rename is fully old or fully new (never torn, never missing), an unsynced
//    append/overwrite is a clean prefix/overlay;
//  - and what hamod's synchronous replication promises: the directory is exactly as the
//    application left it (every operation that returned was applied on the secondary);
//  - the directories of the earlier rounds are unchanged (a failover or resync never damages
//    settled data).
// The crashed node is revived between points; once it is secondary again both replicas must be
// equal. One cluster for all the points. HAMOD_CC_POINTS=3,6,8 runs some points only.
import { test } from 'node:test';
import { join } from 'node:path';
import { netnsSkipReason } from '../harness/index.js';
import { startedPair, until } from './fixture.js';
import { POINTS, checkExact, checkRequired, contents, executedFor, modelAfter, readRound, script } from '../workload/cc.js';
import { RECORDS_MODULE_DIR, describeNode, monitorHistory, post, replicasEqual, tailLogs, waitPair } from '../workload/cluster-util.js';

const POINT_LIST = process.env.HAMOD_CC_POINTS
  ? process.env.HAMOD_CC_POINTS.split(',').map(Number).filter((k) => k >= 1 && k <= POINTS)
  : Array.from({ length: POINTS }, (_, i) => i + 1);

test(`crash consistency: the primary's host crashes at each of ${POINT_LIST.length} fsync points of a create/write/rename/fsync workload; the new primary has every fsynced content, renames are atomic`, {
  skip: netnsSkipReason(),
  timeout: 120_000 + POINT_LIST.length * 90_000,
}, async (t) => {
  const { c } = await startedPair(t, { moduleDir: RECORDS_MODULE_DIR });
  const t0 = Date.now();
  const story: string[] = [];
  const problems: string[] = [];
  const settled = new Map<string, Map<string, Buffer | 'dir'> | null>(); // earlier rounds as found after their crash
  const context = async () =>
    [
      ...story,
      ...(await Promise.all((['n1', 'n2'] as const).map((n) => describeNode(c, n)))),
      'states (monitor):', ...monitorHistory(c, t0).slice(-60),
      tailLogs(c, 40),
    ].join('\n');

  for (const k of POINT_LIST) {
    let pair: { prim: 'n1' | 'n2'; second: 'n1' | 'n2' };
    try {
      pair = await waitPair(c, `a pair before point ${k}`, 90_000);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${await context()}`);
    }
    const { prim, second } = pair;
    const dir = `cc/r${k}`;
    const x = contents(`round-${k}`);
    const ops = script(dir, x);
    const want = executedFor(ops, k);
    const res = await post(c, 'vip', `/ops?stop=${k}`, JSON.stringify({ ops }), 60);
    if (!res.ok) throw new Error(`point ${k}: the workload failed on ${prim}: HTTP ${res.status} ${res.body}\n${await context()}`);
    const got = JSON.parse(res.body) as { point: number; executed: number };
    if (got.point !== want.point || got.executed !== want.executed) throw new Error(`point ${k}: the application stopped at ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    const lastOps = ops.slice(want.executed - 3, want.executed).map((o) => o.op).join(', ');
    const crashAt = Date.now();
    await c.net.killHost(c.hosts[prim]);
    story.push(`point ${k}: ${prim} crashed after op #${want.executed} (last ops: ${lastOps}); ${second} takes over`);
    try {
      await c.waitFor(`${second} to take over after the crash at point ${k}`, (p) => p[second] === 'ALONE', 30_000);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${await context()}`);
    }
    // Read the survivor's own copy on its disk.
    const actual = readRound(join(c.diskOf(second), dir));
    for (const p of checkRequired(k, x, actual)) problems.push(`point ${k} (POSIX durability) on ${second}: ${p}`);
    for (const p of checkExact(modelAfter(ops, want.executed, dir), actual, x)) problems.push(`point ${k} (every returned operation replicated) on ${second}: ${p}`);
    for (const [d, before] of settled) {
      const now = readRound(join(c.diskOf(second), d));
      const diff = before === null ? (now === null ? [] : [`${d} appeared`]) : checkExact(before, now, x);
      for (const p of diff) problems.push(`point ${k}: earlier round ${d} changed on ${second}: ${p}`);
    }
    settled.set(dir, actual);
    story.push(`   checked on ${second} ${((Date.now() - crashAt) / 1000).toFixed(1)} s after the crash; problems so far: ${problems.length}`);

    await c.reviveNode(prim);
    try {
      await until(async () => (await c.phases())[prim] === 'SECOND' && (await c.phases())[second] === 'PRIM', 90_000, `${prim} to return as secondary after point ${k}`);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${problems.join('\n')}\n${await context()}`);
    }
    const diff = await replicasEqual(c, 10_000);
    for (const d of diff.slice(0, 10)) problems.push(`point ${k}: replicas differ after ${prim}'s resync: ${d}`);
    story.push(`   ${prim} back as secondary ${((Date.now() - crashAt) / 1000).toFixed(1)} s after the crash; replicas ${diff.length ? `differ (${diff.length})` : 'equal'}`);
  }
  c.monitor.stop();
  if (c.monitor.violations.length) problems.push(`two primaries: ${c.monitor.violations.slice(0, 5).join('; ')}`);
  if (c.monitor.appOverlaps.length) problems.push(`application on both nodes: ${c.monitor.appOverlaps.slice(0, 5).join('; ')}`);
  for (const s of story) t.diagnostic(s);
  if (problems.length) throw new Error(`${problems.length} problem(s):\n- ${problems.join('\n- ')}\n${await context()}`);
});
