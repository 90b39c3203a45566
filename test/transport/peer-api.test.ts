import assert from 'node:assert/strict';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { PeerCallError, PeerClient, PeerError, PeerServer, type PeerCallErrorCode, type PeerIdentity, type TlsCredentials } from '../../runtime/transport/index.js';
import { buildTestPki, type TestPki } from './pki-fixture.js';

let pki: TestPki;
let server: PeerServer;
let addr: AddressInfo;
const seen: PeerIdentity[] = [];
let lastSignal: AbortSignal | undefined;
const clients: PeerClient[] = [];
const logs: { level: string; message: string; fields: Readonly<Record<string, unknown>> | undefined }[] = [];

function client(credentials: TlsCredentials, expectedNodeName = 'node-a', extra: { timeoutMs?: number; port?: number; host?: string } = {}): PeerClient {
  const c = new PeerClient({ credentials, host: extra.host ?? '127.0.0.1', port: extra.port ?? addr.port, expectedNodeName, ...(extra.timeoutMs !== undefined ? { timeoutMs: extra.timeoutMs } : {}) });
  clients.push(c);
  return c;
}

async function expectCallError(p: Promise<unknown>, codes: readonly PeerCallErrorCode[], remoteCode?: string): Promise<PeerCallError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof PeerCallError, `expected a PeerCallError, got ${String(err)}`);
    assert.ok(codes.includes(err.code), `expected ${codes.join('|')}, got ${err.code}: ${err.message}`);
    if (remoteCode !== undefined) assert.equal(err.remoteCode, remoteCode, err.message);
    return err;
  }
  assert.fail('the call succeeded');
}

before(async () => {
  pki = await buildTestPki();
  server = new PeerServer({
    credentials: pki.nodeA,
    knownNodes: (name) => name === 'node-a' || name === 'node-b',
    handlerTimeoutMs: 300,
    log: (level, message, fields) => logs.push({ level, message, fields }),
  });
  server
    .route('POST', '/v1/whoami', (body, peer) => {
      seen.push(peer);
      return { nodeName: peer.nodeName, body };
    })
    .route('GET', '/v1/ping', () => 'pong')
    .route('POST', '/v1/conflict', () => {
      throw new PeerError(409, 'NOT_PRIMARY', 'module web is not primary here');
    })
    .route('POST', '/v1/crash', () => {
      throw new Error('internal detail /etc/secret');
    })
    .route('POST', '/v1/slow', async (_body, _peer, ctx) => {
      lastSignal = ctx.signal;
      await sleep(5_000, undefined, { signal: ctx.signal }).catch(() => undefined);
      return 'late';
    });
  addr = await server.listen(0, '127.0.0.1');
});

after(async () => {
  for (const c of clients) c.close();
  await server.close();
  pki.cleanup();
});

