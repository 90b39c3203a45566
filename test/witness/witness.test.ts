// The witness service and its client over real mutual TLS on 127.0.0.1: one lease holder per
// module, release, expiry, identity from the certificate only, allowed nodes, body validation,
// durable registry of generations across restarts, the hold after a start, and the client's
// "no answer" cases.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { Generation } from '../../runtime/mirror/types.js';
import { PeerCallError, PeerClient, PeerServer, type TlsCredentials } from '../../runtime/transport/index.js';
import { WITNESS_STATE_FILE, WitnessClient, WitnessServer, type LeaseAnswer, type WitnessServerOptions } from '../../runtime/witness/index.js';
import { buildWitnessPki, type WitnessPki } from './fixture.js';

const HOST = '127.0.0.1';
const INIT: Generation = { id: 'init', supersedes: [] };

let pki: WitnessPki;
const closers: Array<() => unknown> = [];

before(async () => {
  pki = await buildWitnessPki();
});

after(async () => {
  for (const c of closers.reverse()) await c();
  pki?.cleanup();
});

interface Running {
  server: WitnessServer;
  port: number;
  lines: string[];
  allowed: string[];
  /** Moves the witness's clock forward. */
  advance(ms: number): void;
}

async function startWitness(opts: { dataDir?: string; leaseMs: number; skew?: boolean; waitHold?: boolean; allowed?: string[] }): Promise<Running> {
  const lines: string[] = [];
  const allowed = opts.allowed ?? ['node-a', 'node-b'];
  let offset = 0;
  const options: WitnessServerOptions = {
    credentials: pki.witness,
    dataDir: opts.dataDir ?? pki.tempDir('data'),
    allowedNodes: () => allowed,
    leaseMs: opts.leaseMs,
    log: (line) => lines.push(line),
  };
  if (opts.skew === true) options.clock = () => performance.now() + offset;
  const server = new WitnessServer(options);
  const { port } = await server.listen(0, HOST);
  closers.push(() => server.close());
  const running: Running = { server, port, lines, allowed, advance: (ms) => void (offset += ms) };
  if (opts.waitHold !== false) {
    if (opts.skew === true) running.advance(opts.leaseMs);
    else await sleep(Math.ceil(server.status().holdRemainingMs) + 5);
  }
  return running;
}

function client(credentials: TlsCredentials, port: number, extra: { timeoutMs?: number; expectedName?: string } = {}): WitnessClient {
  const c = new WitnessClient({
    credentials,
    witnesses: [{ address: HOST, port, ...(extra.expectedName !== undefined ? { expectedName: extra.expectedName } : {}) }],
    timeoutMs: extra.timeoutMs ?? 2_000,
  });
  closers.push(() => c.close());
  return c;
}

function rawClient(credentials: TlsCredentials, port: number): PeerClient {
  const c = new PeerClient({ credentials, host: HOST, port, expectedNodeName: 'witness', timeoutMs: 2_000 });
  closers.push(() => c.close());
  return c;
}

let clockValue = 1_000;
/** A request as the mirror machine makes it (sentAt: the node's clock, distinct per call). */
function req(generation: Generation = INIT, committed = true): { sentAt: number; generation: Generation; committed: boolean } {
  return { sentAt: (clockValue += 1.25), generation, committed };
}

function granted(a: LeaseAnswer): Extract<LeaseAnswer, { type: 'leaseGranted' }> {
  assert.equal(a.type, 'leaseGranted', JSON.stringify(a));
  return a as Extract<LeaseAnswer, { type: 'leaseGranted' }>;
}

function denied(a: LeaseAnswer, reason: string): Extract<LeaseAnswer, { type: 'leaseDenied' }> {
  assert.equal(a.type, 'leaseDenied', JSON.stringify(a));
  const d = a as Extract<LeaseAnswer, { type: 'leaseDenied' }>;
  assert.equal(d.reason, reason, JSON.stringify(a));
  return d;
}

async function expectCallError(p: Promise<unknown>, status: number, remoteCode: string, mentions?: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof PeerCallError, String(err));
    assert.equal(err.code, 'REMOTE', err.message);
    assert.equal(err.status, status, err.message);
    assert.equal(err.remoteCode, remoteCode, err.message);
    if (mentions !== undefined) assert.ok(err.message.includes(mentions), `${err.message} should mention ${mentions}`);
    return true;
  });
}

