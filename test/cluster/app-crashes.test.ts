// Repeated application crashes on the primary: the process checker restarts the application in place
// three times, and the fourth crash within the module's window (escalation: 3 restarts in 5 min, then
// failover) moves it, with its VIP, to the other node.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { netnsSkipReason } from '../harness/index.js';
import { startedPair, until } from './fixture.js';

test('repeated application crashes: three local restarts, then failover to the other node', { skip: netnsSkipReason(), timeout: 90_000 }, async (t) => {
  const { c, prim, second } = await startedPair(t);

  const steady = Date.now();
  for (let i = 1; i <= 3; i++) {
    const pids = c.appPids(prim);
    assert.equal(pids.length, 1, `one application process on ${prim} before crash ${i}: ${pids.join(',')}`);
    process.kill(pids[0]!, 'SIGKILL');
    // Restarted in place: a new process, the VIP answers from the same node, still PRIM.
    await until(() => { const now = c.appPids(prim); return now.length === 1 && now[0] !== pids[0]; }, 10_000, `the application to be restarted on ${prim} after crash ${i}`);
    await until(async () => (await c.askVip()) === prim, 10_000, `the VIP to answer from ${prim} after crash ${i}`);
    await c.waitFor(`${prim} PRIM again after crash ${i}`, (x) => x[prim] === 'PRIM' && x[second] === 'SECOND', 10_000);
  }
  assert.equal(c.monitor.seen(second, steady).filter((s) => s !== 'SECOND').length, 0, `${second} stayed SECOND during the local restarts: ${c.monitor.seen(second, steady).join(' > ')}`);

  // Fourth crash: escalation to failover.
  const before = c.appPids(prim);
  process.kill(before[0]!, 'SIGKILL');
  await c.waitFor(`failover to ${second}`, (x) => x[second] === 'PRIM' && x[prim] === 'SECOND', 20_000);
  await until(async () => (await c.askVip()) === second, 10_000, `the VIP to answer from ${second}`);
  assert.deepEqual(c.appPids(prim), [], `the application no longer runs on ${prim}`);
  assert.equal(await c.vipOn(prim), false, `no VIP on ${prim}`);
  const st = await c.status(prim);
  const reasons = (st?.modules[0]?.history ?? []).map((h) => `${h.from} -> ${h.to}: ${h.reason}`);
  assert.ok(reasons.some((r) => /failing over/.test(r)), `the transition says why (failover after repeated restarts):\n${reasons.join('\n')}`);
  c.monitor.stop();
  assert.deepEqual(c.monitor.violations, []);
  assert.deepEqual(c.monitor.appOverlaps, [], 'the application never ran on both nodes at once');
  assert.ok(c.monitor.appSamples > 50, `the application monitor sampled (${c.monitor.appSamples})`);
  assert.ok(c.monitor.samples > 20, `the monitor sampled (${c.monitor.samples})`);
});
