// The virtual IP for real, in three test hosts (h1, h2, client) on one bridge: the client reaches
// the VIP on h1, the VIP moves to h2 and the client follows within 1 s with its ARP cache left
// alone (the gratuitous ARP moved its entry to h2's MAC); a control run without the announcement
// shows the client stays stuck on the old MAC. Also the interface and ping probes inside hosts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createTestNet, netnsSkipReason, type TestHost } from '../harness/index.js';
import { addVip, findInterfaceFor, hasVip, removeVip, sendGratuitousArp, type ExecRunner } from '../../runtime/vip/index.js';
import { probeInterface } from '../../runtime/probes/index.js';

const PORT = 8080;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const inHost = (h: TestHost): ExecRunner => (argv, o) => h.exec(argv, o);

const SERVER = `require('node:http').createServer((q, s) => s.end(process.argv[1])).listen(${PORT}, '0.0.0.0', () => console.log('ready'));`;
// One GET every 20 ms on a fresh connection; a line per answer: {"t": end time, "body"} or {"t", "err"}.
const POLLER = `
const http = require('node:http');
const once = () => {
  const req = http.get({ host: process.argv[1], port: ${PORT}, path: '/', agent: false, timeout: 150 }, (res) => {
    let body = '';
    res.on('data', (d) => (body += d));
    res.on('end', () => { console.log(JSON.stringify({ t: Date.now(), body })); setTimeout(once, 20); });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => { console.log(JSON.stringify({ t: Date.now(), err: e.message })); setTimeout(once, 20); });
};
once();`;

function lines(child: ChildProcess): string[] {
  const out: string[] = [];
  let buf = '';
  child.stdout?.on('data', (b: Buffer) => {
    buf += b.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    out.push(...parts);
  });
  child.stderr?.resume();
  return out;
}

