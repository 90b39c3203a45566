// runtime/vip against a scripted ExecRunner: parsing `ip -j addr`, interface choice, argv built,
// error messages. The real thing runs in vip.test.ts (test hosts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addVip, findInterfaceFor, hasVip, parseIpAddrJson, removeVip, sameAddress, type ExecRunner } from '../../runtime/vip/index.js';

const LINKS = [
  { ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], operstate: 'UNKNOWN', address: '00:00:00:00:00:00', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }, { family: 'inet6', local: '::1', prefixlen: 128 }] },
  { ifname: 'eth0', flags: ['BROADCAST', 'UP', 'LOWER_UP'], operstate: 'UP', address: '02:68:00:05:00:01', addr_info: [{ family: 'inet', local: '198.18.5.1', prefixlen: 16 }, { family: 'inet6', local: 'fe80::68:5ff:fe00:1', prefixlen: 64 }, { family: 'inet6', local: '2001:db8:5::1', prefixlen: 64 }] },
  { ifname: 'eth1', flags: ['BROADCAST', 'UP', 'LOWER_UP'], operstate: 'UP', address: '02:68:00:05:00:02', addr_info: [{ family: 'inet', local: '198.18.5.65', prefixlen: 26 }, { family: 'inet', local: '198.19.5.1', prefixlen: 16 }] },
  { ifname: 'eth2', flags: ['BROADCAST'], operstate: 'DOWN', address: '02:68:00:05:00:03' },
];

/** Answers `ip -j addr show` from LINKS (plus what was added), records every argv. */
function fakeExec(extra: Record<string, Array<Record<string, unknown>>> = {}, fail: Record<string, string> = {}): { exec: ExecRunner; calls: string[][] } {
  const calls: string[][] = [];
  const exec: ExecRunner = async (argv) => {
    calls.push([...argv]);
    const key = argv.slice(0, 3).join(' ');
    if (fail[key] !== undefined) return { code: 2, stdout: '', stderr: fail[key] };
    if (argv[0] === 'ip' && argv[2] === 'addr' && argv[3] === 'show') {
      const links = LINKS.map((l) => ({ ...l, addr_info: [...(l.addr_info ?? []), ...(extra[l.ifname] ?? [])] }));
      return { code: 0, stdout: JSON.stringify(links), stderr: '' };
    }
    return { code: 0, stdout: '', stderr: '' };
  };
  return { exec, calls };
}

test('parseIpAddrJson', () => {
  const links = parseIpAddrJson(JSON.stringify(LINKS));
  assert.deepEqual(links.map((l) => [l.ifname, l.addresses.length, l.operstate]), [['lo', 2, 'UNKNOWN'], ['eth0', 3, 'UP'], ['eth1', 2, 'UP'], ['eth2', 0, 'DOWN']]);
  assert.deepEqual(links[1]?.addresses[0], { ifname: 'eth0', family: 'ipv4', local: '198.18.5.1', prefix: 16, tentative: false, dadfailed: false });
  assert.deepEqual(parseIpAddrJson(''), []);
});

test('sameAddress compares IPv6 spellings', () => {
  assert.equal(sameAddress('2001:db8::1', '2001:0db8:0:0::0001'), true);
  assert.equal(sameAddress('198.18.5.1', '198.18.5.2'), false);
  assert.equal(sameAddress('198.18.5.1', '::ffff:198.18.5.1'), false);
});

test('findInterfaceFor: longest prefix wins, link-local networks ignored', async () => {
  const { exec } = fakeExec();
  assert.deepEqual(await findInterfaceFor('198.18.9.9', { exec }), { interface: 'eth0', prefix: 16, network: '198.18.5.1' });
  assert.deepEqual(await findInterfaceFor('198.18.5.70', { exec }), { interface: 'eth1', prefix: 26, network: '198.18.5.65' });
  assert.deepEqual(await findInterfaceFor('198.19.200.1', { exec }), { interface: 'eth1', prefix: 16, network: '198.19.5.1' });
  assert.deepEqual(await findInterfaceFor('2001:db8:5::200', { exec }), { interface: 'eth0', prefix: 64, network: '2001:db8:5::1' });
  assert.equal(await findInterfaceFor('fe81::1', { exec }), null);
  assert.equal(await findInterfaceFor('203.0.113.7', { exec }), null);
  await assert.rejects(findInterfaceFor('nope', { exec }), /not an IP address/);
});

test('addVip IPv4: ip addr add with the network prefix, then arping', async () => {
  const { exec, calls } = fakeExec();
  const r = await addVip({ address: '198.18.5.200', exec });
  assert.equal(r.interface, 'eth0');
  assert.equal(r.prefix, 16);
  assert.equal(r.added, true);
  assert.deepEqual(await r.announcement, { ok: true, method: 'arping', detail: '2 gratuitous ARP(s) for 198.18.5.200 on eth0' });
  assert.deepEqual(calls.slice(1), [
    ['ip', 'addr', 'add', '198.18.5.200/16', 'dev', 'eth0'],
    ['arping', '-q', '-U', '-c', '2', '-I', 'eth0', '198.18.5.200'],
  ]);
});

