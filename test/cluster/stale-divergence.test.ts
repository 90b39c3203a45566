// Generations on a real cluster with synchronous replication (issue 4):
//  (d) a stale node is refused: the secondary crashes, the primary goes on ALONE (new generation,
//      registered with the witness) and acknowledges writes, then crashes too; the stale node,
//      brought back alone, stays in WAIT (stale) and never starts the application; plain `prim`
//      is refused; `prim --force` (with a warning) is the only way, and it loses the writes made
//      alone (documented). When the other node returns, its superseded branch is discarded: it
//      resyncs as secondary and the replicas end equal.
//  (e) divergence: with the witness cut off, each node in turn is forced primary while the other is
//      down and acknowledges writes; brought back together, both report DIVERGED (nothing runs)
//      with the operator message; `hamod second MODULE --node NODE` on the side to discard makes it
//      resync from the other, which becomes primary: PRIM/SECOND with equal replicas holding the
//      kept side's records only.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { netnsSkipReason } from '../harness/index.js';
import { PRIMARY_LIKE, startedPair, until, type Cluster } from './fixture.js';
import { MODULE, RECORDS_MODULE_DIR, describeNode, monitorHistory, moduleLog, post, recordsOnDisk, replicasEqual, tailLogs, waitPair, type NodeName } from '../workload/cluster-util.js';
import { recordPayload, verifyRecords } from '../workload/records.js';

const SEED = 77;

/** Writes records `ids` (must all be acknowledged), through the VIP or inside a node. */
async function writeRecords(c: Cluster, via: 'vip' | NodeName, ids: number[]): Promise<void> {
  for (const id of ids) {
    const r = await post(c, via, `/record?id=${id}`, recordPayload(SEED, id), 15);
    assert.ok(r.ok, `record ${id} via ${via} not acknowledged: HTTP ${r.status} ${r.body}\n${await describeNode(c, 'n1')}\n${await describeNode(c, 'n2')}\n${tailLogs(c)}`);
  }
}

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

/** The records a node has on disk: problems of the file (with every id in `mustHave` acknowledged) and the ids present. */
function recordsOf(c: Cluster, n: NodeName, mustHave: number[]): { problems: string[]; present: Set<number> } {
  const v = verifyRecords(recordsOnDisk(c, n) ?? '', { acked: new Set(mustHave), seed: SEED });
  return { problems: v.problems, present: v.present };
}

/** Samples the phases for `ms`: the states a node went through. */
async function watch(c: Cluster, node: NodeName, ms: number): Promise<string[]> {
  const seen: string[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const s = (await c.phases())[node] ?? 'null';
    if (seen[seen.length - 1] !== s) seen.push(s);
    await new Promise((r) => setTimeout(r, 100));
  }
  return seen;
}

