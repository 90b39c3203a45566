// A frozen primary. The other node declares it lost and takes over with the witness lease; when the
// frozen primary resumes (SIGCONT) its authority is long gone, so it steps down at once, before
// anything else (application killed, VIP removed), never starts the application again, and rejoins
// as secondary. Two ways to freeze it:
//  - its agent alone is stopped (a hung agent): its application and VIP are not frozen; the
//    fencing watchdog (runtime/agent/fence-watchdog.ts, its own process group) kills the
//    application and removes the VIP when the authority deadline passes: never on both nodes.
//  - the whole host is stopped (every process of it: a paused VM). On SIGCONT its application
//    resumes with the agent and runs until the fence kills it (the kill is sent first, then the VIP
//    is removed): checked with /proc on both nodes.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { netnsSkipReason } from '../harness/index.js';
import { PRIMARY_LIKE, startedPair, until } from './fixture.js';

async function frozenPrimary(t: TestContext, mode: 'agent' | 'host'): Promise<void> {
  const { c, prim, second } = await startedPair(t);
  const agent = c.agentPid(prim);
  assert.ok(agent !== null, `the agent of ${prim} runs`);
  assert.equal(c.appPids(prim).length, 1);
  const probe = c.startVipProbe(10);
  t.after(() => probe.stop());
  await until(() => probe.firstFrom(prim, 0) !== null, 5_000, 'the probe to get answers from the primary');

  const frozenAt = Date.now();
  const freeze = () => (mode === 'agent' ? c.net.freeze(agent) : c.net.freezeHost(c.hosts[prim]));
  const thaw = () => (mode === 'agent' ? c.net.thaw(agent) : c.net.thawHost(c.hosts[prim]));
  freeze();
  let thawed = false;
  t.after(() => { if (!thawed) try { thaw(); } catch { /* gone */ } });
  await c.waitFor(`${second} to take over`, (x) => x[second] === 'ALONE', 10_000);
  await until(() => probe.firstFrom(second, frozenAt) !== null, 10_000, `the VIP to answer from ${second}`);
  const takeover = probe.firstFrom(second, frozenAt)!;
  t.diagnostic(`takeover after a freeze (${mode}): ${takeover - frozenAt} ms from the SIGSTOP to the first answer from ${second} at the VIP (probe every 10 ms)`);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal((await c.phases())[second], 'ALONE', `${second} stays primary alone`);
  // What the frozen node still runs while the other one is primary.
  const appDuringFreeze = c.appPids(prim);
  const vipDuringFreeze = await c.vipOn(prim);
  const stale = probe.answers.filter((a) => a.node === prim && a.at > takeover);
  t.diagnostic(`during the freeze ${prim} still has: application pids [${appDuringFreeze.join(', ')}], VIP ${vipDuringFreeze}; ` +
    `answers from ${prim} at the VIP after the takeover: ${stale.length}`);

  const thawAt = Date.now();
  thaw();
  thawed = true;
  await c.waitFor(`${prim} to step down`, (x) => x[prim] !== null && !PRIMARY_LIKE.has(x[prim]), 5_000);
  t.diagnostic(`thaw -> ${prim} not primary: ${Date.now() - thawAt} ms`);
  const st = await c.status(prim);
  assert.ok(st);
  assert.notEqual(st.modules[0]!.role, 'primary');
  assert.equal(st.modules[0]!.vip, false);
  assert.deepEqual(c.appPids(prim), [], `the application no longer runs on ${prim}`);
  assert.equal(await c.vipOn(prim), false, `the VIP is not on ${prim}`);
  const hist = st.modules[0]!.history.map((h) => `${h.from} -> ${h.to}: ${h.reason}`);
  for (const h of hist.slice(-3)) t.diagnostic(`  ${prim} ${h}`);
  assert.ok(hist.some((h) => /^(PRIM|ALONE) -> STOPPING_PRIM: no authority/.test(h)), `it stepped down for lack of authority:\n${hist.join('\n')}`);

  await c.waitFor(`${prim} to rejoin as secondary`, (x) => x[prim] === 'SECOND' && x[second] === 'PRIM', 30_000);
  const afterThaw = c.monitor.seen(prim, thawAt);
  assert.ok(!afterThaw.some((s) => s === 'STARTING_PRIM' || s === 'PRIM' || s === 'ALONE'), `${prim} never ran as primary after the thaw: ${afterThaw.join(' > ')}`);
  assert.deepEqual(c.appPids(prim), [], `no application on ${prim}`);
  await until(async () => (await c.askVip()) === second, 10_000, `the VIP to answer from ${second}`);
  probe.stop();
  c.monitor.stop();
  assert.ok(c.monitor.samples > 20, `the monitor sampled (${c.monitor.samples})`);
  assert.ok(c.monitor.appSamples > 50, `the application monitor sampled (${c.monitor.appSamples})`);
  // Never two primaries: from the nodes' reports (violations), from /proc (appOverlaps), and, as the
  // frozen agent cannot report, the frozen node's application and VIP while the other ran alone.
  // A whole host resumes at once: its application runs again for the few ms the resumed agent needs
  // to fence (kill first). That window, and only it, is allowed (bounded here to 150 ms).
  const FENCE_WINDOW_MS = 150;
  const inFenceWindow = (o: string) => {
    const at = Date.parse(/ at (\S+)$/.exec(o)?.[1] ?? '');
    return mode === 'host' && at >= thawAt && at <= thawAt + FENCE_WINDOW_MS;
  };
  if (c.monitor.outgoing.length) t.diagnostic(`${c.monitor.outgoing.length} sample(s) with ${prim} stepping down (STOPPING_PRIM, role none, VIP off) next to the primary, e.g. ${c.monitor.outgoing[0]}`);
  const fenceWindow = c.monitor.appOverlaps.filter(inFenceWindow);
  if (fenceWindow.length) t.diagnostic(`application seen on both nodes in the ${FENCE_WINDOW_MS} ms after the thaw (before the fence's kill landed): ${fenceWindow.length} sample(s)`);
  const overlaps = c.monitor.appOverlaps.filter((o) => !inFenceWindow(o));
  const running = { app: mode === 'agent' ? appDuringFreeze : [], vip: mode === 'agent' ? vipDuringFreeze : false };
  assert.deepEqual(
    { violations: c.monitor.violations, appOverlaps: overlaps.length > 3 ? [...overlaps.slice(0, 2), `... ${overlaps.length - 3} more`, overlaps.at(-1)] : overlaps, duringFreeze: running },
    { violations: [], appOverlaps: [], duringFreeze: { app: [], vip: false } },
  );
}

test('frozen primary agent (SIGSTOP of the agent): takeover; after SIGCONT it steps down without running the app', {
  skip: netnsSkipReason(),
  timeout: 60_000,
}, (t) => frozenPrimary(t, 'agent'));

test('frozen primary host (SIGSTOP of every process of the host): takeover; after SIGCONT it steps down without running the app', {
  skip: netnsSkipReason(),
  timeout: 60_000,
}, (t) => frozenPrimary(t, 'host'));
