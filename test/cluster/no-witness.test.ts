// No witness answers and the nodes lose each other: neither side may run the application alone (the
// running primary fences itself when its peer's grants run out, the secondary stays WAIT). An
// operator can force a node: `hamod prim --force` starts it there, with a warning. After the link
// heals, the other node follows the forced one as secondary.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { netnsSkipReason } from '../harness/index.js';
import { PRIMARY_LIKE, startedPair, until } from './fixture.js';

test('no witness + partition: nobody runs the application alone until `prim --force`', { skip: netnsSkipReason(), timeout: 90_000 }, async (t) => {
  const { c, prim, second } = await startedPair(t);

  c.killWitness();
  await until(() => c.agentPid('witness') === null, 5_000, 'the witness to be gone');
  // The peers still grant each other authority: nothing changes while they see each other.
  await new Promise((r) => setTimeout(r, 1000));
  assert.deepEqual(await c.phases(), { [prim]: 'PRIM', [second]: 'SECOND' } as Record<'n1' | 'n2', string>);

  const cutAt = Date.now();
  await c.net.partition(c.hosts.n1, c.hosts.n2);
  await c.waitFor('both to give up the primary role', (x) => x[prim] !== null && !PRIMARY_LIKE.has(x[prim]) && x[second] === 'WAIT', 10_000);
  // Several witness retries (leaseRetryMs = 1 s) later: still nobody.
  await new Promise((r) => setTimeout(r, 4000));
  const x = await c.phases();
  t.diagnostic(`partition without witness: ${prim}: ${c.monitor.seen(prim, cutAt).join(' > ')}; ${second}: ${c.monitor.seen(second, cutAt).join(' > ')}`);
  assert.ok(!PRIMARY_LIKE.has(x[prim] ?? '') && !PRIMARY_LIKE.has(x[second] ?? ''), `no primary: ${JSON.stringify(x)}`);
  // WAIT, or PROMOTING for the instant of a retry (it asks the absent witness every second).
  assert.ok(x[second] === 'WAIT' || x[second] === 'PROMOTING', `${second} waits: ${x[second]}`);
  assert.ok(!c.monitor.seen(second, cutAt).some((s) => PRIMARY_LIKE.has(s ?? '')), `${second} never started the application: ${c.monitor.seen(second, cutAt).join(' > ')}`);
  let ss = await c.status(second);
  await until(async () => (ss = await c.status(second))?.modules[0]?.detail === 'no-witness', 5_000, `${second} to wait for lack of a witness (last: ${ss?.modules[0]?.last?.reason})`);
  const ps = await c.status(prim);
  assert.notEqual(ps?.modules[0]?.role, 'primary', `${prim} fenced itself: ${ps?.modules[0]?.last?.reason}`);
  assert.deepEqual(c.appPids(prim), [], `no application on ${prim}`);
  assert.deepEqual(c.appPids(second), [], `no application on ${second}`);
  assert.equal(await c.vipOn(prim), false);
  assert.equal(await c.vipOn(second), false);
  assert.equal(await c.askVip(), null, 'nobody answers at the VIP');

  // The operator forces the secondary.
  const forced = await c.cli(['prim', 'mirror', '--force', '--data-dir', c.dataDir(second)]);
  assert.equal(forced.code, 0, `prim --force: ${forced.stderr}`);
  assert.match(forced.stderr, /WARNING/, `the CLI warns: ${forced.stderr}`);
  await c.waitFor(`${second} forced primary`, (y) => y[second] === 'ALONE', 10_000);
  await until(async () => (await c.askVip()) === second, 10_000, `the VIP to answer from ${second}`);
  await new Promise((r) => setTimeout(r, 1500));
  const y = await c.phases();
  assert.ok(!PRIMARY_LIKE.has(y[prim] ?? ''), `${prim} still not primary: ${y[prim]}`);

  await c.net.heal(c.hosts.n1, c.hosts.n2);
  await c.waitFor(`${prim} to follow as secondary`, (z) => z[prim] === 'SECOND' && z[second] === 'PRIM', 30_000);
  await until(async () => (await c.askVip()) === second, 10_000, `the VIP to answer from ${second}`);
  c.monitor.stop();
  assert.deepEqual(c.monitor.violations, []);
  assert.deepEqual(c.monitor.appOverlaps, [], 'the application never ran on both nodes at once');
  assert.ok(c.monitor.appSamples > 50, `the application monitor sampled (${c.monitor.appSamples})`);
  assert.ok(c.monitor.samples > 20, `the monitor sampled (${c.monitor.samples})`);
});
