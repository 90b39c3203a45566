// The checker probes against real local servers and programs on 127.0.0.1 (no root needed).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeCommand, probeHttp, probeInterface, probePing, probeTcp, HTTP_BODY_CAP } from '../../runtime/probes/index.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** Alive and not a zombie (an orphan killed here is reparented to pid 1, which may reap late). */
function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('probeTcp', () => {
  test('a listening port: ok', async () => {
    const srv = createTcpServer((s) => s.destroy());
    const port = await listen(srv);
    try {
      const r = await probeTcp('127.0.0.1', port, 1000);
      assert.equal(r.ok, true, r.detail);
      assert.match(r.detail, /connected/);
      assert.ok(r.durationMs >= 0 && r.durationMs < 1000);
    } finally {
      srv.close();
    }
  });

  test('a closed port: refused, not ok', async () => {
    const srv = createTcpServer();
    const port = await listen(srv);
    await new Promise<void>((r) => srv.close(() => r()));
    const r = await probeTcp('127.0.0.1', port, 1000);
    assert.equal(r.ok, false);
    assert.match(r.detail, /ECONNREFUSED/);
  });

  test('an invalid port never throws', async () => {
    const r = await probeTcp('127.0.0.1', 70000, 1000);
    assert.equal(r.ok, false);
    assert.match(r.detail, /invalid port/);
  });
});

describe('probeHttp', () => {
  let server: Server;
  let base = '';
  const sockets = new Set<import('node:net').Socket>();
  before(async () => {
    server = createHttpServer((req, res) => {
      switch (req.url) {
        case '/ok':
          res.end('hello from the service');
          return;
        case '/fail':
          res.statusCode = 500;
          res.end('broken');
          return;
        case '/redirect':
          res.writeHead(302, { location: '/fail' });
          res.end();
          return;
        case '/big': // the marker lies past the 64 KiB cap
          res.write(Buffer.alloc(HTTP_BODY_CAP + 1024, 'a'));
          res.end('MARKER');
          return;
        case '/stream': // the marker comes at once, the body never ends
          res.write('MARKER ');
          return;
        case '/hang': // never answers
          return;
        default:
          res.statusCode = 404;
          res.end();
      }
    });
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    base = `http://127.0.0.1:${await listen(server)}`;
  });
  after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });

  test('200: ok with the default 200-399', async () => {
    const r = await probeHttp({ url: `${base}/ok`, timeoutMs: 1000 });
    assert.equal(r.ok, true, r.detail);
    assert.match(r.detail, /HTTP 200/);
  });

  test('500: not ok', async () => {
    const r = await probeHttp({ url: `${base}/fail`, timeoutMs: 1000 });
    assert.equal(r.ok, false);
    assert.match(r.detail, /HTTP 500 \(expected 200-399\)/);
  });

  test('expectStatus [500] accepts the 500', async () => {
    const r = await probeHttp({ url: `${base}/fail`, expectStatus: [500], timeoutMs: 1000 });
    assert.equal(r.ok, true, r.detail);
  });

  test('redirects are not followed', async () => {
    const r = await probeHttp({ url: `${base}/redirect`, timeoutMs: 1000 });
    assert.equal(r.ok, true, r.detail); // the 302 itself, not the 500 it points to
    assert.match(r.detail, /HTTP 302/);
    const strict = await probeHttp({ url: `${base}/redirect`, expectStatus: [200], timeoutMs: 1000 });
    assert.equal(strict.ok, false);
  });

  test('expectBody: found / not found', async () => {
    const yes = await probeHttp({ url: `${base}/ok`, expectBody: 'from the service', timeoutMs: 1000 });
    assert.equal(yes.ok, true, yes.detail);
    const no = await probeHttp({ url: `${base}/ok`, expectBody: 'nope', timeoutMs: 1000 });
    assert.equal(no.ok, false);
    assert.match(no.detail, /does not contain "nope"/);
  });

  test('the body is read up to 64 KiB only', async () => {
    const r = await probeHttp({ url: `${base}/big`, expectBody: 'MARKER', timeoutMs: 2000 });
    assert.equal(r.ok, false, r.detail);
    assert.match(r.detail, /does not contain/);
  });

  test('a body that never ends is judged as soon as it contains the text', async () => {
    const r = await probeHttp({ url: `${base}/stream`, expectBody: 'MARKER', timeoutMs: 2000 });
    assert.equal(r.ok, true, r.detail);
    assert.ok(r.durationMs < 1000, `${r.durationMs}`);
  });

  test('HEAD', async () => {
    const r = await probeHttp({ url: `${base}/ok`, method: 'HEAD', timeoutMs: 1000 });
    assert.equal(r.ok, true, r.detail);
  });

  test('a server that never answers: timed out at the deadline', async () => {
    const r = await probeHttp({ url: `${base}/hang`, timeoutMs: 300 });
    assert.equal(r.ok, false);
    assert.match(r.detail, /timed out after 300 ms/);
    assert.ok(r.durationMs >= 250 && r.durationMs < 1000, `${r.durationMs}`);
  });

  test('an external abort', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const r = await probeHttp({ url: `${base}/hang`, timeoutMs: 5000, signal: ac.signal });
    assert.equal(r.ok, false);
    assert.match(r.detail, /aborted/);
  });

  test('bad URLs and refused connections never throw', async () => {
    assert.equal((await probeHttp({ url: 'not a url', timeoutMs: 100 })).ok, false);
    assert.match((await probeHttp({ url: 'ftp://127.0.0.1/', timeoutMs: 100 })).detail, /unsupported/);
    const srv = createTcpServer();
    const port = await listen(srv);
    await new Promise<void>((r) => srv.close(() => r()));
    const r = await probeHttp({ url: `http://127.0.0.1:${port}/`, timeoutMs: 1000 });
    assert.equal(r.ok, false);
    assert.match(r.detail, /ECONNREFUSED/);
  });
});

