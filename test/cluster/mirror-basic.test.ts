// A real cluster: the module starts on exactly one node, its VIP answers from that node, a crashed
// application is restarted in place, and a swap moves it to the other node.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { netnsSkipReason } from '../harness/index.js';
import { startedPair, until } from './fixture.js';

test('mirror module: one primary, VIP, local restart, swap', { skip: netnsSkipReason(), timeout: 120_000 }, async (t) => {
  const { c, prim, second } = await startedPair(t);
  // The application crashes: restarted in place, same primary.
  const host = c.hosts[prim];
  // Only this host's application: a machine-wide `pkill -f` would also kill the applications of
  // other clusters running at the same time (parallel test files, the failover benchmark).
  const pids = c.appPids(prim);
  assert.equal(pids.length, 1, 'the application process was found');
  process.kill(pids[0]!, 'SIGKILL');
  await until(() => c.appPids(prim).some((p) => p !== pids[0]), 10_000, 'the application to be restarted');
  await until(async () => (await c.askVip()) === prim, 10_000, 'the application to answer again on the same node');
  await c.waitFor(`${prim} to be PRIM again (ready)`, (x) => x[prim] === 'PRIM', 10_000);
  // The VIP is removed behind the agent's back: its checker puts it back (local restart).
  const del = await host.exec(['ip', 'addr', 'del', `${c.vip}/16`, 'dev', 'eth0']);
  assert.equal(del.code, 0, del.stderr);
  await until(async () => (await host.exec(['ip', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout.includes(`${c.vip}/`), 20_000, 'the VIP to be put back');
  await until(async () => (await c.askVip()) === prim, 10_000, 'the VIP to answer again');
  // Status and logs through the CLI, as an operator sees them.
  const st = await c.cli(['status', '--json', '--data-dir', c.dataDir(prim)]);
  assert.equal(st.code, 0, st.stderr);
  const sj = JSON.parse(st.stdout) as { local: { node: string; modules: Array<{ state: string; last: { reason: string } | null }> }; peer: { node: string; modules: Array<{ state: string }> } };
  assert.equal(sj.local.node, prim);
  assert.equal(sj.local.modules[0]?.state, 'PRIM');
  assert.ok(sj.local.modules[0]?.last?.reason, 'the last transition has a reason');
  assert.equal(sj.peer.node, second);
  assert.equal(sj.peer.modules[0]?.state, 'SECOND');
  const table = await c.cli(['status', '--data-dir', c.dataDir(prim)]);
  assert.match(table.stdout, new RegExp(`${prim}\\s+mirror\\s+PRIM\\s+primary`));
  const logs = await c.cli(['logs', 'mirror', '-n', '200', '--data-dir', c.dataDir(prim)]);
  assert.match(logs.stdout, /STARTING_PRIM -> (PRIM|ALONE)/, 'transitions with reasons are in the log');
  assert.match(logs.stdout, /app run: started/, 'the supervisor\'s events are in the log');
  const peerLogs = await c.cli(['logs', 'mirror', '--node', second, '--data-dir', c.dataDir(prim)]);
  assert.match(peerLogs.stdout, /-> SECOND/, 'the peer\'s log through the peer API');
  // Swap on command.
  const swap = await c.cli(['swap', 'mirror', '--data-dir', c.dataDir(prim)]);
  assert.equal(swap.code, 0, swap.stderr);
  await c.waitFor('the swap', (x) => x[second] === 'PRIM' && x[prim] === 'SECOND', 20_000);
  await until(async () => (await c.askVip()) === second, 10_000, `the VIP to answer from ${second}`);
  c.monitor.stop();
  assert.deepEqual(c.monitor.violations, []);
  assert.ok(c.monitor.samples > 10, `the monitor sampled (${c.monitor.samples})`);
});
