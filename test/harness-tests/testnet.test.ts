/**
 * Tests of the test-host harness (test/harness). They need root, iproute2, nftables, util-linux
 * and iputils-ping; outside CI they skip with the reason when the machine lacks them.
 *
 * The same file doubles as a fixture program: run with HAMOD_HARNESS_FIXTURE set, it creates a
 * net and then throws / waits to be signalled, so the safety nets can be observed from outside.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createTestNet,
  freeze,
  netnsSkipReason,
  netnsUnavailableReason,
  netnsRequired,
  pidAlive,
  procStat,
  runCommand,
  sweepStale,
  thaw,
  RUN_ENV,
  type TestHost,
  type TestNet,
} from '../harness/index.js';
import { pidsWithEnv, sleep } from '../harness/proc.js';

const SELF = fileURLToPath(import.meta.url);
const LOCK_DIR = '/run/hamod-testnet';

/** What a run leaves behind, for the "nothing left" assertions. */
interface RunNames {
  runId: string;
  bridges: string[];
  nftTable: string;
  pids: number[];
}

function namesOf(net: TestNet, pids: number[] = []): RunNames {
  return { runId: net.runId, bridges: [...net.bridges], nftTable: net.nftTable, pids };
}

async function leftovers(n: RunNames): Promise<string[]> {
  const found: string[] = [];
  const ns = await runCommand(['ip', 'netns', 'list']);
  assert.equal(ns.code, 0, ns.stderr);
  for (const line of ns.stdout.split('\n')) if (line.includes(n.runId)) found.push(`netns ${line}`);
  const links = await runCommand(['ip', '-o', 'link']);
  assert.equal(links.code, 0, links.stderr);
  for (const line of links.stdout.split('\n')) {
    if (n.bridges.some((b) => line.includes(b)) || line.includes(n.runId)) found.push(`link ${line}`);
  }
  const tables = await runCommand(['nft', 'list', 'tables']);
  if (tables.stdout.includes(n.nftTable)) found.push(`nft table ${n.nftTable}`);
  for (const pid of n.pids) {
    const st = procStat(pid);
    if (st !== undefined && st.state !== 'Z') found.push(`process ${pid} (${st.state})`);
  }
  for (const pid of pidsWithEnv(RUN_ENV, (v) => v === n.runId)) {
    const st = procStat(pid);
    if (st !== undefined && st.state !== 'Z') found.push(`marked process ${pid}`);
  }
  if (existsSync(LOCK_DIR)) {
    for (const l of readdirSync(LOCK_DIR)) {
      try {
        if (readFileSync(join(LOCK_DIR, l), 'utf8').includes(n.runId)) found.push(`lock ${l}`);
      } catch {
        // gone meanwhile
      }
    }
  }
  return found;
}

/** True when `to` answers a ping from `from` within `deadlineS` (pings every 100 ms until one
 * reply). Used with a long deadline to expect success, a short one (FAIL_WAIT) to expect failure. */
async function reaches(from: TestHost, to: string, deadlineS = 3): Promise<boolean> {
  const r = await from.exec(['ping', '-c1', '-q', '-i0.1', `-w${deadlineS}`, to], { timeoutMs: (deadlineS + 5) * 1000 });
  return r.code === 0;
}
const FAIL_WAIT = 0.4;

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function exitOf(child: ReturnType<TestHost['spawn']>): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
}

// ---------------------------------------------------------------------------------------------
// fixture mode

async function runFixture(kind: string): Promise<void> {
  const out = process.env['HAMOD_HARNESS_FIXTURE_OUT'];
  if (out === undefined) throw new Error('HAMOD_HARNESS_FIXTURE_OUT missing');
  const start = async (t?: { after(fn: () => unknown): void }): Promise<void> => {
    const net = await createTestNet({ hosts: 2, mountNamespace: true, ...(t ? { t } : {}) });
    const child = net.hosts[0]!.spawn(['sleep', '1000']);
    await waitFor(() => net.hosts[0]!.processes().length > 0, 2_000, 'sleeper');
    const holders = net.hosts.map((h) => h.mountHolderPid ?? -1);
    writeFileSync(out, JSON.stringify({ ...namesOf(net, [child.pid ?? -1, ...holders]) }));
  };
  if (kind === 'throw') {
    test('fixture: body throws after creating a net', async (t) => {
      await start(t);
      throw new Error('boom (expected by the harness tests)');
    });
  } else if (kind === 'signal') {
    await start();
    process.stdout.write('ready\n');
    setInterval(() => undefined, 1_000); // wait to be signalled
  } else {
    throw new Error(`unknown fixture ${kind}`);
  }
}

