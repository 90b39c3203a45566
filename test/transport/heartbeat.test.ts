import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, it } from 'node:test';
import fc from 'fast-check';
import { deriveHeartbeatKey, encodeHeartbeat, HeartbeatSocket, type Endpoint, type Heartbeat, type HeartbeatSocketOptions } from '../../runtime/transport/index.js';

const secret = randomBytes(32);
const open: { close(): Promise<void> | void }[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

interface Node {
  hb: HeartbeatSocket;
  received: Heartbeat[];
  endpoints: Endpoint[];
}

async function node(nodeName: string, extra: Partial<HeartbeatSocketOptions> = {}): Promise<Node> {
  const received: Heartbeat[] = [];
  const hb = new HeartbeatSocket({ bind: { address: '127.0.0.1', port: 0 }, secret, nodeName, clusterId: 'alpha', onHeartbeat: (h) => received.push(h), ...extra });
  open.push(hb);
  const endpoints = await hb.start();
  return { hb, received, endpoints };
}

/** A plain UDP socket on 127.0.0.1 that records what it receives (a capturing attacker). */
async function rawSocket(): Promise<{ socket: Socket; port: number; captured: Buffer[] }> {
  const socket = createSocket('udp4');
  const captured: Buffer[] = [];
  socket.on('message', (m) => captured.push(m));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  open.push({ close: () => new Promise<void>((r) => socket.close(() => r())) });
  return { socket, port: socket.address().port, captured };
}

function sendRaw(socket: Socket, data: Buffer, port: number): Promise<void> {
  return new Promise((resolve, reject) => socket.send(data, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
}

function peersOf(name: string, n: Node): { nodeName: string; endpoints: { network: number; address: string; port: number }[] }[] {
  return [{ nodeName: name, endpoints: n.endpoints.map((e, network) => ({ network, address: e.address, port: e.port })) }];
}

async function waitFor(cond: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail('condition not met in time');
    await sleep(5);
  }
}

/** Datagrams on loopback arrive within a few ms: after a valid marker heartbeat, earlier ones were handled. */
async function settle(sender: Node, receiver: Node): Promise<void> {
  const before = receiver.received.length;
  sender.hb.send({ marker: true });
  await waitFor(() => receiver.received.length > before);
}

describe('heartbeats', () => {
  it('round trip between two sockets on 127.0.0.1', async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    a.hb.setPeers(peersOf('node-b', b));
    b.hb.setPeers(peersOf('node-a', a));
    const sent = a.hb.send({ modules: { web: 'PRIM' } });
    assert.equal(sent.datagrams, 1);
    await waitFor(() => b.received.length === 1);
    const h = b.received[0];
    assert.ok(h !== undefined);
    assert.equal(h.from, 'node-a');
    assert.equal(h.network, 0);
    assert.equal(h.seq, sent.seq);
    assert.equal(h.bootId, a.hb.bootId);
    assert.deepEqual(h.body, { modules: { web: 'PRIM' } });
    assert.equal(h.address, '127.0.0.1');
    assert.ok(Math.abs(h.sentAt - Date.now()) < 1_000);
    assert.equal(typeof h.receivedAt, 'number');
    b.hb.send({ modules: { web: 'SECOND' } });
    await waitFor(() => a.received.length === 1);
    assert.deepEqual(a.received[0]?.body, { modules: { web: 'SECOND' } });
    const seq2 = a.hb.send(null).seq;
    assert.equal(seq2, sent.seq + 1);
    await waitFor(() => b.received.length === 2);
    assert.equal(b.hb.stats()[0]?.accepted, 2);
    assert.equal(a.hb.stats()[0]?.sent, 2);
  });

  it('reports the copies of one heartbeat on every network (127.0.0.1 and ::1)', async () => {
    const binds = [{ address: '127.0.0.1', port: 0 }, { address: '::1', port: 0 }];
    const a = await node('node-a', { bind: binds });
    const b = await node('node-b', { bind: binds });
    a.hb.setPeers(peersOf('node-b', b));
    b.hb.setPeers(peersOf('node-a', a));
    const sent = a.hb.send({ n: 1 });
    assert.equal(sent.datagrams, 2);
    await waitFor(() => b.received.length === 2);
    assert.deepEqual(b.received.map((h) => [h.network, h.seq]).sort(), [[0, sent.seq], [1, sent.seq]]);
    assert.deepEqual(b.received.map((h) => h.address).sort(), ['127.0.0.1', '::1']);
  });

  it('drops a datagram made with another secret (counted as mac)', async () => {
    const a = await node('node-a', { secret: randomBytes(32) });
    const b = await node('node-b');
    a.hb.setPeers(peersOf('node-b', b));
    b.hb.setPeers([{ nodeName: 'node-a', endpoints: [] }]);
    a.hb.send({ evil: true });
    await waitFor(() => b.hb.stats()[0]?.dropped.mac === 1);
    assert.equal(b.received.length, 0);
  });

  it('drops a replayed captured datagram, of this run or of an older one', async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    const spy = await rawSocket();
    // a's heartbeats go to b and, through the "network", to the capturing socket too.
    a.hb.setPeers([{ nodeName: 'node-b', endpoints: [{ network: 0, address: '127.0.0.1', port: b.endpoints[0]?.port ?? 0 }, { network: 0, address: '127.0.0.1', port: spy.port }] }]);
    b.hb.setPeers(peersOf('node-a', a));
    a.hb.send({ n: 1 });
    await waitFor(() => b.received.length === 1 && spy.captured.length === 1);
    const captured = spy.captured[0] as Buffer;
    await sendRaw(spy.socket, captured, b.endpoints[0]?.port ?? 0);
    await waitFor(() => b.hb.stats()[0]?.dropped.replay === 1);

    // a restarts: new bootId, seq above the old run's. The old run's datagram stays refused.
    await a.hb.close();
    const a2 = await node('node-a', { bind: { address: '127.0.0.1', port: a.endpoints[0]?.port ?? 0 } });
    a2.hb.setPeers(peersOf('node-b', b));
    assert.notEqual(a2.hb.bootId, a.hb.bootId);
    a2.hb.send({ n: 2 });
    await waitFor(() => b.received.length === 2);
    assert.equal(b.received[1]?.restarted, true);
    await sendRaw(spy.socket, captured, b.endpoints[0]?.port ?? 0);
    await settle(a2, b);
    assert.equal(b.hb.stats()[0]?.dropped.replay, 2);
    assert.deepEqual(b.received.map((h) => h.body), [{ n: 1 }, { n: 2 }, { marker: true }]);
  });

  it('drops heartbeats of another cluster id, of an unknown sender and of itself', async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    b.hb.setPeers(peersOf('node-a', a));
    const spy = await rawSocket();
    const key = deriveHeartbeatKey(secret); // an insider's datagrams: valid MAC, wrong content
    const base = { cluster: 'alpha', from: 'node-a', bootId: 'x', seq: Date.now() * 1000 + 1e9, sentAt: Date.now(), body: null };
    const port = b.endpoints[0]?.port ?? 0;
    await sendRaw(spy.socket, encodeHeartbeat(key, { ...base, cluster: 'beta' }), port);
    await sendRaw(spy.socket, encodeHeartbeat(key, { ...base, from: 'node-z' }), port);
    await sendRaw(spy.socket, encodeHeartbeat(key, { ...base, from: 'node-b' }), port);
    await waitFor(() => {
      const d = b.hb.stats()[0]?.dropped;
      return d?.cluster === 1 && d.unknownSender === 1 && d.self === 1;
    });
    assert.equal(b.received.length, 0);
    await sendRaw(spy.socket, encodeHeartbeat(key, base), port);
    await waitFor(() => b.received.length === 1);
  });

  it('drops truncated and garbage datagrams without exceptions, and keeps working (fuzz)', async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    a.hb.setPeers(peersOf('node-b', b));
    b.hb.setPeers(peersOf('node-a', a));
    const spy = await rawSocket();
    a.hb.setPeers([{ nodeName: 'node-b', endpoints: [{ network: 0, address: '127.0.0.1', port: spy.port }] }]);
    a.hb.send({ modules: { web: 'PRIM' } });
    await waitFor(() => spy.captured.length === 1);
    const valid = spy.captured[0] as Buffer;
    a.hb.setPeers(peersOf('node-b', b));
    const port = b.endpoints[0]?.port ?? 0;
    const datagrams: Buffer[] = [];
    for (let len = 0; len < valid.length; len += 7) datagrams.push(valid.subarray(0, len));
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 1500 }), (bytes) => {
        datagrams.push(Buffer.from(bytes));
      }),
      { numRuns: 200 },
    );
    for (const d of datagrams) await sendRaw(spy.socket, d, port);
    await settle(a, b);
    const s = b.hb.stats()[0];
    assert.ok(s !== undefined);
    const dropped = Object.values(s.dropped).reduce((x, y) => x + y, 0);
    // Empty datagrams are delivered too on Linux; every datagram sent is either dropped or the marker.
    assert.equal(s.received, datagrams.length + 1);
    assert.equal(dropped, datagrams.length);
    assert.deepEqual(b.received.map((h) => h.body), [{ marker: true }]);
  });

  it('never throws when sending fails; counts and logs the failure once until it recovers', async () => {
    let failing = true;
    const logs: string[] = [];
    const a = await node('node-a', {
      log: (level, message, fields) => logs.push(`${level} ${message} ${String(fields?.['code'] ?? '')}`),
      createSocket: (type) => {
        const socket = createSocket({ type });
        const send = socket.send.bind(socket) as (...args: unknown[]) => void;
        (socket as unknown as { send: (...args: unknown[]) => void }).send = (...args: unknown[]) => {
          const cb = args.at(-1) as (err: Error | null) => void;
          if (!failing) return send(...args);
          queueMicrotask(() => cb(Object.assign(new Error('send EHOSTUNREACH'), { code: 'EHOSTUNREACH' })));
        };
        return socket;
      },
    });
    const b = await node('node-b');
    a.hb.setPeers(peersOf('node-b', b));
    b.hb.setPeers(peersOf('node-a', a));
    for (let i = 0; i < 5; i++) assert.doesNotThrow(() => a.hb.send({ i }));
    await waitFor(() => a.hb.stats()[0]?.sendErrors === 5);
    assert.equal(a.hb.stats()[0]?.lastSendError, 'EHOSTUNREACH');
    assert.deepEqual(logs, ['warn cannot send heartbeats to peer EHOSTUNREACH']);
    failing = false;
    a.hb.send({ i: 5 });
    await waitFor(() => b.received.length === 1);
    await waitFor(() => a.hb.stats()[0]?.lastSendError === null);
    assert.equal(logs.length, 2);
    assert.match(logs[1] ?? '', /go through again/);
  });

  it('refuses an oversized body and bad peer endpoints, and is quiet after close', async () => {
    const a = await node('node-a');
    assert.throws(() => a.hb.send({ big: 'x'.repeat(1200) }), RangeError);
    assert.throws(() => a.hb.setPeers([{ nodeName: 'node-b', endpoints: [{ network: 1, address: '127.0.0.1', port: 1 }] }]), RangeError);
    assert.throws(() => a.hb.setPeers([{ nodeName: 'node-b', endpoints: [{ network: 0, address: '::1', port: 1 }] }]), RangeError);
    assert.throws(() => a.hb.setPeers([{ nodeName: 'node-a', endpoints: [] }]), RangeError);
    await a.hb.close();
    assert.deepEqual(a.hb.send({}).datagrams, 0);
    assert.throws(() => new HeartbeatSocket({ bind: [], secret, nodeName: 'x', clusterId: 'alpha' }), RangeError);
  });
});