describe('one lease holder per module', () => {
  let w: Running;
  let a: WitnessClient;
  let b: WitnessClient;
  before(async () => {
    w = await startWitness({ leaseMs: 5_000, skew: true });
    a = client(pki.nodeA, w.port);
    b = client(pki.nodeB, w.port);
  });

  it('grants the lease to exactly one of two nodes asking at once; the other is denied "held"', async () => {
    const ra = req();
    const rb = req();
    const [ansA, ansB] = await Promise.all([a.requestLease('web', ra), b.requestLease('web', rb)]);
    const answers = [ansA, ansB];
    assert.equal(answers.filter((x) => x.type === 'leaseGranted').length, 1, JSON.stringify(answers));
    const winnerIsA = ansA.type === 'leaseGranted';
    const g = granted(winnerIsA ? ansA : ansB);
    assert.deepEqual(g, { type: 'leaseGranted', sentAt: winnerIsA ? ra.sentAt : rb.sentAt, durationMs: 5_000, genId: 'init' });
    const d = denied(winnerIsA ? ansB : ansA, 'held');
    assert.equal(d.sentAt, winnerIsA ? rb.sentAt : ra.sentAt);
    assert.equal(d.holder, winnerIsA ? 'node-a' : 'node-b');
    assert.ok(d.retryAfterMs !== null && d.retryAfterMs > 0 && d.retryAfterMs <= 5_000, String(d.retryAfterMs));
    assert.deepEqual(d.latest, INIT);
    // Leave node-a as the holder for the next tests.
    if (!winnerIsA) {
      assert.equal(await b.releaseLease('web', clockValue), true);
      granted(await a.requestLease('web', req()));
    }
  });

  it('lets the holder renew, keeps denying the other, and gives the lease to it after a release', async () => {
    granted(await a.requestLease('web', req()));
    denied(await b.requestLease('web', req()), 'held');
    assert.equal(await b.releaseLease('web', clockValue), false, 'node-b does not hold it: its release changes nothing');
    denied(await b.requestLease('web', req()), 'held');
    assert.equal(await a.releaseLease('web', clockValue), true);
    const g = granted(await b.requestLease('web', req()));
    assert.equal(g.durationMs, 5_000);
    const d = denied(await a.requestLease('web', req()), 'held');
    assert.equal(d.holder, 'node-b');
    assert.equal(w.server.status().modules.find((m) => m.module === 'web')?.holder?.node, 'node-b');
  });

  it('gives the lease to the other node once the holder\'s lease expired (witness clock)', async () => {
    denied(await a.requestLease('web', req()), 'held');
    w.advance(5_001);
    granted(await a.requestLease('web', req()));
    assert.ok(w.lines.some((l) => l === 'lease web: expired (held by node-b)'), w.lines.join('\n'));
  });

  it('ignores a release overtaken by a newer request of the holder (upTo)', async () => {
    const g = req();
    granted(await a.requestLease('order', g));
    const renewal = req();
    granted(await a.requestLease('order', renewal));
    // The release was issued before the renewal was sent, but arrives after it: the lease stays.
    assert.equal(await a.releaseLease('order', g.sentAt), false);
    assert.equal(denied(await b.requestLease('order', req()), 'held').holder, 'node-a');
    assert.ok(w.lines.includes('lease order: release by node-a ignored: the lease was renewed for a request sent after it'), w.lines.join('\n'));
    assert.equal(await a.releaseLease('order', renewal.sentAt), true);
    granted(await b.requestLease('order', req()));
  });

  it('keeps one lease per module', async () => {
    granted(await a.requestLease('app-one', req()));
    granted(await b.requestLease('app-two', req()));
    assert.equal(denied(await b.requestLease('app-one', req()), 'held').holder, 'node-a');
    assert.equal(denied(await a.requestLease('app-two', req()), 'held').holder, 'node-b');
    const st = w.server.status();
    assert.equal(st.witness, 'witness');
    assert.deepEqual(
      st.modules.filter((m) => m.module.startsWith('app-')).map((m) => [m.module, m.holder?.node]),
      [['app-one', 'node-a'], ['app-two', 'node-b']],
    );
  });

  it('takes the requesting node from its certificate, never from the body', async () => {
    const c = rawClient(pki.nodeA, w.port);
    const r = await c.call<{ type: string; node: string }>('/v1/lease', { module: 'ident', node: 'node-b', sentAt: 1, generation: INIT, committed: true });
    assert.equal(r.type, 'granted');
    assert.equal(r.node, 'node-a');
    const d = denied(await b.requestLease('ident', req()), 'held');
    assert.equal(d.holder, 'node-a');
    // A release claiming to be node-a in the body, sent by node-b, releases nothing.
    const rel = await rawClient(pki.nodeB, w.port).call<{ released: boolean }>('/v1/release', { module: 'ident', node: 'node-a', upTo: clockValue });
    assert.equal(rel.released, false);
    denied(await b.requestLease('ident', req()), 'held');
  });

  it('answers its status over the API to allowed nodes', async () => {
    const st = await rawClient(pki.nodeA, w.port).call<{ witness: string; leaseMs: number; modules: Array<{ module: string; holder: { node: string } | null; latest: Generation | null }> }>('/v1/status');
    assert.equal(st.witness, 'witness');
    assert.equal(st.leaseMs, 5_000);
    const web = st.modules.find((m) => m.module === 'web');
    assert.equal(web?.holder?.node, 'node-a');
    assert.deepEqual(web?.latest, INIT);
  });

  it('refuses a node outside allowedNodes (checked on every request)', async () => {
    const c = client(pki.nodeC, w.port);
    const r = req();
    assert.deepEqual(await c.requestLease('other', r), { type: 'leaseNoAnswer', sentAt: r.sentAt });
    await expectCallError(rawClient(pki.nodeC, w.port).call('/v1/lease', { module: 'other', ...req() }), 403, 'UNKNOWN_NODE');
    assert.equal(w.server.status().modules.find((m) => m.module === 'other'), undefined);
    // Removing node-b from the allowed nodes shuts it out at once; adding it back lets it in.
    w.allowed.splice(w.allowed.indexOf('node-b'), 1);
    try {
      assert.equal((await b.requestLease('other', req())).type, 'leaseNoAnswer');
    } finally {
      w.allowed.push('node-b');
    }
    granted(await b.requestLease('other', req()));
  });

  it('refuses a client whose certificate comes from another CA (its call fails: no answer)', async () => {
    const c = client(pki.betaB, w.port); // named node-b, an allowed name, but not of this cluster
    const r = req();
    const t0 = performance.now();
    assert.deepEqual(await c.requestLease('foreign', r), { type: 'leaseNoAnswer', sentAt: r.sentAt });
    assert.ok(performance.now() - t0 < 2_000);
    assert.equal(await c.releaseLease('other', clockValue), false);
    assert.equal(w.server.status().modules.find((m) => m.module === 'foreign'), undefined);
    assert.equal(w.server.status().modules.find((m) => m.module === 'other')?.holder?.node, 'node-b', 'the foreign release changed nothing');
  });

  it('gives no answer when the witness does not carry the expected name', async () => {
    const c = client(pki.nodeA, w.port, { expectedName: 'witness-2' });
    assert.equal((await c.requestLease('named', req())).type, 'leaseNoAnswer');
    assert.equal(w.server.status().modules.find((m) => m.module === 'named'), undefined);
  });

  it('rejects malformed requests with clear 400 errors', async () => {
    const c = rawClient(pki.nodeA, w.port);
    const ok = { module: 'val', sentAt: 5, generation: INIT, committed: false };
    await expectCallError(c.call('/v1/lease', { ...ok, module: 'Web' }), 400, 'BAD_REQUEST', 'module must match');
    await expectCallError(c.call('/v1/lease', { ...ok, module: 'a'.repeat(64) }), 400, 'BAD_REQUEST', 'module must match');
    await expectCallError(c.call('/v1/lease', { ...ok, module: undefined }), 400, 'BAD_REQUEST', 'module is missing');
    await expectCallError(c.call('/v1/lease', { ...ok, sentAt: '5' }), 400, 'BAD_REQUEST', 'sentAt must be a finite number');
    await expectCallError(c.call('/v1/lease', { ...ok, generation: 'init' }), 400, 'BAD_REQUEST', 'generation must be an object');
    await expectCallError(c.call('/v1/lease', { ...ok, generation: { id: '', supersedes: [] } }), 400, 'BAD_REQUEST', 'generation.id');
    await expectCallError(c.call('/v1/lease', { ...ok, generation: { id: 'x', supersedes: 'init' } }), 400, 'BAD_REQUEST', 'generation.supersedes must be an array');
    await expectCallError(c.call('/v1/lease', { ...ok, generation: { id: 'x', supersedes: ['init', 3] } }), 400, 'BAD_REQUEST', 'generation.supersedes[1]');
    await expectCallError(c.call('/v1/lease', { ...ok, committed: 'yes' }), 400, 'BAD_REQUEST', 'committed must be true or false');
    await expectCallError(c.call('/v1/lease', [ok]), 400, 'BAD_REQUEST', 'the body must be a JSON object');
    await expectCallError(c.call('/v1/lease'), 400, 'BAD_REQUEST', 'the body must be a JSON object');
    await expectCallError(c.call('/v1/release', { module: '-x', upTo: 1 }), 400, 'BAD_REQUEST', 'module must match');
    await expectCallError(c.call('/v1/release', { module: 'val' }), 400, 'BAD_REQUEST', 'upTo must be a finite number');
    assert.equal(w.server.status().modules.find((m) => m.module === 'val'), undefined);
    assert.equal((await c.call<{ type: string }>('/v1/lease', ok)).type, 'granted');
  });

  it('logs each change once: grants, releases, expiries, and a denial only when its reason changes', () => {
    const web = w.lines.filter((l) => l.startsWith('lease web:'));
    assert.ok(web.some((l) => /^lease web: granted to node-[ab] for 5000 ms \(generation init, newly registered\)$/.test(l)), web.join('\n'));
    assert.ok(web.includes('lease web: released by node-a'), web.join('\n'));
    assert.ok(web.includes('lease web: granted to node-b for 5000 ms (generation init)'), web.join('\n'));
    const heldDenials = web.filter((l) => l.startsWith('lease web: denied to node-b: held: held by node-a'));
    assert.ok(heldDenials.length >= 1, web.join('\n'));
    // node-b was denied "held by node-a" three times in a row in one test, logged once there.
    assert.ok(heldDenials.length <= 2, web.join('\n'));
    assert.ok(w.lines.every((l) => !l.includes('\n')));
  });
});

