// The primary is cut from everything (its interfaces drop every frame; the witness is reachable by
// the other node only): the other node takes over with the witness lease, and the isolated node
// fences itself (application stopped, VIP removed) as its authority runs out. Its control socket is
// local, so its own status still answers. Back on the network, it rejoins as secondary.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { netnsSkipReason } from '../harness/index.js';
import { PRIMARY_LIKE, startedPair, until } from './fixture.js';

test('isolated primary: the other node takes over, the isolated one fences itself, then rejoins as secondary', { skip: netnsSkipReason(), timeout: 90_000 }, async (t) => {
  const { c, prim, second } = await startedPair(t);

  const probe = c.startVipProbe(10);
  t.after(() => probe.stop());
  await until(() => probe.firstFrom(prim, 0) !== null, 5_000, 'the probe to get answers from the primary');

  const cutAt = Date.now();
  await c.net.isolate(c.hosts[prim]);
  await c.waitFor(`${second} to take over`, (x) => x[second] === 'ALONE', 10_000);
  await until(() => probe.firstFrom(second, cutAt) !== null, 10_000, `the VIP to answer from ${second}`);
  t.diagnostic(`takeover after isolating the primary: ${probe.firstFrom(second, cutAt)! - cutAt} ms from the cut to the first answer from ${second} at the VIP (probe every 10 ms)`);
  probe.stop();

  // The isolated node, from its own status: not primary, application stopped, VIP removed.
  await c.waitFor(`${prim} to step down`, (x) => x[prim] !== null && !PRIMARY_LIKE.has(x[prim]), 10_000);
  const st = await c.status(prim);
  assert.ok(st, `${prim} answers on its control socket while isolated`);
  const m = st.modules[0]!;
  assert.notEqual(m.role, 'primary');
  assert.equal(m.vip, false, `${prim} reports no VIP`);
  // WAIT, or PROMOTING while it asks the unreachable witness again (every leaseRetryMs).
  assert.ok(m.state === 'WAIT' || m.state === 'PROMOTING', `${prim} waits: ${m.state} (${m.detail}): ${m.last?.reason}`);
  assert.deepEqual(c.appPids(prim), [], `the application no longer runs on ${prim}`);
  assert.equal(await c.vipOn(prim), false, `the VIP is not configured on ${prim}`);
  const reasons = m.history.map((h) => `${h.from} -> ${h.to}: ${h.reason}`);
  t.diagnostic(`${prim} while isolated: ${c.monitor.seen(prim, cutAt).join(' > ')}`);
  for (const r of reasons.slice(-4)) t.diagnostic(`  ${prim} ${r}`);
  // It stays out while isolated (no witness answers it).
  await new Promise((r) => setTimeout(r, 2500));
  assert.ok(!PRIMARY_LIKE.has((await c.phases())[prim] ?? ''), `${prim} did not try again while isolated`);
  assert.deepEqual(c.appPids(prim), []);

  await c.net.unisolate(c.hosts[prim]);
  await c.waitFor(`${prim} to rejoin as secondary`, (x) => x[prim] === 'SECOND' && x[second] === 'PRIM', 30_000);
  await until(async () => (await c.askVip()) === second, 10_000, `the VIP to answer from ${second}`);
  assert.equal(await c.vipOn(prim), false, `no VIP on ${prim}`);
  c.monitor.stop();
  assert.deepEqual(c.monitor.violations, []);
  assert.deepEqual(c.monitor.appOverlaps, [], 'the application never ran on both nodes at once');
  assert.ok(c.monitor.appSamples > 50, `the application monitor sampled (${c.monitor.appSamples})`);
  assert.ok(c.monitor.samples > 20, `the monitor sampled (${c.monitor.samples})`);
});