async function waitFor<T>(what: string, f: () => T | undefined, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

interface Answer {
  t: number;
  body?: string;
  err?: string;
}

test('virtual IP follows the primary with gratuitous ARP', { skip: netnsSkipReason() }, async (t) => {
  const net = await createTestNet({ hosts: ['h1', 'h2', 'client'], t });
  const [h1, h2, client] = net.hosts as [TestHost, TestHost, TestHost];
  const vip = net.spareAddress(0);
  const servers = [h1, h2].map((h) => lines(h.spawn(['node', '-e', SERVER, h.name])));
  for (const [i, out] of servers.entries()) await waitFor(`server ${i + 1}`, () => (out.includes('ready') ? true : undefined), 5000);

  const answers = lines(client.spawn(['node', '-e', POLLER, vip]));
  const parsed = (): Answer[] => answers.map((l) => JSON.parse(l) as Answer);
  const firstAnswer = (body: string, after: number): Answer | undefined => parsed().find((a) => a.body === body && a.t >= after);
  const neighbourMac = async (): Promise<string | undefined> => {
    const r = await client.execOk(['ip', '-j', 'neigh', 'show', 'to', vip, 'dev', 'eth0']);
    return (JSON.parse(r.stdout || '[]') as Array<{ lladdr?: string }>)[0]?.lladdr;
  };

  await t.test('addVip on h1: chosen interface and prefix, idempotent, the client gets "h1"', async () => {
    assert.deepEqual(await findInterfaceFor(vip, { exec: inHost(h1) }), { interface: 'eth0', prefix: net.prefixLength, network: h1.address });
    const t0 = Date.now();
    const r = await addVip({ address: vip, exec: inHost(h1) });
    assert.deepEqual([r.interface, r.prefix, r.added], ['eth0', 16, true]);
    assert.equal(await hasVip(vip, { exec: inHost(h1) }), true);
    assert.equal(await hasVip(vip, { exec: inHost(h2) }), false);
    const again = await addVip({ address: vip, exec: inHost(h1) });
    assert.equal(again.added, false);
    await waitFor('"h1" from the VIP', () => firstAnswer('h1', t0), 2000);
    const a = await r.announcement;
    assert.equal(a.ok, true, a.detail);
    await again.announcement;
    assert.equal(await neighbourMac(), h1.macs[0]);
  });

  await t.test('interface probe in the host: eth0 up with the VIP; no carrier when unplugged', async () => {
    const ok = await probeInterface('eth0', { vip, exec: inHost(h1) });
    assert.equal(ok.ok, true, ok.detail);
    const other = await probeInterface('eth0', { vip, exec: inHost(h2) });
    assert.equal(other.ok, false);
    assert.match(other.detail, /not configured/);
    await net.linkDown(h2);
    try {
      const down = await probeInterface('eth0', { exec: inHost(h2) });
      assert.equal(down.ok, false);
      assert.match(down.detail, /no carrier/);
    } finally {
      await net.linkUp(h2);
    }
  });

  await t.test('move to h2: the client gets "h2" within 1 s without flushing its ARP cache', async () => {
    const removed = await removeVip({ address: vip, exec: inHost(h1) });
    assert.deepEqual(removed.removedFrom, ['eth0']);
    assert.deepEqual((await removeVip({ address: vip, exec: inHost(h1) })).removedFrom, []); // twice is fine
    assert.equal(await hasVip(vip, { exec: inHost(h1) }), false);
    assert.equal(await neighbourMac(), h1.macs[0]); // the client still points at h1
    const t0 = Date.now();
    const r = await addVip({ address: vip, exec: inHost(h2) });
    const addMs = Date.now() - t0;
    const got = await waitFor('"h2" from the VIP', () => firstAnswer('h2', t0), 1000);
    t.diagnostic(`addVip ${addMs} ms, first "h2" answer ${got.t - t0} ms after the move`);
    assert.ok(got.t - t0 <= 1000, `${got.t - t0} ms`);
    assert.equal(await neighbourMac(), h2.macs[0]);
    const a = await r.announcement;
    assert.equal(a.ok, true, a.detail);
  });

  await t.test('control: without the announcement the client stays on the old MAC, then follows the ARP', async () => {
    await removeVip({ address: vip, exec: inHost(h2) });
    const r = await addVip({ address: vip, exec: inHost(h1), announce: false });
    const t0 = Date.now();
    await sleep(800);
    assert.equal(firstAnswer('h1', t0), undefined, 'the client reached h1 with no announcement');
    assert.equal(await neighbourMac(), h2.macs[0]);
    const t1 = Date.now();
    const garp = sendGratuitousArp(vip, r.interface, { exec: inHost(h1), count: 1 });
    const got = await waitFor('"h1" after the gratuitous ARP', () => firstAnswer('h1', t1), 1000);
    t.diagnostic(`first "h1" answer ${got.t - t1} ms after the gratuitous ARP`);
    assert.equal(await neighbourMac(), h1.macs[0]);
    assert.equal((await garp).ok, true);
  });

  await t.test('addVip of an address no network contains fails clearly and changes nothing', async () => {
    const outside = `198.19.${net.octet}.201`; // the run's second range: no network of it in a 1-network net
    await assert.rejects(
      addVip({ address: outside, exec: inHost(h2) }),
      (err: Error) =>
        err.message.includes(`addVip ${outside}: no interface has a configured network containing this address`) &&
        err.message.includes(`eth0 ${h2.address}/16`),
    );
    assert.equal(await hasVip(outside, { exec: inHost(h2) }), false);
    await assert.rejects(addVip({ address: 'not-an-ip', exec: inHost(h2) }), /not an IP address/);
  });

  await t.test('ping probe inside the client: any address answering is enough', async () => {
    const url = new URL('../../runtime/probes/index.js', import.meta.url).href;
    const unused = net.spareAddress(50);
    const run = async (addrs: string[], timeoutMs: number): Promise<{ ok: boolean; detail: string }> => {
      const code = `const { probePing } = await import(${JSON.stringify(url)}); console.log(JSON.stringify(await probePing(${JSON.stringify(addrs)}, ${timeoutMs})));`;
      const r = await client.execOk(['node', '--input-type=module', '-e', code]);
      return JSON.parse(r.stdout) as { ok: boolean; detail: string };
    };
    const any = await run([unused, h2.address], 1000);
    assert.equal(any.ok, true, any.detail);
    assert.match(any.detail, new RegExp(`${h2.address.replace(/\./g, '\\.')} answered`));
    const none = await run([unused], 300);
    assert.equal(none.ok, false);
    assert.match(none.detail, /no answer/);
  });
});