describe('probeCommand', () => {
  let dir = '';
  const script = (name: string, body: string): string => {
    const p = join(dir, name);
    writeFileSync(p, `#!/bin/sh\n${body}\n`);
    chmodSync(p, 0o755);
    return p;
  };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hamod-probe-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('exit 0: ok, detail has the last line', async () => {
    const r = await probeCommand({ path: script('ok.sh', 'echo first; echo "all good"'), timeoutMs: 2000 });
    assert.equal(r.ok, true, r.detail);
    assert.equal(r.detail, 'exit 0: all good');
  });

  test('exit 1: not ok, the last line of stdout+stderr', async () => {
    const r = await probeCommand({ path: script('fail.sh', 'echo starting; echo "db unreachable" >&2; exit 1'), timeoutMs: 2000 });
    assert.equal(r.ok, false);
    assert.equal(r.detail, 'exit 1: db unreachable');
  });

  test('the last line is capped at 200 characters', async () => {
    const r = await probeCommand({ path: script('long.sh', 'printf "%0500d\\n" 7; exit 3'), timeoutMs: 2000 });
    assert.equal(r.ok, false);
    const line = r.detail.replace(/^exit 3: /, '');
    assert.equal(line.length, 200);
    assert.ok(line.endsWith('7'));
  });

  test('env and args are passed', async () => {
    const r = await probeCommand({
      path: script('env.sh', 'echo "$HAMOD_PARAM_X $1"'),
      args: ['arg1'],
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HAMOD_PARAM_X: 'x-value' },
      timeoutMs: 2000,
    });
    assert.equal(r.detail, 'exit 0: x-value arg1');
  });

  test('timeout: the whole process group is killed', async () => {
    const pids = join(dir, 'pids');
    const path = script('hang.sh', `sleep 60 & echo $! > ${pids}; echo "waiting"; echo $$ >> ${pids}; sleep 60`);
    const t0 = Date.now();
    const r = await probeCommand({ path, timeoutMs: 400 });
    assert.equal(r.ok, false);
    assert.match(r.detail, /^timed out after 400 ms, process group killed: waiting$/);
    assert.ok(Date.now() - t0 < 1500, `${Date.now() - t0} ms`);
    const all = readFileSync(pids, 'utf8').trim().split('\n').map(Number);
    assert.equal(all.length, 2);
    await sleep(50);
    for (const pid of all) assert.equal(pidAlive(pid), false, `pid ${pid} survived`);
  });

  test('background leftovers of a finished check are killed', async () => {
    const pids = join(dir, 'bg');
    const r = await probeCommand({ path: script('bg.sh', `sleep 60 & echo $! > ${pids}; echo done`), timeoutMs: 2000 });
    assert.equal(r.ok, true, r.detail);
    assert.ok(r.durationMs < 1000, `${r.durationMs}`);
    await sleep(50);
    assert.equal(pidAlive(Number(readFileSync(pids, 'utf8').trim())), false);
  });

  test('a missing program: not ok, no throw', async () => {
    const r = await probeCommand({ path: join(dir, 'does-not-exist'), timeoutMs: 1000 });
    assert.equal(r.ok, false);
    assert.match(r.detail, /cannot run .*ENOENT/);
  });
});

describe('probePing and probeInterface (local)', () => {
  test('ping 127.0.0.1 answers', async () => {
    const r = await probePing(['127.0.0.1'], 1000);
    assert.equal(r.ok, true, r.detail);
    assert.match(r.detail, /127\.0\.0\.1 answered/);
  });

  test('ping rejects option-like addresses', async () => {
    const r = await probePing(['-f'], 1000);
    assert.equal(r.ok, false);
    assert.match(r.detail, /invalid address/);
    assert.equal((await probePing([], 1000)).ok, false);
  });

  test('lo is up (loopback reports operstate UNKNOWN)', async () => {
    const r = await probeInterface('lo');
    assert.equal(r.ok, true, r.detail);
    const v = await probeInterface('lo', { vip: '127.0.0.1' });
    assert.equal(v.ok, true, v.detail);
    const missing = await probeInterface('lo', { vip: '127.0.0.2' }); // in 127/8 but not configured
    assert.equal(missing.ok, false);
    assert.match(missing.detail, /not configured/);
  });

  test('an unknown interface: not ok', async () => {
    const r = await probeInterface('hamodnope0');
    assert.equal(r.ok, false);
    assert.match(r.detail, /does not exist|no such/i);
  });
});