describe('registry of generations, expiry and restarts', () => {
  const G1: Generation = { id: 'node-a.1.1', supersedes: ['init'] };
  const B1: Generation = { id: 'node-b.1.1', supersedes: ['init'] };
  let dataDir: string;

  it('grants nothing right after a start ("unavailable"), then grants', async () => {
    dataDir = pki.tempDir('restart');
    const w = await startWitness({ dataDir, leaseMs: 300, waitHold: false });
    const a = client(pki.nodeA, w.port);
    const hold = w.server.status().holdRemainingMs;
    assert.ok(hold > 0 && hold <= 300, String(hold));
    const d = denied(await a.requestLease('db', req()), 'unavailable');
    assert.ok(d.retryAfterMs !== null && d.retryAfterMs > 0 && d.retryAfterMs <= 300, String(d.retryAfterMs));
    await sleep(d.retryAfterMs + 10);
    granted(await a.requestLease('db', req()));
    await w.server.close();
  });

  it('expires a lease after leaseMs (real time) and then grants it to the other node', async () => {
    // 1.5 s leases: the requests that must find the lease still held have that long (a loaded CI
    // machine can take hundreds of ms between two requests).
    const w = await startWitness({ dataDir, leaseMs: 1500 });
    const a = client(pki.nodeA, w.port);
    const b = client(pki.nodeB, w.port);
    granted(await a.requestLease('exp', req()));
    const d = denied(await b.requestLease('exp', req()), 'held');
    assert.ok(d.retryAfterMs !== null && d.retryAfterMs <= 1500);
    await sleep(d.retryAfterMs + 20);
    granted(await b.requestLease('exp', req()));
    denied(await a.requestLease('exp', req()), 'held');
    await sleep(1550);
    assert.ok(w.lines.includes('lease exp: expired (held by node-a)'), w.lines.join('\n'));
    // Logged by a timer, without any request.
    assert.ok(w.lines.includes('lease exp: expired (held by node-b)'), w.lines.join('\n'));
    await w.server.close();
  });

  it('writes a new latest generation durably before answering, and refuses stale and diverged generations', async () => {
    const w = await startWitness({ dataDir, leaseMs: 300 });
    const a = client(pki.nodeA, w.port);
    const b = client(pki.nodeB, w.port);
    granted(await a.requestLease('db', req(G1, false)));
    const file = JSON.parse(readFileSync(join(dataDir, WITNESS_STATE_FILE), 'utf8')) as { format: number; leaseMs: number; modules: Record<string, Generation> };
    assert.deepEqual(file, { format: 1, leaseMs: 300, modules: { db: G1, exp: INIT } });
    assert.deepEqual(readdirSync(dataDir).filter((f) => f.endsWith('.tmp')), []);
    await sleep(320);
    const s = denied(await b.requestLease('db', req(INIT)), 'stale');
    assert.deepEqual(s.latest, G1);
    assert.equal(s.holder, null);
    denied(await b.requestLease('db', req(B1, true)), 'diverged');
    // An uncommitted generation started from an old one gives way: stale, not diverged.
    denied(await b.requestLease('db', req(B1, false)), 'stale');
    assert.ok(w.lines.some((l) => l === 'lease db: denied to node-b: stale: generation init is older than the registered node-a.1.1'), w.lines.join('\n'));
    await w.server.close();
  });

  it('keeps the registry across a restart: nothing granted for leaseMs, then a stale generation is denied', async () => {
    const w = await startWitness({ dataDir, leaseMs: 300, waitHold: false });
    const a = client(pki.nodeA, w.port);
    const b = client(pki.nodeB, w.port);
    denied(await a.requestLease('db', req(G1)), 'unavailable');
    denied(await b.requestLease('brand-new', req()), 'unavailable'); // modules unknown to the registry too
    await sleep(w.server.status().holdRemainingMs + 10);
    const s = denied(await b.requestLease('db', req(INIT)), 'stale');
    assert.deepEqual(s.latest, G1);
    assert.deepEqual(w.server.status().modules.find((m) => m.module === 'db')?.latest, G1);
    granted(await a.requestLease('db', req(G1)));
    await w.server.close();
  });

  it('after a restart with a shorter lease, waits out the longer lease of the previous run', async () => {
    const longDir = pki.tempDir('long');
    const w1 = await startWitness({ dataDir: longDir, leaseMs: 900, skew: true });
    granted(await client(pki.nodeA, w1.port).requestLease('db', req(G1)));
    await w1.server.close();
    const w2 = await startWitness({ dataDir: longDir, leaseMs: 100, waitHold: false });
    const hold = w2.server.status().holdRemainingMs;
    assert.ok(hold > 800 && hold <= 900, String(hold));
    assert.ok(w2.lines.some((l) => l.includes('no lease granted for the first 900 ms')), w2.lines.join('\n'));
    await w2.server.close();
  });

  it('refuses to start with a damaged registry', async () => {
    const bad = pki.tempDir('bad');
    mkdirSync(bad, { recursive: true });
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(bad, WITNESS_STATE_FILE), '{"format":1,"modules":{"db":{"id":"x"}}}');
    const server = new WitnessServer({ credentials: pki.witness, dataDir: bad, allowedNodes: () => ['node-a'] });
    await assert.rejects(server.listen(0, HOST), /modules\.db\.supersedes must be an array/);
  });

  it('answers no grant when the registry cannot be written, and writes it before the next answer', async () => {
    const dir = pki.tempDir('persist');
    const w = await startWitness({ dataDir: dir, leaseMs: 5_000, skew: true });
    const a = client(pki.nodeA, w.port);
    rmSync(dir, { recursive: true, force: true });
    assert.equal((await a.requestLease('db', req(G1))).type, 'leaseNoAnswer');
    assert.equal(w.server.status().modules.find((m) => m.module === 'db')?.holder ?? null, null, 'no holder recorded without the write');
    assert.ok(w.lines.some((l) => l.startsWith('error: lease db: cannot write the registry')), w.lines.join('\n'));
    mkdirSync(dir);
    granted(await a.requestLease('db', req(G1)));
    assert.ok(existsSync(join(dir, WITNESS_STATE_FILE)));
  });
});

