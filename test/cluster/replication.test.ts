// The mirror module's data directory really is replicated by the agent: writes made through the
// application on the primary are on the secondary's disk, which applications there see read-only;
// a secondary that was away is reintegrated automatically with only the changed zones (bytes on the
// wire reported by the primary), and after a swap the new primary serves every write.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { netnsSkipReason } from '../harness/index.js';
import { logTail, postVisits as post, startedPair, until, visitsOn as visits } from './fixture.js';

const digest = (p: string) => (existsSync(p) ? createHash('sha256').update(readFileSync(p)).digest('hex') : 'missing');

test('replication: writes reach the secondary, read-only there; delta reintegration; swap keeps every write', { skip: netnsSkipReason(), timeout: 150_000 }, async (t) => {
  const { c, prim, second } = await startedPair(t);
  const sync = async (node: 'n1' | 'n2') => (await c.status(node))?.modules[0]?.sync;

  // 1. Every acknowledged write is on the secondary's disk (synchronous: no waiting needed).
  await until(async () => (await sync(prim))?.state === 'in sync', 20_000, `${prim} to report its secondary in sync`);
  await post(c, 5);
  assert.equal(visits(c, prim), 5);
  assert.equal(visits(c, second), 5, 'the secondary has every acknowledged write at once');
  assert.equal(digest(join(c.diskOf(second), 'visits.log')), digest(join(c.diskOf(prim), 'visits.log')));

  // 2. Read-only for applications on the secondary.
  const w = await c.hosts[second].exec(['sh', '-c', `echo intruder >> ${c.appData}/visits.log`]);
  assert.notEqual(w.code, 0, 'a write on the secondary fails');
  assert.match(w.stderr, /Read-only file system/);
  assert.equal(visits(c, second), 5);

  // 3. The secondary's host crashes; the primary goes on alone under a new generation.
  const genBefore = (await c.status(prim))?.modules[0]?.data.generation;
  await c.net.killHost(c.hosts[second]);
  await c.waitFor(`${prim} ALONE`, (x) => x[prim] === 'ALONE', 20_000);
  await post(c, 20);
  assert.equal(visits(c, prim), 25);
  assert.equal(visits(c, second), 5, 'the crashed secondary has not seen the new writes');
  const genAlone = (await c.status(prim))?.modules[0]?.data.generation;
  assert.notEqual(genAlone, genBefore, 'writes alone go under a new generation');

  // 4. It returns: reintegrated automatically, changed zones only, then SECOND and in sync.
  await c.reviveNode(second);
  await c.waitFor(`${second} SECOND, ${prim} PRIM`, (x) => x[second] === 'SECOND' && x[prim] === 'PRIM', 60_000);
  const s = await sync(prim);
  assert.equal(s?.state, 'in sync', `after the resync: ${JSON.stringify(s)}`);
  assert.equal(visits(c, second), 25, 'the returning node has every write made while it was away');
  assert.equal(digest(join(c.diskOf(second), 'visits.log')), digest(join(c.diskOf(prim), 'visits.log')));
  // visits.log grew by ~20 lines (~1 KiB): a delta resync sends a few zones, far from a full copy.
  assert.ok((s?.sentBytes ?? Infinity) < 256 * 1024, `bytes sent by the reintegration: ${s?.sentBytes}\n${logTail(c.root)}`);
  const r = await c.cli(['resync', 'mirror', '--json', '--data-dir', c.dataDir(prim)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { inSync: boolean }).inSync, true);

  // 5. Swap: the former secondary becomes primary and serves every write; replication goes on.
  const sw = await c.cli(['swap', 'mirror', '--data-dir', c.dataDir(prim)]);
  assert.equal(sw.code, 0, sw.stderr + sw.stdout);
  await c.waitFor(`${second} PRIM after the swap`, (x) => x[second] === 'PRIM' && x[prim] === 'SECOND', 60_000);
  await until(async () => (await c.askVip()) === second, 10_000, `the VIP to answer from ${second}`);
  await post(c, 3);
  assert.equal(visits(c, second), 28);
  assert.equal(visits(c, prim), 28, 'the new secondary receives the writes');
  c.monitor.stop();
  assert.deepEqual(c.monitor.violations, []);
  assert.deepEqual(c.monitor.appOverlaps, []);
});