describe('peer API: mutual TLS', () => {
  it("accepts a client with a cluster certificate and reports the client's node name", async () => {
    const b = client(pki.nodeB);
    const answer = await b.call<{ nodeName: string; body: unknown }>('/v1/whoami', { hello: ['world', 1] });
    assert.deepEqual(answer, { nodeName: 'node-b', body: { hello: ['world', 1] } });
    assert.equal(seen.at(-1)?.nodeName, 'node-b');
    assert.equal(seen.at(-1)?.address, '127.0.0.1');
    assert.equal(await b.call('/v1/ping', undefined, { method: 'GET' }), 'pong');
  });

  it('keeps the connection alive between calls', async () => {
    const c = new PeerServer({ credentials: pki.nodeA });
    c.route('POST', '/v1/n', () => 1);
    const a = await c.listen(0, '127.0.0.1');
    const b = client(pki.nodeB, 'node-a', { port: a.port });
    for (let i = 0; i < 5; i++) assert.equal(await b.call('/v1/n', {}), 1);
    assert.equal(c.stats().requests, 5);
    assert.equal(c.stats().connections, 1);
    b.close();
    await c.close();
  });

  it('refuses a client without a certificate (the handler never runs)', async () => {
    const count = seen.length;
    const failures = server.stats().handshakeFailures;
    await assert.rejects(
      new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: addr.port, path: '/v1/whoami', method: 'POST', ca: pki.nodeA.ca, servername: 'node-a', checkServerIdentity: () => undefined, agent: false }, resolve);
        req.on('error', reject);
        req.end('{}');
      }),
    );
    assert.equal(seen.length, count);
    await waitFor(() => server.stats().handshakeFailures > failures);
    await waitFor(() => refusalLogged('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE'));
  });

  it('refuses a client whose certificate comes from another cluster CA (same node name)', async () => {
    const count = seen.length;
    // beta's node-b trusts alpha's CA here, so only the server's check can refuse it.
    const foreign: TlsCredentials = { nodeName: 'node-b', ca: pki.nodeA.ca, cert: pki.betaB.cert, key: pki.betaB.key };
    const failures = server.stats().handshakeFailures;
    const err = await expectCallError(client(foreign).call('/v1/whoami', {}), ['TLS', 'UNREACHABLE']);
    assert.match(err.message, /refused this node's certificate/);
    assert.equal(seen.length, count);
    await waitFor(() => server.stats().handshakeFailures > failures);
    await waitFor(() => refusalLogged('UNABLE_TO_VERIFY_LEAF_SIGNATURE'));
  });

  it('refuses a self-signed certificate with the CN of a member', async () => {
    const count = seen.length;
    const failures = server.stats().handshakeFailures;
    await expectCallError(client(pki.selfSignedB).call('/v1/whoami', {}), ['TLS', 'UNREACHABLE']);
    assert.equal(seen.length, count);
    await waitFor(() => server.stats().handshakeFailures > failures);
    await waitFor(() => refusalLogged('DEPTH_ZERO_SELF_SIGNED_CERT'));
  });

  it('refuses a cluster member that knownNodes does not list', async () => {
    const count = seen.length;
    const err = await expectCallError(client(pki.nodeC).call('/v1/whoami', {}), ['REMOTE'], 'UNKNOWN_NODE');
    assert.equal(err.status, 403);
    assert.equal(err.retryable, false);
    assert.equal(seen.length, count);
  });

  it('refuses TLS 1.2', async () => {
    await assert.rejects(
      new Promise((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port: addr.port, ca: pki.nodeB.ca, cert: pki.nodeB.cert, key: pki.nodeB.key, servername: 'node-a', maxVersion: 'TLSv1.2' }, () => resolve(s));
        s.on('error', reject);
      }),
    );
  });
});

describe('peer API: server identity (client side)', () => {
  it('refuses a server whose certificate names another node', async () => {
    const count = seen.length;
    const err = await expectCallError(client(pki.nodeB, 'node-c').call('/v1/whoami', {}), ['IDENTITY']);
    assert.match(err.message, /"node-a", expected "node-c"/);
    assert.equal(seen.length, count);
  });

  it('refuses a server whose certificate comes from another cluster CA', async () => {
    const beta = new PeerServer({ credentials: pki.betaB });
    let called = false;
    beta.route('POST', '/v1/whoami', () => (called = true));
    const a = await beta.listen(0, '127.0.0.1');
    await expectCallError(client(pki.nodeA, 'node-b', { port: a.port }).call('/v1/whoami', {}), ['TLS']);
    assert.equal(called, false);
    await beta.close();
  });

  it('works over IPv6 loopback', async () => {
    const v6 = new PeerServer({ credentials: pki.nodeA });
    v6.route('POST', '/v1/whoami', (_b, peer) => peer);
    const a = await v6.listen(0, '::1');
    const answer = await client(pki.nodeB, 'node-a', { host: '::1', port: a.port }).call('/v1/whoami', {});
    assert.deepEqual(answer, { nodeName: 'node-b', address: '::1' });
    await v6.close();
  });
});