describe('client: no answer', () => {
  it('returns leaseNoAnswer quickly when nothing listens on the witness port', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, HOST, () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const c = client(pki.nodeA, port, { timeoutMs: 500 });
    const r = req();
    const t0 = performance.now();
    assert.deepEqual(await c.requestLease('web', r), { type: 'leaseNoAnswer', sentAt: r.sentAt });
    assert.ok(performance.now() - t0 < 500);
    assert.equal(await c.releaseLease('web', clockValue), false);
  });

  it('returns leaseNoAnswer within its timeout when the witness accepts connections but never answers', async () => {
    const sockets: Socket[] = [];
    const hole: Server = createServer((s) => void sockets.push(s));
    await new Promise<void>((resolve) => hole.listen(0, HOST, resolve));
    closers.push(() => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      hole.close(() => resolve());
    }));
    const c = client(pki.nodeA, (hole.address() as { port: number }).port, { timeoutMs: 400 });
    const r = req();
    const t0 = performance.now();
    assert.deepEqual(await c.requestLease('web', r), { type: 'leaseNoAnswer', sentAt: r.sentAt });
    const took = performance.now() - t0;
    assert.ok(took >= 350 && took < 1_000, String(took));
  });

  it('returns leaseNoAnswer for an answer that is not for this request', async () => {
    const fake = new PeerServer({ credentials: pki.witness });
    let answer: (body: { sentAt: number; generation: Generation }) => unknown = () => null;
    fake.route('POST', '/v1/lease', (body) => answer(body as { sentAt: number; generation: Generation }));
    const { port } = await fake.listen(0, HOST);
    closers.push(() => fake.close());
    const c = client(pki.nodeA, port);
    answer = (b) => ({ type: 'granted', node: 'node-a', sentAt: b.sentAt + 1, durationMs: 1000, genId: b.generation.id });
    assert.equal((await c.requestLease('web', req())).type, 'leaseNoAnswer');
    answer = (b) => ({ type: 'granted', node: 'node-b', sentAt: b.sentAt, durationMs: 1000, genId: b.generation.id });
    assert.equal((await c.requestLease('web', req())).type, 'leaseNoAnswer');
    answer = (b) => ({ type: 'granted', node: 'node-a', sentAt: b.sentAt, durationMs: 1000, genId: 'other' });
    assert.equal((await c.requestLease('web', req())).type, 'leaseNoAnswer');
    answer = (b) => ({ type: 'denied', node: 'node-a', sentAt: b.sentAt, reason: 'bored', holder: null, latest: null, retryAfterMs: null });
    assert.equal((await c.requestLease('web', req())).type, 'leaseNoAnswer');
    answer = (b) => ({ type: 'granted', node: 'node-a', sentAt: b.sentAt, durationMs: 1000, genId: b.generation.id });
    const r = req();
    assert.deepEqual(await c.requestLease('web', r), { type: 'leaseGranted', sentAt: r.sentAt, durationMs: 1000, genId: 'init' });
    assert.equal((await c.requestLease('Not_A_Module', req())).type, 'leaseNoAnswer');
  });

  it('uses only the first of several witnesses', async () => {
    const c = new WitnessClient({
      credentials: pki.nodeA,
      witnesses: [{ address: HOST, port: 1, name: 'w1' }, { address: HOST, port: 2 }],
      timeoutMs: 300,
    });
    closers.push(() => c.close());
    assert.deepEqual(c.witness, { address: HOST, port: 1, expectedName: 'w1' });
    assert.equal(c.ignoredWitnesses, 1);
    const r = req();
    assert.deepEqual(await c.request('web', r), { type: 'leaseNoAnswer', sentAt: r.sentAt });
    await c.release('web', r.sentAt);
    assert.throws(() => new WitnessClient({ credentials: pki.nodeA, witnesses: [], timeoutMs: 300 }), /at least one witness/);
  });
});
