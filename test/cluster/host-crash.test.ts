// Host crash of the primary (links cut, every process of the host killed): the secondary takes over
// alone and the VIP answers from it; the takeover time (crash -> first answer from the survivor at
// the VIP, a client probing every 10 ms) is measured and printed. Then the crashed host boots again
// with its data directory: it comes back as secondary on its own and the survivor becomes PRIM.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { netnsSkipReason } from '../harness/index.js';
import { startedPair, until } from './fixture.js';

test('host crash of the primary: the secondary takes over alone; the old primary returns as secondary', { skip: netnsSkipReason(), timeout: 90_000 }, async (t) => {
  const { c, prim, second } = await startedPair(t);

  const probe = c.startVipProbe(10);
  t.after(() => probe.stop());
  await until(() => probe.firstFrom(prim, 0) !== null, 5_000, 'the probe to get answers from the primary');

  // Crash.
  const crashedAt = Date.now();
  await c.net.killHost(c.hosts[prim]);
  await until(() => probe.firstFrom(second, crashedAt) !== null, 15_000, `the VIP to answer from ${second}`).catch((e: Error) => {
    throw new Error(`${e.message}\n${JSON.stringify(c.monitor.timeline)}`);
  });
  const takeoverMs = probe.firstFrom(second, crashedAt)! - crashedAt;
  // The application answers a few ms before its readiness check reports it started.
  await c.waitFor(`${second} to report ALONE`, (x) => x[second] === 'ALONE', 5_000);
  const st = await c.status(second);
  const history = st?.modules[0]?.history ?? [];
  t.diagnostic(`takeover after a host crash: ${takeoverMs} ms from the crash (${new Date(crashedAt).toISOString()}) to the first answer from ${second} at the VIP`);
  for (const h of history.slice(-4)) t.diagnostic(`  ${second} ${h.at} ${h.from} -> ${h.to}: ${h.reason}`);
  assert.equal(st?.modules[0]?.state, 'ALONE', `${second} runs alone`);
  assert.equal(st?.peer?.liveness === 'up', false, `${second} sees its peer down`);
  assert.equal(await c.vipOn(second), true, `the VIP is on ${second}`);
  // No answer from the crashed node after the takeover (its processes are dead).
  const lateFromDead = probe.answers.filter((a) => a.node === prim && a.at > crashedAt + 50);
  assert.deepEqual(lateFromDead, [], 'no answer from the crashed node');
  // Still alone after a while: no flapping.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await c.phases())[second], 'ALONE');

  // The old primary boots again: it must come back as secondary, and the survivor goes PRIM.
  const revivedAt = Date.now();
  await c.reviveNode(prim);
  await c.waitFor(`${prim} back as secondary and ${second} PRIM`, (x) => x[prim] === 'SECOND' && x[second] === 'PRIM', 30_000);
  await until(async () => (await c.askVip()) === second, 10_000, `the VIP to answer from ${second}`);
  assert.equal(await c.vipOn(prim), false, `no VIP on ${prim}`);
  assert.deepEqual(c.appPids(prim), [], `no application on ${prim}`);
  assert.ok(!c.monitor.seen(prim, revivedAt).some((s) => s === 'PROMOTING' || s === 'STARTING_PRIM' || s === 'PRIM' || s === 'ALONE'), `${prim} never tried to be primary after its return: ${c.monitor.seen(prim, revivedAt).join(' > ')}`);
  probe.stop();
  c.monitor.stop();
  assert.deepEqual(c.monitor.violations, []);
  assert.deepEqual(c.monitor.appOverlaps, [], 'the application never ran on both nodes at once');
  assert.ok(c.monitor.appSamples > 50, `the application monitor sampled (${c.monitor.appSamples})`);
  assert.ok(c.monitor.samples > 20, `the monitor sampled (${c.monitor.samples})`);
});