test('addVip with an explicit interface and prefix; no announcement', async () => {
  const { exec, calls } = fakeExec();
  const r = await addVip({ address: '198.18.5.201', interface: 'eth1', prefix: 32, announce: false, exec });
  assert.deepEqual([r.interface, r.prefix, (await r.announcement).method], ['eth1', 32, 'none']);
  assert.deepEqual(calls.slice(1), [['ip', 'addr', 'add', '198.18.5.201/32', 'dev', 'eth1']]);
  await assert.rejects(addVip({ address: '198.18.5.201', interface: 'eth9', exec }), /no interface named "eth9"/);
});

test('addVip IPv6: ndisc_notify set, nodad, the kernel announces', async () => {
  const { exec, calls } = fakeExec();
  const r = await addVip({ address: '2001:db8:5::200', exec });
  assert.deepEqual(calls.slice(1), [
    ['sysctl', '-q', '-w', 'net/ipv6/conf/eth0/ndisc_notify=1'],
    ['ip', 'addr', 'add', '2001:db8:5::200/64', 'dev', 'eth0', 'nodad'],
  ]);
  assert.equal((await r.announcement).method, 'ndisc_notify');
  assert.equal((await r.announcement).ok, true);
});

test('addVip: already present is fine, present elsewhere is an error, ip failures carry stderr', async () => {
  const present = fakeExec({ eth0: [{ family: 'inet', local: '198.18.5.200', prefixlen: 16 }] });
  const r = await addVip({ address: '198.18.5.200', exec: present.exec });
  assert.equal(r.added, false);
  assert.ok(!present.calls.some((c) => c[2] === 'addr' && c[3] === 'add'));
  assert.equal((await r.announcement).ok, true); // re-announced anyway
  await assert.rejects(addVip({ address: '198.18.5.200', interface: 'eth1', exec: present.exec }), /already configured on eth0/);
  const race = fakeExec({}, { 'ip addr add': 'Error: ipv4: Address already assigned.' });
  assert.equal((await addVip({ address: '198.18.5.202', exec: race.exec, announce: false })).added, false);
  const broken = fakeExec({}, { 'ip addr add': 'RTNETLINK answers: Operation not permitted' });
  await assert.rejects(addVip({ address: '198.18.5.202', exec: broken.exec }), /ip addr add failed \(exit 2\): RTNETLINK answers: Operation not permitted/);
  const none = fakeExec();
  await assert.rejects(
    addVip({ address: '203.0.113.7', exec: none.exec }),
    /addVip 203\.0\.113\.7: no interface has a configured network containing this address \(networks: lo 127\.0\.0\.1\/8, .*eth1 198\.19\.5\.1\/16\)/,
  );
  assert.equal(none.calls.length, 1); // only the listing: nothing was changed
});

test('arping failures do not fail addVip: the announcement says so', async () => {
  const { exec } = fakeExec({}, { 'arping -q -U': 'arping: Device eth0 not available.' });
  const r = await addVip({ address: '198.18.5.203', exec });
  const a = await r.announcement;
  assert.equal(a.ok, false);
  assert.match(a.detail, /Device eth0 not available/);
  const missing: ExecRunner = async (argv) => {
    if (argv[0] === 'arping') throw Object.assign(new Error('spawn arping ENOENT'), { code: 'ENOENT' });
    return fakeExec().exec(argv);
  };
  assert.match((await (await addVip({ address: '198.18.5.204', exec: missing })).announcement).detail, /cannot run: spawn arping ENOENT/);
});

test('removeVip deletes with the configured prefix, wherever it is; absent is fine', async () => {
  const f = fakeExec({ eth1: [{ family: 'inet', local: '198.18.5.200', prefixlen: 32 }] });
  assert.deepEqual(await removeVip({ address: '198.18.5.200', exec: f.exec }), { address: '198.18.5.200', removedFrom: ['eth1'] });
  assert.deepEqual(f.calls[1], ['ip', 'addr', 'del', '198.18.5.200/32', 'dev', 'eth1']);
  assert.deepEqual(await removeVip({ address: '198.18.5.200', interface: 'eth0', exec: f.exec }), { address: '198.18.5.200', removedFrom: [] });
  assert.equal(await hasVip('198.18.5.200', { exec: f.exec }), true);
  assert.equal(await hasVip('198.18.5.200', { interface: 'eth0', exec: f.exec }), false);
  const gone = fakeExec({ eth0: [{ family: 'inet', local: '198.18.5.200', prefixlen: 16 }] }, { 'ip addr del': 'Error: ipv4: Address not found.' });
  assert.deepEqual((await removeVip({ address: '198.18.5.200', exec: gone.exec })).removedFrom, []);
});