test('(d) a stale node is refused: it waits (stale) and never starts; only `prim --force` starts it, with a warning', { skip: netnsSkipReason(), timeout: 240_000 }, async (t) => {
  const { c, prim, second } = await startedPair(t, { moduleDir: RECORDS_MODULE_DIR });
  const t0 = Date.now();
  const ctx = async () => `${await describeNode(c, 'n1')}\n${await describeNode(c, 'n2')}\n${monitorHistory(c, t0).join('\n')}\n${tailLogs(c)}`;
  await writeRecords(c, 'vip', range(1, 5));

  // The secondary crashes: the primary continues ALONE under a new generation.
  await c.net.killHost(c.hosts[second]);
  await c.waitFor(`${prim} to run alone`, (x) => x[prim] === 'ALONE', 20_000);
  await writeRecords(c, 'vip', range(6, 10));
  const aloneGen = (await c.status(prim))?.modules[0]?.data.generation;
  t.diagnostic(`${prim} wrote records 6-10 alone under generation ${aloneGen}`);

  // The primary crashes too; only the stale node comes back.
  await c.net.killHost(c.hosts[prim]);
  await c.reviveNode(second);
  let st = await c.status(second);
  try {
    await until(async () => (st = await c.status(second))?.modules[0]?.detail === 'stale', 30_000, `${second} to wait as stale`);
  } catch (e) {
    throw new Error(`${(e as Error).message}: ${st?.modules[0]?.state} (${st?.modules[0]?.detail}) ${st?.modules[0]?.last?.reason}\n${await ctx()}`);
  }
  const seen = await watch(c, second, 5_000);
  // WAIT throughout (a PROMOTING blip, asking the witness again, would still not start anything).
  assert.ok(seen.every((s) => s === 'WAIT' || s === 'PROMOTING') && seen[seen.length - 1] === 'WAIT', `${second} stays in WAIT: ${seen.join(' > ')}\n${await ctx()}`);
  if (seen.length > 1) t.diagnostic(`${second} went through ${seen.join(' > ')}`);
  st = await c.status(second);
  assert.equal(st?.modules[0]?.detail, 'stale', `${second} waits because its data is stale: ${st?.modules[0]?.last?.reason}`);
  assert.notEqual(st?.modules[0]?.data.status, 'up-to-date', `${second} knows its data is not up to date`);
  t.diagnostic(`${second} waits: ${st?.modules[0]?.last?.reason}`);
  assert.deepEqual(c.appPids(second), [], `no application on ${second}`);
  assert.equal(await c.vipOn(second), false, `no VIP on ${second}`);
  assert.equal(await c.askVip(), null, 'nobody answers at the VIP');

  // Plain prim is refused.
  const plain = await c.cli(['prim', MODULE, '--data-dir', c.dataDir(second)]);
  assert.notEqual(plain.code, 0, `plain prim must be refused: ${plain.stdout}`);
  assert.match(plain.stderr, /stale/, `the refusal says why: ${plain.stderr}`);
  assert.match(plain.stderr, /--force/, `the refusal says how: ${plain.stderr}`);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal((await c.phases())[second], 'WAIT');
  assert.deepEqual(c.appPids(second), []);

  // prim --force: with a warning, it starts with its stale data.
  const forced = await c.cli(['prim', MODULE, '--force', '--data-dir', c.dataDir(second)]);
  assert.equal(forced.code, 0, `prim --force: ${forced.stderr}`);
  assert.match(forced.stderr, /WARNING/, `the CLI warns: ${forced.stderr}`);
  await c.waitFor(`${second} forced primary`, (x) => x[second] === 'ALONE', 30_000);
  await until(async () => (await c.askVip()) === second, 15_000, `the VIP to answer from ${second}`);
  assert.ok(moduleLog(c, second).some((l) => /prim --force/.test(l) && /stale/.test(l)), `the module log of ${second} warns about the stale data:\n${moduleLog(c, second).slice(-20).join('\n')}`);
  // Forcing started from the stale copy: the records written alone on the other node are not there.
  const forcedView = recordsOf(c, second, range(1, 5));
  assert.deepEqual(forcedView.problems, [], `${second}'s records are intact`);
  assert.deepEqual(range(6, 10).filter((id) => forcedView.present.has(id)), [], `${second} never had the records written alone on ${prim}`);
  await writeRecords(c, 'vip', range(11, 15));

  // The other node returns: its branch was discarded by the operator; it resyncs as secondary.
  await c.reviveNode(prim);
  try {
    const p = await waitPair(c, `${prim} back as secondary`, 90_000);
    assert.equal(p.prim, second, `the forced node stays primary`);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${await ctx()}`);
  }
  const diff = await replicasEqual(c, 10_000);
  assert.deepEqual(diff, [], `replicas equal after the resync\n${await ctx()}`);
  for (const n of [prim, second]) {
    const v = recordsOf(c, n, [...range(1, 5), ...range(11, 15)]);
    assert.deepEqual(v.problems, [], `${n}: records 1-5 and 11-15 intact`);
    assert.deepEqual(range(6, 10).filter((id) => v.present.has(id)), [], `${n}: the discarded branch's records are gone`);
  }
  c.monitor.stop();
  assert.deepEqual(c.monitor.violations, []);
  assert.deepEqual(c.monitor.appOverlaps, [], 'the application never ran on both nodes at once');
});

