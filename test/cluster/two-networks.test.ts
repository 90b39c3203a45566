// Two heartbeat networks. Losing one of them between the nodes is not a failover: the same primary
// stays, the secondary stays SECOND, and the status shows the degraded network. Losing the second
// one too hands the decision to the witness: when both nodes still reach it, exactly one primary
// (the running one keeps its lease); when the primary is the one cut off, the other takes over.
// Replication and the peer API run on every network too: with the first one cut, the secondary is
// reintegrated over the second.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { netnsSkipReason } from '../harness/index.js';
import { logTail, postVisits, PRIMARY_LIKE, startedPair, until, visitsOn, type Cluster } from './fixture.js';

async function setup(t: Parameters<typeof startedPair>[0]) {
  const { c, prim, second } = await startedPair(t, { networks: 2 });
  return { c, prim, second } as const;
}

/** One network lost: degraded, no failover, no transition on either side. */
async function oneNetworkDown(t: { diagnostic: (m: string) => void }, c: Cluster, prim: 'n1' | 'n2', second: 'n1' | 'n2', cutAt: number): Promise<void> {
  await until(async () => ((await c.status(prim))?.peer?.degraded.length ?? 0) > 0 && ((await c.status(second))?.peer?.degraded.length ?? 0) > 0, 10_000, 'both nodes to report a degraded network');
  // Well past the heartbeat timeout (600 ms): nothing moves.
  await new Promise((r) => setTimeout(r, 2500));
  const ps = await c.status(prim);
  const ss = await c.status(second);
  t.diagnostic(`one network down: ${prim} peer ${ps?.peer?.liveness} degraded [${ps?.peer?.degraded.join(', ')}]; ${second} peer ${ss?.peer?.liveness} degraded [${ss?.peer?.degraded.join(', ')}]`);
  assert.equal(ps?.peer?.liveness, 'up', `${prim} still sees its peer up`);
  assert.equal(ss?.peer?.liveness, 'up', `${second} still sees its peer up`);
  assert.deepEqual(c.monitor.seen(prim, cutAt), ['PRIM'], `${prim} stayed PRIM: ${c.monitor.seen(prim, cutAt).join(' > ')}`);
  assert.deepEqual(c.monitor.seen(second, cutAt), ['SECOND'], `${second} stayed SECOND (no WAIT/ALONE): ${c.monitor.seen(second, cutAt).join(' > ')}`);
  assert.equal(ss?.modules[0]?.history.at(-1)?.to, 'SECOND', `no new transition on ${second}`);
  assert.equal(await c.askVip(), prim);
  const shown = await c.cli(['status', '--data-dir', c.dataDir(prim)]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /heartbeat networks down: \S+/, `hamod status shows the degraded network:\n${shown.stdout}`);
}

test('two heartbeat networks, one cut between the nodes: no failover; both cut, witness reachable: one primary', { skip: netnsSkipReason(), timeout: 60_000 }, async (t) => {
  const { c, prim, second } = await setup(t);
  const cutAt = Date.now();
  await c.net.partition(c.hosts.n1, c.hosts.n2, { networks: [1] });
  await oneNetworkDown(t, c, prim, second, cutAt);

  // The second network too: the nodes no longer hear each other, both reach the witness (network 0).
  const cut2At = Date.now();
  await c.net.partition(c.hosts.n1, c.hosts.n2, { networks: [0] });
  await c.waitFor('the witness to decide', (x) => x[prim] === 'ALONE' && x[second] === 'WAIT', 10_000);
  await new Promise((r) => setTimeout(r, 2500));
  const x = await c.phases();
  assert.equal((['n1', 'n2'] as const).filter((n) => PRIMARY_LIKE.has(x[n] ?? '')).length, 1, `one primary: ${JSON.stringify(x)}`);
  assert.equal(x[prim], 'ALONE', `${prim} kept the lease`);
  const ss = await c.status(second);
  assert.ok(['witness-denied', 'stale'].includes(ss?.modules[0]?.detail ?? ''), `${second} was refused by the witness: ${ss?.modules[0]?.detail}: ${ss?.modules[0]?.last?.reason}`);
  t.diagnostic(`both networks cut: ${prim}: ${c.monitor.seen(prim, cut2At).join(' > ')}; ${second}: ${c.monitor.seen(second, cut2At).join(' > ')}`);
  assert.equal(await c.askVip(), prim);

  await c.net.healAll();
  await c.waitFor(`${second} secondary again`, (y) => y[second] === 'SECOND' && y[prim] === 'PRIM', 30_000);
  c.monitor.stop();
  assert.deepEqual(c.monitor.violations, []);
  assert.deepEqual(c.monitor.appOverlaps, [], 'the application never ran on both nodes at once');
  assert.ok(c.monitor.appSamples > 50, `the application monitor sampled (${c.monitor.appSamples})`);
  assert.ok(c.monitor.samples > 20, `the monitor sampled (${c.monitor.samples})`);
});

