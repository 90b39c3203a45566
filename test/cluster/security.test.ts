// Only cluster members talk to an agent: from the client host, the peer API (port 7410, mutual TLS)
// refuses a caller without a certificate and one with a self-signed certificate (TLS handshake
// fails, no command runs), while a cluster certificate gets through; heartbeats forged without the
// cluster secret do not keep a partitioned peer alive. (Transport-level cases: test/transport/.)
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { netnsSkipReason } from '../harness/index.js';
import { BIN, startMirrorCluster, until } from './fixture.js';

test('peer API without a cluster certificate: TLS handshake refused; forged heartbeats dropped', { skip: netnsSkipReason(), timeout: 60_000 }, async (t) => {
  const c = await startMirrorCluster(t);
  c.monitor.start();
  t.after(() => c.monitor.stop());
  const p = await c.waitFor('a primary and a secondary', (x) => (x.n1 === 'PRIM' && x.n2 === 'SECOND') || (x.n2 === 'PRIM' && x.n1 === 'SECOND'));
  const prim = p.n1 === 'PRIM' ? 'n1' : 'n2';
  const second = prim === 'n1' ? 'n2' : 'n1';
  const config = JSON.parse(readFileSync(join(c.dataDir('n1'), 'cluster.json'), 'utf8')) as { cluster: { id: string }; peerPort: number; heartbeatPort: number };
  assert.equal(config.peerPort, 7410);
  const target = c.hosts[prim];
  const url = `https://${target.address}:${config.peerPort}/v1/command`;
  const stopBody = JSON.stringify({ module: 'mirror', command: 'stop' });
  // -k: we do not check the server here; the point is that the server checks us.
  const curl = (extra: string[]) => c.hosts.w.exec(['curl', '-sS', '-k', '-m', '5', '-o', '-', '-w', '\nHTTP %{http_code}\n', '-X', 'POST', '-H', 'content-type: application/json', '--data', stopBody, ...extra, url], { timeoutMs: 10_000 });

  // 1. No client certificate.
  const none = await curl([]);
  t.diagnostic(`no certificate: curl exit ${none.code}: ${none.stderr.trim()}`);
  assert.notEqual(none.code, 0, 'curl fails');
  assert.match(none.stdout, /HTTP 000/, 'no HTTP answer at all');
  assert.doesNotMatch(none.stdout, /"ok"/, 'no answer from the API');

  // 2. A self-signed certificate with the name of a member.
  const keyFile = join(c.root, 'rogue.key');
  const certFile = join(c.root, 'rogue.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/O=hamod/OU=test/CN=${second}`], { stdio: 'ignore' });
  const rogue = await curl(['--cert', certFile, '--key', keyFile]);
  t.diagnostic(`self-signed certificate (CN=${second}): curl exit ${rogue.code}: ${rogue.stderr.trim()}`);
  // TLS 1.3: the client sends its certificate after the server's Finished, so curl sees the refusal
  // as an alert, a reset or a closed connection, never as an HTTP answer.
  assert.notEqual(rogue.code, 0, 'curl fails');
  assert.match(rogue.stdout, /HTTP 000/, 'no HTTP answer at all');
  assert.doesNotMatch(rogue.stdout, /"ok"/);

  // Nothing was stopped.
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(await c.phases(), { [prim]: 'PRIM', [second]: 'SECOND' } as Record<'n1' | 'n2', string>);

  // Control: the peer's real certificate gets an answer (a harmless status call).
  const member = await c.hosts.w.exec(['curl', '-sS', '-k', '-m', '5', '-X', 'POST', '-H', 'content-type: application/json', '--data', '{}',
    '--cert', join(c.dataDir(second), 'node.crt'), '--key', join(c.dataDir(second), 'node.key'), `https://${target.address}:${config.peerPort}/v1/status`], { timeoutMs: 10_000 });
  assert.equal(member.code, 0, `with ${second}'s certificate: ${member.stderr}`);
  assert.equal((JSON.parse(member.stdout) as { node: string }).node, prim);

  // 3. Heartbeats made with another secret, claiming to come from the peer, sent from the client host
  // to the primary every 20 ms while the real peer is cut off: the primary still declares it lost.
  const codec = join(BIN, '../../dist/runtime/transport/heartbeat-codec.js');
  const forger = `
    const { randomBytes } = await import('node:crypto');
    const { createSocket } = await import('node:dgram');
    const { deriveHeartbeatKey, encodeHeartbeat } = await import(${JSON.stringify(codec)});
    const [cluster, from, host, port] = process.argv.slice(1);
    const key = deriveHeartbeatKey(randomBytes(32));
    const bootId = randomBytes(8).toString('hex');
    const s = createSocket('udp4');
    let seq = Date.now() * 1000;
    setInterval(() => s.send(encodeHeartbeat(key, { cluster, from, bootId, seq: seq++, sentAt: Date.now(), body: { cfg: 1 } }), Number(port), host), 20);`;
  const flood = c.hosts.w.spawn([process.execPath, '--input-type=module', '-e', forger, config.cluster.id, second, target.address, String(config.heartbeatPort)]);
  t.after(() => { try { if (flood.pid) process.kill(-flood.pid, 'SIGKILL'); } catch { /* gone */ } });
  let floodErr = '';
  flood.stderr?.on('data', (d: Buffer) => (floodErr += d.toString()));
  flood.stdout?.resume();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(flood.exitCode, null, `the forger runs: ${floodErr}`);
  await c.net.partition(c.hosts.n1, c.hosts.n2);
  await until(async () => (await c.status(prim))?.peer?.liveness === 'lost', 5_000, `${prim} to declare ${second} lost despite the forged heartbeats`);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await c.status(prim))?.peer?.liveness, 'lost', `${prim} still sees ${second} lost`);
  assert.equal(flood.exitCode, null, `the forger still runs: ${floodErr}`);
  process.kill(-flood.pid!, 'SIGKILL');

  await c.net.heal(c.hosts.n1, c.hosts.n2);
  await c.waitFor('back to a primary and a secondary', (x) => x[prim] === 'PRIM' && x[second] === 'SECOND', 30_000);
  c.monitor.stop();
  assert.deepEqual(c.monitor.violations, []);
  assert.deepEqual(c.monitor.appOverlaps, [], 'the application never ran on both nodes at once');
  assert.ok(c.monitor.appSamples > 50, `the application monitor sampled (${c.monitor.appSamples})`);
  assert.ok(c.monitor.samples > 20, `the monitor sampled (${c.monitor.samples})`);
});