function runFixtureProcess(kind: string, onReady?: (pid: number) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; names: RunNames; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'hmt-fixture-'));
  const out = join(dir, 'names.json');
  const env: NodeJS.ProcessEnv = { ...process.env, HAMOD_HARNESS_FIXTURE: kind, HAMOD_HARNESS_FIXTURE_OUT: out };
  delete env['NODE_TEST_CONTEXT']; // run it as a plain program, not as a child of our runner
  const child = spawn(process.execPath, [SELF], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (b: Buffer) => {
    output += b.toString();
    if (onReady && output.includes('ready\n') && child.pid !== undefined) {
      const f = onReady;
      onReady = undefined;
      f(child.pid);
    }
  });
  child.stderr.on('data', (b: Buffer) => (output += b.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      try {
        const names = JSON.parse(readFileSync(out, 'utf8')) as RunNames;
        resolve({ code, signal, names, output });
      } catch (err) {
        reject(new Error(`fixture ${kind} wrote no names (${String(err)}):\n${output}`));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------

function defineTests(): void {
  const skip = netnsSkipReason();

  test('requireRoot gate: runs here when the machine can run test hosts', () => {
    const reason = netnsUnavailableReason();
    if (netnsRequired()) assert.equal(reason, undefined, `CI must be able to run test hosts: ${reason}`);
    assert.equal(skip === false, reason === undefined || netnsRequired());
  });

  describe('test hosts', { skip }, () => {
    test('two hosts ping each other; names, addresses and cleanup', async (t) => {
      const net = await createTestNet({ hosts: ['alpha', 'beta'], t });
      const [a, b] = net.hosts as [TestHost, TestHost];
      assert.match(net.runId, new RegExp(`^hmt-${process.pid}-[0-9a-z]{4}$`));
      for (const br of net.bridges) assert.ok(br.length <= 15, br);
      for (const h of net.hosts) {
        assert.ok(h.netns.includes(net.runId));
        assert.match(h.address, /^198\.1[89]\.\d+\.\d+$/);
        assert.ok(h.address.startsWith(`198.18.${net.octet}.`));
      }
      assert.notEqual(a.address, b.address);
      assert.ok(await reaches(a, b.address));
      assert.ok(await reaches(b, a.address));
      const addr = await a.execOk(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
      assert.ok(addr.stdout.includes(`${a.address}/16`), addr.stdout);
      const lo = await a.execOk(['ip', '-o', 'link', 'show', 'lo']);
      assert.match(lo.stdout, /[<,]UP[,>]/);
      assert.ok(await reaches(a, '127.0.0.1'));
      // the host really is another network namespace
      const ownNet = readFileSync('/proc/self/net/dev', 'utf8');
      const hostNet = await a.execOk(['cat', '/proc/self/net/dev']);
      assert.notEqual(hostNet.stdout, ownNet);
      // spareAddress is in the run's subnet but no host's address
      const vip = net.spareAddress(0);
      assert.ok(vip.startsWith(`198.18.${net.octet}.`));
      assert.ok(!net.hosts.some((h) => h.address === vip));
    });

    test('partition makes ping fail, heal restores it; one-way and per-network partitions', async (t) => {
      const net = await createTestNet({ hosts: ['a', 'b', 'c'], networks: 2, t });
      const [a, b, c] = net.hosts as [TestHost, TestHost, TestHost];
      assert.ok(await reaches(a, b.address));

      await net.partition(a, b);
      const [ab, ba, ab1, ac, bc] = await Promise.all([
        reaches(a, b.address, FAIL_WAIT),
        reaches(b, a.address, FAIL_WAIT),
        reaches(a, b.addresses[1]!, FAIL_WAIT),
        reaches(a, c.address),
        reaches(b, c.address),
      ]);
      assert.deepEqual({ ab, ba, ab1, ac, bc }, { ab: false, ba: false, ab1: false, ac: true, bc: true });
      // also cut for an address the peer takes later (a VIP): the cut is by link-layer source
      const vip = net.spareAddress(1);
      await b.execOk(['ip', 'addr', 'add', `${vip}/16`, 'dev', 'eth0']);
      assert.equal(await reaches(a, vip, FAIL_WAIT), false);
      assert.ok(await reaches(c, vip));

      await net.heal(a, b);
      assert.ok(await reaches(a, b.address));
      assert.ok(await reaches(b, a.address));
      assert.ok(await reaches(a, vip));

      // only network 1 cut: network 0 still works
      await net.partition(a, b, { networks: [1] });
      assert.ok(await reaches(a, b.address));
      assert.equal(await reaches(a, b.addresses[1]!, FAIL_WAIT), false);
      await net.healAll();
      assert.ok(await reaches(a, b.addresses[1]!));

      // one way: a's frames reach neither b nor c, theirs still reach a (so a ping fails from
      // either end: request or reply is lost); b and c are unaffected.
      await net.partition(a, [b, c], { oneWay: true });
      assert.equal(await reaches(a, b.address, FAIL_WAIT), false);
      assert.equal(await reaches(c, a.address, FAIL_WAIT), false);
      assert.ok(await reaches(b, c.address));
      const ruleset = await a.execOk(['nft', 'list', 'set', 'netdev', net.nftTable, 'blocked_src']);
      assert.ok(!ruleset.stdout.includes(b.macs[0]!), 'one-way: a does not drop b');
      await net.heal(a, [b, c], { oneWay: true });
      assert.ok(await reaches(a, b.address));
      assert.ok(await reaches(c, a.address));
    });

    test('isolate cuts all of a host\'s traffic (nft and link modes)', async (t) => {
      const net = await createTestNet({ hosts: 3 });
      t.after(net.destroy); // unbound use works too
      const [a, b, c] = net.hosts as [TestHost, TestHost, TestHost];

      await net.isolate(a);
      const [ab, ba, ca, bc, lo] = await Promise.all([
        reaches(a, b.address, FAIL_WAIT),
        reaches(b, a.address, FAIL_WAIT),
        reaches(c, a.address, FAIL_WAIT),
        reaches(b, c.address),
        reaches(a, a.address),
      ]);
      assert.deepEqual({ ab, ba, ca, bc, lo }, { ab: false, ba: false, ca: false, bc: true, lo: true });
      const link = await a.execOk(['ip', '-o', 'link', 'show', 'eth0']);
      assert.ok(link.stdout.includes('LOWER_UP'), 'nft mode keeps the carrier');
      await net.unisolate(a);
      assert.ok(await reaches(a, b.address));

      await net.isolate(b, { mode: 'link' });
      const linkB = await b.execOk(['ip', '-o', 'link', 'show', 'eth0']);
      assert.ok(linkB.stdout.includes('NO-CARRIER'), linkB.stdout);
      assert.equal(await reaches(a, b.address, FAIL_WAIT), false);
      assert.ok(await reaches(a, c.address));
      await net.unisolate(b);
      assert.ok(await reaches(a, b.address));

      await net.linkDown(c);
      assert.equal(await reaches(a, c.address, FAIL_WAIT), false);
      await net.linkUp(c);
      assert.ok(await reaches(a, c.address));
    });

    test('killHost kills every process of the host and cuts its link; reviveHost brings it back', async (t) => {
      const net = await createTestNet({ hosts: ['n1', 'n2'], mountNamespace: true, t });
      const [n1, n2] = net.hosts as [TestHost, TestHost];
      const dir = mkdtempSync(join(tmpdir(), 'hmt-mnt-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      await n1.mountTmpfs(dir, '1m');
      const holderBefore = n1.mountHolderPid;

      const app = n1.spawn(['sleep', '1000']);
      // a daemon that left our process group and session: still killed (it is in the host)
      const daemon = n1.spawn(['sh', '-c', 'setsid sleep 1000 & echo $!; wait']);
      let daemonOut = '';
      daemon.stdout?.on('data', (b: Buffer) => (daemonOut += b.toString()));
      await waitFor(() => /^\d+\n/.test(daemonOut), 2_000, 'daemon pid');
      const grandchild = Number(daemonOut.trim());
      assert.ok(pidAlive(grandchild));
      await waitFor(() => procStat(grandchild)?.pgid === grandchild, 2_000, 'the daemon to leave the group (setsid)');
      assert.equal(n1.processes().length >= 3, true);
      assert.ok(await reaches(n2, n1.address));

      await n1.execOk(['ip', 'addr', 'add', '198.18.254.77/32', 'dev', 'eth0']);
      await net.killHost(n1);
      assert.equal((await exitOf(app)).signal, 'SIGKILL');
      assert.equal((await exitOf(daemon)).signal, 'SIGKILL');
      await waitFor(() => procStat(grandchild) === undefined || procStat(grandchild)?.state === 'Z', 2_000, 'grandchild death');
      assert.deepEqual(n1.processes(), []);
      assert.equal(n1.crashed, true);
      assert.equal(await reaches(n2, n1.address, FAIL_WAIT), false);
      await assert.rejects(n1.exec(['true']), /reviveHost/);

      await net.reviveHost(n1);
      assert.equal(n1.crashed, false);
      assert.notEqual(n1.mountHolderPid, holderBefore);
      assert.ok(await reaches(n2, n1.address));
      // a reboot loses the addresses added at run time, and keeps the host's own
      const addrs = (await n1.execOk(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout;
      assert.doesNotMatch(addrs, /198\.18\.254\.77/, 'the address added at run time is gone');
      assert.match(addrs, new RegExp(n1.address.replace(/\./g, '\\.')));
      // a crash loses the host's mounts, like a reboot
      const mi = await n1.execOk(['cat', '/proc/self/mountinfo']);
      assert.ok(!mi.stdout.includes(dir), 'tmpfs gone after the crash');
    });

    test('mount namespace: a mount on one host is seen only there; exec timeout kills the group', async (t) => {
      const net = await createTestNet({ hosts: 2, mountNamespace: true, t });
      const [a, b] = net.hosts as [TestHost, TestHost];
      const dir = mkdtempSync(join(tmpdir(), 'hmt-mnt-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      await a.mountTmpfs(dir, '1m');
      await a.execOk(['sh', '-c', 'echo on-a > data'], { cwd: dir });
      assert.equal((await a.execOk(['cat', 'data'], { cwd: dir })).stdout, 'on-a\n');
      assert.equal(existsSync(join(dir, 'data')), false, 'not visible from the machine');
      assert.equal((await b.exec(['cat', join(dir, 'data')])).code, 1, 'not visible from another host');
      assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(dir));
      // a full small disk, for "disk full" faults
      const full = await a.exec(['dd', 'if=/dev/zero', `of=${join(dir, 'big')}`, 'bs=64k', 'count=64']);
      assert.notEqual(full.code, 0);
      assert.match(full.stderr, /No space left/);

      const t0 = Date.now();
      const r = await a.exec(['sh', '-c', 'sleep 30 & sleep 30'], { timeoutMs: 200 });
      assert.equal(r.timedOut, true);
      assert.equal(r.signal, 'SIGKILL');
      assert.ok(Date.now() - t0 < 3_000);
      await waitFor(() => a.processes().length === 0, 2_000, 'the timed-out group to die');
      const ok = await a.exec(['sh', '-c', 'echo out; echo err >&2; exit 3']);
      assert.deepEqual({ ...ok, stderr: ok.stderr }, { code: 3, signal: null, stdout: 'out\n', stderr: 'err\n', timedOut: false });
      await assert.rejects(a.execOk(['false']), /exit 1/);
    });

    test('freeze/thaw stop and continue a process group; freezeHost/thawHost a whole host', async (t) => {
      const net = await createTestNet({ hosts: 1, t });
      const h = net.hosts[0]!;
      const child = h.spawn(['sh', '-c', 'sleep 1000 & wait']);
      await waitFor(() => h.processes().length === 2, 2_000, 'two processes');
      freeze(child);
      await waitFor(() => h.processes().every((p) => procStat(p)?.state === 'T'), 2_000, 'stopped');
      thaw(child);
      await waitFor(() => h.processes().every((p) => procStat(p)?.state === 'S'), 2_000, 'running');
      net.freezeHost(h);
      await waitFor(() => h.processes().every((p) => procStat(p)?.state === 'T'), 2_000, 'host stopped');
      net.thawHost(h);
      await waitFor(() => h.processes().every((p) => procStat(p)?.state === 'S'), 2_000, 'host running');
      assert.throws(() => freeze(process.pid), /cannot SIGSTOP/);
      // a frozen process is still cleaned up by destroy()
      net.freeze(child);
    });

    test('destroy leaves no namespace, bridge, nft table, process or lock; it is idempotent', async () => {
      const net = await createTestNet({ hosts: 3, networks: 2, mountNamespace: true });
      const child = net.hosts[1]!.spawn(['sleep', '1000']);
      const holders = net.hosts.map((h) => h.mountHolderPid ?? -1);
      const names = namesOf(net, [child.pid ?? -1, ...holders]);
      const sw = await net.switchExec(['ip', '-o', 'link', 'show', 'type', 'bridge']);
      for (const br of net.bridges) assert.ok(sw.stdout.includes(br), sw.stdout);
      const before = await leftovers(names);
      assert.ok(before.some((l) => l.startsWith('netns')) && before.some((l) => l.startsWith('lock')), before.join('\n'));

      await Promise.all([net.destroy(), net.destroy()]);
      await net.destroy();
      net.destroySync();
      assert.equal(net.destroyed, true);
      assert.deepEqual(await leftovers(names), []);
      assert.equal((await exitOf(child)).signal, 'SIGKILL');
      assert.throws(() => net.hosts[0]!.spawn(['true']), /destroyed/);
      await assert.rejects(net.partition(net.hosts[0]!, net.hosts[1]!), /destroyed/);
    });

    test('cleanup happens even when the test body throws (t.after)', async () => {
      const r = await runFixtureProcess('throw');
      assert.equal(r.code, 1, r.output);
      assert.ok(r.output.includes('boom'), r.output);
      assert.deepEqual(await leftovers(r.names), []);
    });

    test('SIGTERM safety net removes everything; sweepStale removes what a SIGKILLed run left', async () => {
      const termed = await runFixtureProcess('signal', (pid) => process.kill(pid, 'SIGTERM'));
      assert.equal(termed.signal, 'SIGTERM', termed.output);
      assert.deepEqual(await leftovers(termed.names), []);

      const killed = await runFixtureProcess('signal', (pid) => process.kill(pid, 'SIGKILL'));
      assert.equal(killed.signal, 'SIGKILL');
      const left = await leftovers(killed.names);
      assert.ok(left.some((l) => l.startsWith('netns')), `a SIGKILLed run leaves its namespaces: ${left.join('; ')}`);
      // a live run is never swept
      const mine = await createTestNet({ hosts: 1 });
      try {
        const report = sweepStale();
        assert.ok(report.namespaces.some((n) => n.startsWith(killed.names.runId)), JSON.stringify(report));
        assert.ok(!report.namespaces.some((n) => n.startsWith(mine.runId)));
        assert.ok(report.processes.length >= 1, JSON.stringify(report));
        await waitFor(() => killed.names.pids.every((p) => procStat(p) === undefined || procStat(p)?.state === 'Z'), 2_000, 'stale processes to die');
        assert.deepEqual(await leftovers(killed.names), []);
        assert.ok(await reaches(mine.hosts[0]!, mine.hosts[0]!.address));
      } finally {
        await mine.destroy();
      }
    });

    test('two nets created concurrently do not collide', async (t) => {
      const [n1, n2] = await Promise.all([createTestNet({ hosts: 2, t }), createTestNet({ hosts: 2, t })]);
      assert.notEqual(n1.runId, n2.runId);
      assert.notEqual(n1.octet, n2.octet);
      assert.notEqual(n1.nftTable, n2.nftTable);
      assert.deepEqual(
        [...n1.bridges, ...n2.bridges].length,
        new Set([...n1.bridges, ...n2.bridges]).size,
      );
      const [a1, b1] = n1.hosts as [TestHost, TestHost];
      const [a2, b2] = n2.hosts as [TestHost, TestHost];
      await n1.partition(a1, b1);
      const [r1, r2, cross] = await Promise.all([
        reaches(a1, b1.address, FAIL_WAIT),
        reaches(a2, b2.address),
        reaches(a2, b1.address, FAIL_WAIT), // separate bridges: the nets cannot see each other
      ]);
      assert.deepEqual({ r1, r2, cross }, { r1: false, r2: true, cross: false });
      await Promise.all([n1.destroy(), n2.destroy()]);
      assert.deepEqual(await leftovers(namesOf(n1)), []);
      assert.ok(await reaches(a2, b2.address).then(() => false, () => true), 'n2 destroyed too');
    });
  });
}

const fixture = process.env['HAMOD_HARNESS_FIXTURE'];
if (fixture !== undefined && fixture !== '') await runFixture(fixture);
else defineTests();