test('two heartbeat networks: the primary loses one cable (no failover), then the other (failover via the witness)', { skip: netnsSkipReason(), timeout: 60_000 }, async (t) => {
  const { c, prim, second } = await setup(t);
  const cutAt = Date.now();
  await c.net.linkDown(c.hosts[prim], 1);
  await oneNetworkDown(t, c, prim, second, cutAt);

  // Its last cable: cut from the peer and from the witness; the other node gets the lease.
  const cut2At = Date.now();
  await c.net.linkDown(c.hosts[prim], 0);
  await c.waitFor(`${second} to take over`, (x) => x[second] === 'ALONE', 10_000);
  await until(async () => (await c.askVip()) === second, 10_000, `the VIP to answer from ${second}`);
  await c.waitFor(`${prim} to fence itself`, (x) => x[prim] !== null && !PRIMARY_LIKE.has(x[prim]), 10_000);
  assert.deepEqual(c.appPids(prim), [], `no application on ${prim}`);
  assert.equal(await c.vipOn(prim), false, `no VIP on ${prim}`);
  t.diagnostic(`both cables of ${prim} out: ${prim}: ${c.monitor.seen(prim, cut2At).join(' > ')}; ${second}: ${c.monitor.seen(second, cut2At).join(' > ')}`);

  await c.net.linkUp(c.hosts[prim]);
  await c.waitFor(`${prim} back as secondary`, (y) => y[prim] === 'SECOND' && y[second] === 'PRIM', 30_000);
  c.monitor.stop();
  assert.deepEqual(c.monitor.violations, []);
  assert.deepEqual(c.monitor.appOverlaps, [], 'the application never ran on both nodes at once');
  assert.ok(c.monitor.appSamples > 50, `the application monitor sampled (${c.monitor.appSamples})`);
  assert.ok(c.monitor.samples > 20, `the monitor sampled (${c.monitor.samples})`);
});

test('two networks, the first one cut between the nodes: replication and the peer API move to the second; the secondary is reintegrated without waiting for the first', { skip: netnsSkipReason(), timeout: 120_000 }, async (t) => {
  const { c, prim, second } = await setup(t);
  const sync = async (node: 'n1' | 'n2') => (await c.status(node))?.modules[0]?.sync;
  const visits = (node: 'n1' | 'n2') => visitsOn(c, node);
  const post = (n: number) => postVisits(c, n);
  /** Cuts `net` between the nodes while the mirror runs on it: writes go on (held, then alone), the
   * mirror is lost and attached again over `other` while `net` is still cut, and the secondary is
   * SECOND and in sync again. */
  const mirrorMoves = async (net: 0 | 1, other: 0 | 1) => {
    const cutAt = Date.now();
    await c.net.partition(c.hosts.n1, c.hosts.n2, { networks: [net] });
    await post(2);
    await until(async () => {
      const x = await c.phases();
      return x[prim] === 'PRIM' && x[second] === 'SECOND' && (await sync(prim))?.state === 'in sync';
    }, 45_000, `${second} reintegrated over network ${other} (${prim} PRIM with its mirror in sync) while network ${net} is cut\n${logTail(c.root)}`);
    const seen = c.monitor.seen(prim, cutAt);
    t.diagnostic(`network ${net} cut: ${prim}: ${seen.join(' > ')}; ${second}: ${c.monitor.seen(second, cutAt).join(' > ')}`);
    assert.ok(seen.includes('ALONE'), `the mirror on network ${net} was lost, then attached again over network ${other}: ${seen.join(' > ')}`);
  };
  await until(async () => (await sync(prim))?.state === 'in sync', 20_000, `${prim} to report its secondary in sync`);
  await post(3);
  assert.equal(visits(second), 3);

  // Network 0 (the first address of each node: where replication used to run) is cut between the
  // nodes; the witness and the clients still reach both.
  await mirrorMoves(0, 1);
  await post(4);
  assert.equal(visits(prim), 9);
  assert.equal(visits(second), 9, 'the secondary has every write, replicated over network 1');
  const shown = await c.cli(['status', '--data-dir', c.dataDir(second)]);
  assert.equal(shown.code, 0, `hamod status works over network 1: ${shown.stderr}`);
  assert.equal(await c.askVip(), prim);

  // Network 0 back, network 1 (where the mirror now runs) cut: back to network 0 the same way.
  await c.net.healAll();
  await post(1);
  assert.equal(visits(second), 10);
  await mirrorMoves(1, 0);
  await post(3);
  assert.equal(visits(prim), 15);
  assert.equal(visits(second), 15, 'every write, replicated over network 0 again');
  await c.net.healAll();
  c.monitor.stop();
  assert.deepEqual(c.monitor.violations, []);
  assert.deepEqual(c.monitor.appOverlaps, [], 'the application never ran on both nodes at once');
});
