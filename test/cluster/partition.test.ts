// The link between the two nodes breaks while both still reach the witness (SafeKit's open case):
// the witness lease lets exactly one of them run the application, never both; after the link heals
// the other one becomes secondary again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { netnsSkipReason } from '../harness/index.js';
import { PRIMARY_LIKE, startedPair, until } from './fixture.js';

test('partition between the nodes, witness reachable by both: exactly one primary; secondary again after heal', { skip: netnsSkipReason(), timeout: 90_000 }, async (t) => {
  const { c, prim, second } = await startedPair(t);

  const cutAt = Date.now();
  await c.net.partition(c.hosts.n1, c.hosts.n2);
  // Both notice the cut (the secondary asks the witness and is refused; the primary keeps the lease).
  const after = await c.waitFor('both sides to react to the cut', (x) => x[second] !== 'SECOND' && x[prim] !== 'PRIM', 10_000);
  // Let several lease retries go by (leaseRetryMs = 1 s): the decision holds.
  await new Promise((r) => setTimeout(r, 3500));
  const settled = await c.phases();
  const primaries = (['n1', 'n2'] as const).filter((n) => PRIMARY_LIKE.has(settled[n] ?? ''));
  assert.equal(primaries.length, 1, `exactly one primary during the partition: ${JSON.stringify(settled)} (first reaction ${JSON.stringify(after)})`);
  const winner = primaries[0]!;
  const loser = winner === 'n1' ? 'n2' : 'n1';
  assert.equal(settled[winner], 'ALONE', `${winner} runs alone`);
  assert.equal(settled[loser], 'WAIT', `${loser} waits`);
  const ls = await c.status(loser);
  // Refused by the witness: the lease is held by the other node, or the witness already holds the
  // generation the other one started alone (then this node knows its data is stale).
  assert.ok(['witness-denied', 'stale'].includes(ls?.modules[0]?.detail ?? ''), `${loser} waits because of the witness: ${ls?.modules[0]?.detail} (${ls?.modules[0]?.last?.reason})`);
  assert.deepEqual(c.appPids(loser), [], `no application on ${loser}`);
  assert.equal(await c.vipOn(loser), false, `no VIP on ${loser}`);
  assert.equal(await c.askVip(), winner, `the VIP answers from ${winner}`);
  t.diagnostic(`partition: ${prim} was primary, ${winner} kept/took it; ${prim}: ${c.monitor.seen(prim, cutAt).join(' > ')}; ${second}: ${c.monitor.seen(second, cutAt).join(' > ')}`);
  // The running primary keeps the lease (no needless failover).
  assert.equal(winner, prim, `the primary kept the role (${c.monitor.seen(prim, cutAt).join(' > ')})`);

  await c.net.heal(c.hosts.n1, c.hosts.n2);
  await c.waitFor(`${loser} secondary again`, (x) => x[loser] === 'SECOND' && x[winner] === 'PRIM', 30_000);
  await until(async () => (await c.askVip()) === winner, 10_000, `the VIP to answer from ${winner}`);
  c.monitor.stop();
  assert.deepEqual(c.monitor.violations, []);
  assert.deepEqual(c.monitor.appOverlaps, [], 'the application never ran on both nodes at once');
  assert.ok(c.monitor.appSamples > 50, `the application monitor sampled (${c.monitor.appSamples})`);
  assert.ok(c.monitor.samples > 20, `the monitor sampled (${c.monitor.samples})`);
});