test('(e) divergence: both sides wrote while apart (forced); both report DIVERGED; `hamod second --node` on the side to discard resyncs it', { skip: netnsSkipReason(), timeout: 240_000 }, async (t) => {
  const { c, prim: a, second: b } = await startedPair(t, { moduleDir: RECORDS_MODULE_DIR });
  const t0 = Date.now();
  const ctx = async () => `${await describeNode(c, 'n1')}\n${await describeNode(c, 'n2')}\n${monitorHistory(c, t0).join('\n')}\n${tailLogs(c)}`;
  await writeRecords(c, 'vip', range(1, 5));

  // No witness from now on (the client host is cut off too: records go to the application inside the node).
  await c.net.partition(c.hosts.w, [c.hosts.n1, c.hosts.n2]);
  await c.net.killHost(c.hosts[b]);
  await c.waitFor(`${a} to give up the primary role (no peer, no witness)`, (x) => x[a] !== null && !PRIMARY_LIKE.has(x[a]), 20_000);
  const fa = await c.cli(['prim', MODULE, '--force', '--data-dir', c.dataDir(a)]);
  assert.equal(fa.code, 0, `prim --force on ${a}: ${fa.stderr}`);
  assert.match(fa.stderr, /WARNING/);
  await c.waitFor(`${a} forced primary`, (x) => x[a] === 'ALONE', 30_000);
  await until(async () => c.appPids(a).length > 0, 15_000, `the application on ${a}`);
  await until(async () => (await c.hosts[a].exec(['curl', '-sf', 'http://127.0.0.1:8080/health'])).code === 0, 15_000, `the application on ${a} to answer`);
  await writeRecords(c, a, range(101, 105));
  t.diagnostic(`${a} forced, wrote 101-105 under ${(await c.status(a))?.modules[0]?.data.generation}`);

  await c.net.killHost(c.hosts[a]);
  await c.reviveNode(b);
  const seenB = await watch(c, b, 4_000);
  assert.ok(!seenB.some((s) => PRIMARY_LIKE.has(s)), `${b} does not start alone without a witness: ${seenB.join(' > ')}`);
  const fb = await c.cli(['prim', MODULE, '--force', '--data-dir', c.dataDir(b)]);
  assert.equal(fb.code, 0, `prim --force on ${b}: ${fb.stderr}`);
  await c.waitFor(`${b} forced primary`, (x) => x[b] === 'ALONE', 30_000);
  await until(async () => (await c.hosts[b].exec(['curl', '-sf', 'http://127.0.0.1:8080/health'])).code === 0, 15_000, `the application on ${b} to answer`);
  await writeRecords(c, b, range(201, 205));
  t.diagnostic(`${b} forced, wrote 201-205 under ${(await c.status(b))?.modules[0]?.data.generation}`);

  // Both come back together.
  await c.net.killHost(c.hosts[b]);
  await Promise.all([c.reviveNode(a), c.reviveNode(b)]);
  try {
    await c.waitFor('both DIVERGED', (x) => x.n1 === 'DIVERGED' && x.n2 === 'DIVERGED', 30_000);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${await ctx()}`);
  }
  // The witness back changes nothing: the operator must choose.
  await c.net.heal(c.hosts.w, [c.hosts.n1, c.hosts.n2]);
  const seen = await Promise.all([watch(c, 'n1', 4_000), watch(c, 'n2', 4_000)]);
  assert.deepEqual(seen, [['DIVERGED'], ['DIVERGED']], `both stay DIVERGED: n1 ${seen[0]!.join(' > ')}, n2 ${seen[1]!.join(' > ')}`);
  for (const n of [a, b]) {
    assert.deepEqual(c.appPids(n), [], `no application on ${n}`);
    assert.equal(await c.vipOn(n), false, `no VIP on ${n}`);
    const log = moduleLog(c, n);
    assert.ok(log.some((l) => /both nodes wrote while apart/.test(l) && /hamod second/.test(l)), `${n}'s module log tells the operator what to do:\n${log.slice(-15).join('\n')}`);
  }
  const plain = await c.cli(['prim', MODULE, '--data-dir', c.dataDir(a)]);
  assert.notEqual(plain.code, 0, 'plain prim is refused on a diverged node');
  assert.match(plain.stderr, /diverged/, plain.stderr);
  // Each side still has its own branch.
  assert.ok(recordsOf(c, a, range(101, 105)).problems.length === 0 && recordsOf(c, b, range(201, 205)).problems.length === 0, 'each side kept its own writes');

  // Resolution: keep a's data, discard b's (from a, naming b).
  const sec = await c.cli(['second', MODULE, '--node', b, '--data-dir', c.dataDir(a)]);
  assert.equal(sec.code, 0, `second --node ${b}: ${sec.stderr}`);
  try {
    const p = await waitPair(c, `${a} PRIM and ${b} SECOND after the resolution`, 90_000);
    assert.equal(p.prim, a, 'the kept side is primary');
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${await ctx()}`);
  }
  const diff = await replicasEqual(c, 10_000);
  assert.deepEqual(diff, [], `replicas equal after the resync\n${await ctx()}`);
  for (const n of [a, b]) {
    const v = recordsOf(c, n, [...range(1, 5), ...range(101, 105)]);
    assert.deepEqual(v.problems, [], `${n}: the kept side's records`);
    assert.deepEqual(range(201, 205).filter((id) => v.present.has(id)), [], `${n}: the discarded side's records are gone`);
  }
  await until(async () => (await c.askVip()) === a, 15_000, `the VIP to answer from ${a}`);
  c.monitor.stop();
  assert.deepEqual(c.monitor.violations, []);
  assert.deepEqual(c.monitor.appOverlaps, [], 'the application never ran on both nodes at once');
});