describe('peer API: requests and errors', () => {
  it('enforces the 1 MiB body limit (declared or streamed)', async () => {
    const b = client(pki.nodeB);
    const big = 'x'.repeat(1024 * 1024);
    const err = await expectCallError(b.call('/v1/whoami', { big }), ['REMOTE'], 'BODY_TOO_LARGE');
    assert.equal(err.status, 413);
    // Just under the limit goes through.
    const ok = await b.call<{ body: { s: string } }>('/v1/whoami', { s: 'y'.repeat(1024 * 1024 - 64) });
    assert.equal(ok.body.s.length, 1024 * 1024 - 64);
    // Chunked, no Content-Length: counted while it arrives.
    const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: addr.port, path: '/v1/whoami', method: 'POST', headers: { 'content-type': 'application/json' }, ca: pki.nodeB.ca, cert: pki.nodeB.cert, key: pki.nodeB.key, servername: 'node-a', checkServerIdentity: () => undefined, agent: false },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      for (let i = 0; i < 20; i++) req.write(chunk);
      req.end();
    });
    assert.equal(status.status, 413);
    assert.equal(JSON.parse(status.body).code, 'BODY_TOO_LARGE');
  });

  it('answers JSON errors with status codes', async () => {
    const b = client(pki.nodeB);
    let err = await expectCallError(b.call('/v1/nope', {}), ['REMOTE'], 'NOT_FOUND');
    assert.equal(err.status, 404);
    err = await expectCallError(b.call('/v1/ping', {}), ['REMOTE'], 'METHOD_NOT_ALLOWED');
    assert.equal(err.status, 405);
    err = await expectCallError(b.call('/v1/conflict', {}), ['REMOTE'], 'NOT_PRIMARY');
    assert.equal(err.status, 409);
    assert.match(err.message, /module web is not primary here/);
    err = await expectCallError(b.call('/v1/crash', {}), ['REMOTE'], 'INTERNAL');
    assert.equal(err.status, 500);
    assert.doesNotMatch(err.message, /secret/, 'internal details stay on the server');
    await assert.rejects(b.call('/v1/whoami', { n: 1n }), TypeError);
  });

  it('refuses bodies that are not JSON', async () => {
    const send = (body: string, type: string): Promise<{ status: number; code: string }> =>
      new Promise((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port: addr.port, path: '/v1/whoami', method: 'POST', headers: { 'content-type': type }, ca: pki.nodeB.ca, cert: pki.nodeB.cert, key: pki.nodeB.key, servername: 'node-a', checkServerIdentity: () => undefined, agent: false },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, code: (JSON.parse(text) as { code: string }).code }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    assert.deepEqual(await send('{"a":', 'application/json'), { status: 400, code: 'BAD_JSON' });
    assert.deepEqual(await send('a=1', 'application/x-www-form-urlencoded'), { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
  });

  it('gives a handler a deadline (503) and aborts its signal', async () => {
    const err = await expectCallError(client(pki.nodeB).call('/v1/slow', {}), ['REMOTE'], 'HANDLER_TIMEOUT');
    assert.equal(err.status, 503);
    assert.equal(err.retryable, true);
    assert.equal(lastSignal?.aborted, true);
  });

  it('times out a call on the client side, and honours an abort signal', async () => {
    const b = client(pki.nodeB);
    const started = Date.now();
    const err = await expectCallError(b.call('/v1/slow', {}, { timeoutMs: 100 }), ['TIMEOUT']);
    assert.ok(Date.now() - started < 2_000); // (the server would answer 503 at 300 ms: the code above proves the client gave up first)
    assert.equal(err.retryable, true);
    await expectCallError(b.call('/v1/slow', {}, { signal: AbortSignal.timeout(50) }), ['ABORTED']);
    const aborted = new AbortController();
    aborted.abort();
    await expectCallError(b.call('/v1/whoami', {}, { signal: aborted.signal }), ['ABORTED']);
  });

  it('reports an unreachable peer', async () => {
    const gone = new PeerServer({ credentials: pki.nodeA });
    const a = await gone.listen(0, '127.0.0.1');
    await gone.close();
    const err = await expectCallError(client(pki.nodeB, 'node-a', { port: a.port }).call('/v1/whoami', {}), ['UNREACHABLE']);
    assert.equal(err.retryable, true);
  });
});

function refusalLogged(reason: string): boolean {
  return logs.some((l) => l.message === 'peer API: refused a TLS client' && l.fields?.['reason'] === reason && l.fields['address'] === '127.0.0.1');
}

async function waitFor(cond: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail('condition not met in time');
    await sleep(10);
  }
}
