// The agent of the primary is killed (kill -9) while its host stays up: its application dies with
// it (parent-death signal), the other node takes over with the VIP, and the restarted agent removes
// any VIP left behind and rejoins as secondary. Never two primaries.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { netnsSkipReason } from '../harness/index.js';
import { startedPair, until } from './fixture.js';

function pidsOf(pattern: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', '--', pattern], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

test('agent crash on the primary: app dies with it, takeover, rejoin as secondary', { skip: netnsSkipReason(), timeout: 120_000 }, async (t) => {
  const { c, prim, second } = await startedPair(t);
  const agentPids = pidsOf(`agent --data-dir ${c.dataDir(prim)}$`);
  assert.equal(agentPids.length, 1, `one agent process for ${prim}`);
  const appEnv = `HAMOD_NODE=${prim}`;
  const appPids = () => pidsOf('--input-type=module').filter((pid) => {
    try {
      const env = execFileSync('cat', [`/proc/${pid}/environ`], { encoding: 'utf8' }).split('\0');
      return env.includes(appEnv) && env.includes(`HAMOD_PARAM_DATA_DIR=/var/lib/hamod-test-${c.net.runId}`);
    } catch { return false; }
  });
  assert.equal(appPids().length, 1, 'the application runs on the primary');
  process.kill(agentPids[0]!, 'SIGKILL');
  await until(() => appPids().length === 0, 5000, 'the application to die with its agent');
  await c.waitFor(`${second} to take over`, (x) => x[second] === 'ALONE' || x[second] === 'PRIM', 20_000);
  await until(async () => (await c.askVip()) === second, 10_000, `the VIP to answer from ${second}`);
  c.startAgent(prim);
  await c.waitFor(`${prim} to rejoin as secondary`, (x) => x[prim] === 'SECOND' && x[second] === 'PRIM', 30_000);
  const addrs = await c.hosts[prim].exec(['ip', '-o', 'addr', 'show', 'dev', 'eth0']);
  assert.doesNotMatch(addrs.stdout, new RegExp(`${c.vip.replace(/\./g, '\\.')}/`), 'no VIP left on the old primary');
  assert.equal((await c.askVip()), second);
  c.monitor.stop();
  assert.deepEqual(c.monitor.violations, []);
});
