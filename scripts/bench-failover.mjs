// Failover benchmark on test hosts (test/harness): host crash of the primary -> first answer from the
// survivor at the virtual IP, hamod against keepalived (Debian package, its defaults) side by side in
// one run, on the same kind of hosts (n1, n2, and w as witness and client) with the same probe; then
// a soak with both CPUs saturated that counts false failovers of an idle hamod cluster.
// Medians, min, max, p90; ends with ONE JSON line. Needs root, the harness's tools and keepalived.
//
//   BENCH_RUNS    failovers per side (default 10), interleaved hamod / keepalived
//   BENCH_SOAK_S  length of the CPU-saturated soak in seconds (default 300; 0 skips it)
//   BENCH_MAX_S   hard limit on the whole benchmark (default: runs x 60 s + soak + 180 s)
//
// The same file also runs, in other processes: the probe (`--probe URL MAX_MS`, inside w), the tiny
// HTTP server of the keepalived hosts (`--serve PORT NAME`) and the CPU burners (`--burn MAX_MS`).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync, createWriteStream } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const SELF = new URL(import.meta.url).pathname;
const ROOT = new URL('..', import.meta.url).pathname;
const APP_PORT = 8080;
const now = () => performance.timeOrigin + performance.now(); // epoch ms, sub-ms; comparable across processes
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const mode = process.argv[2];
if (mode === '--probe') probeMain(process.argv[3], Number(process.argv[4]));
else if (mode === '--serve') serveMain(Number(process.argv[3]), process.argv[4]);
else if (mode === '--burn') burnMain(Number(process.argv[3]));
else await main();

// ------------------------------------------------------------------------------------------------
// helper processes

/** Client on w: a GET every 10 ms (new connection each, 250 ms timeout); one JSON line per outcome:
 * {s: sent, t: done, n: node that answered} or {s, t, e: error}. Exits at MAX_MS or when stdin closes. */
async function probeMain(url, maxMs) {
  const http = await import('node:http');
  const end = now() + (Number.isFinite(maxMs) ? maxMs : 60_000);
  let inflight = 0;
  const out = [];
  const flush = () => { if (out.length) { process.stdout.write(out.join('')); out.length = 0; } };
  const once = () => {
    if (inflight >= 64) return; // bounded concurrency (25 at most with these timings)
    inflight++;
    const s = now();
    let done = false;
    const finish = (rec) => { if (done) return; done = true; inflight--; out.push(JSON.stringify({ s: +s.toFixed(2), t: +now().toFixed(2), ...rec }) + '\n'); };
    const req = http.get(url, { agent: false, timeout: 250 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => { const m = / on ([A-Za-z0-9_.-]+):/.exec(body); finish(m ? { n: m[1] } : { e: `bad answer ${res.statusCode}` }); });
      res.on('error', (err) => finish({ e: err.code ?? err.message }));
    });
    req.on('timeout', () => { req.destroy(new Error('timeout')); });
    req.on('error', (err) => finish({ e: err.code ?? err.message }));
  };
  const timer = setInterval(() => { if (now() > end) { clearInterval(timer); flush(); process.exit(0); } once(); flush(); }, 10);
  process.stdin.on('end', () => { flush(); process.exit(0); });
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}

/** The keepalived hosts' application: answers "keepalived demo on NAME: ok" on every address. */
async function serveMain(port, name) {
  const http = await import('node:http');
  http.createServer((req, res) => res.end(`keepalived demo on ${name}: ok\n`)).listen(port);
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

/** One CPU busy loop at normal priority; stops by itself at MAX_MS or when its parent is gone. */
function burnMain(maxMs) {
  const end = Date.now() + (Number.isFinite(maxMs) ? maxMs : 1000);
  const parent = process.ppid;
  let x = 0;
  for (let i = 1; ; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    if (i % 1_000_000 === 0 && (Date.now() > end || process.ppid !== parent)) process.exit(x === -1 ? 1 : 0);
  }
}

// ------------------------------------------------------------------------------------------------
// the benchmark

async function main() {
  if (process.getuid?.() !== 0) {
    console.error('bench:failover needs root (it creates network namespaces: test/harness/README.md)');
    process.exit(1);
  }
  const intEnv = (name, dflt) => { const v = process.env[name]; const n = v === undefined || v === '' ? dflt : Number(v); if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer`); return n; };
  const RUNS = intEnv('BENCH_RUNS', 10);
  const SOAK_S = intEnv('BENCH_SOAK_S', 300);
  const MAX_S = intEnv('BENCH_MAX_S', RUNS * 60 + SOAK_S + 180);
  const harness = await import(join(ROOT, 'dist/test/harness/index.js'));
  const fixture = await import(join(ROOT, 'dist/test/cluster/fixture.js'));
  {
    const r = await harness.runCommand(['keepalived', '--version'], { timeoutMs: 5000 }).catch((e) => ({ code: -1, stderr: String(e) }));
    if (r.code !== 0) { console.error('keepalived not found: apt-get install keepalived (listed in .ci/apt-packages.txt)'); process.exit(1); }
    const why = harness.netnsUnavailableReason?.();
    if (why) { console.error(`test hosts unavailable: ${why}`); process.exit(1); }
  }

  // ---- cleanup: everything this process creates is registered here, removed on every exit path
  const cleanup = { hooks: [], dirs: new Set(), emptyDirs: new Set(), children: new Set() };
  const killChildren = () => { for (const c of cleanup.children) { try { if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); } catch { /* gone */ } } };
  const removeDirs = () => {
    for (const d of cleanup.dirs) rmSync(d, { recursive: true, force: true });
    for (const d of cleanup.emptyDirs) { try { rmdirSync(d); } catch { /* not there / not empty */ } }
  };
  const cleanupSync = () => {
    killChildren();
    for (const n of harness.liveTestNets()) { try { n.destroySync(); } catch { /* best effort */ } }
    removeDirs();
  };
  let aborting = false;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      if (aborting) return;
      aborting = true;
      console.error(`\n${sig}: cleaning up (test hosts, agents, keepalived, burners, temp dirs)`);
      cleanupSync();
      process.exit(130);
    });
  }
  process.on('exit', () => { killChildren(); removeDirs(); });
  const deadline = Date.now() + MAX_S * 1000;
  const watchdog = setTimeout(() => {
    console.error(`bench:failover: BENCH_MAX_S=${MAX_S} s exceeded: aborting and cleaning up`);
    cleanupSync();
    process.exit(2);
  }, MAX_S * 1000);
  watchdog.unref();
  const timeLeft = () => deadline - Date.now();
  const fakeT = () => { const hooks = []; return { hooks, after: (fn) => hooks.push(fn) }; };
  const runHooks = async (t) => { for (const fn of t.hooks.reverse()) { try { await fn(); } catch (e) { console.error(`cleanup: ${e.message}`); } } };

  /** Starts the probe inside `host` towards http://VIP:PORT/; collects its records. */
  const startProbe = (host, vip, maxMs) => {
    const child = host.spawn([process.execPath, SELF, '--probe', `http://${vip}:${APP_PORT}/`, String(maxMs)], { stdio: ['pipe', 'pipe', 'pipe'] });
    cleanup.children.add(child);
    const records = [];
    let buf = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try { if (records.length < 200_000) records.push(JSON.parse(line)); } catch { /* partial */ }
      }
    });
    child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-2000); });
    const exited = new Promise((r) => child.once('exit', r));
    return {
      records,
      get stderr() { return stderr; },
      /** Resolves when `pred(record)` holds for a record received at or after `since`. */
      async first(pred, since, timeoutMs) {
        const end = Date.now() + timeoutMs;
        let k = 0;
        for (;;) {
          for (; k < records.length; k++) if (records[k].t >= since && pred(records[k])) return records[k];
          if (Date.now() > end || child.exitCode !== null) return null;
          await sleep(5);
        }
      },
      /** Waits until every record of the last `windowMs` answered from the same node, and returns it. */
      async steady(windowMs, timeoutMs) {
        const end = Date.now() + timeoutMs;
        for (;;) {
          const t = now();
          const recent = records.filter((r) => r.t >= t - windowMs);
          const nodes = new Set(recent.map((r) => r.n ?? '-'));
          if (recent.length >= windowMs / 20 && nodes.size === 1 && !nodes.has('-')) return recent[0].n;
          if (Date.now() > end || child.exitCode !== null) return null;
          await sleep(50);
        }
      },
      async stop() { try { child.stdin.end(); } catch { /* gone */ } await Promise.race([exited, sleep(2000)]); try { child.kill('SIGKILL'); } catch { /* gone */ } cleanup.children.delete(child); },
    };
  };

  const readLog = (path) => { try { return readFileSync(path, 'utf8'); } catch { return ''; } };
  const events = (text) => text.split('\n').map((l) => /^(\d{4}-\d\d-\d\dT[\d:.]+Z) (?:hamod event: )?(.*)$/.exec(l)).filter(Boolean).map((m) => ({ t: Date.parse(m[1]), text: m[2], line: m[0] }));
  const firstAfter = (evs, since, re) => evs.find((e) => e.t >= Math.floor(since) && re.test(e.text))?.t ?? null;
  const notes = [];

  // ---- one hamod failover
  async function hamodRun(i) {
    const t = fakeT();
    cleanup.hooks.push(t);
    let c;
    try {
      c = await fixture.startMirrorCluster(t);
      cleanup.dirs.add(c.root);
      cleanup.emptyDirs.add(`/var/lib/hamod-test-${c.net.runId}`); // the fixture's bind mount point of the app data, left on the machine's disk
      const p = await c.waitFor('a primary and a secondary', (x) => (x.n1 === 'PRIM' && x.n2 === 'SECOND') || (x.n2 === 'PRIM' && x.n1 === 'SECOND'), 30_000);
      const prim = p.n1 === 'PRIM' ? 'n1' : 'n2';
      const second = prim === 'n1' ? 'n2' : 'n1';
      const probe = startProbe(c.hosts.w, c.vip, 90_000);
      const steady = await probe.steady(1000, 20_000);
      if (steady !== prim) throw new Error(`the VIP did not answer steadily from ${prim} (got ${steady}; probe: ${probe.stderr})`);
      await sleep(500 + Math.random() * 1000); // random phase against the heartbeat interval
      const ph = await c.phases();
      if (ph[prim] !== 'PRIM' || ph[second] !== 'SECOND') throw new Error(`not settled before the crash: n1=${ph.n1} n2=${ph.n2}`);
      // The crash: links cut (what killHost does first), then every process of the host killed.
      // t0 is taken before the cut (conservative: the `ip` command adds its few ms to the figure).
      const tCrash = now();
      await c.net.linkDown(c.hosts[prim]);
      const tCut = now();
      await c.net.killHost(c.hosts[prim]);
      const tKilled = now();
      const ans = await probe.first((r) => r.n === second, tCrash, 15_000);
      const oldAfter = probe.records.filter((r) => r.n === prim && r.s > tKilled).length;
      await sleep(400); // let the logs reach the disk
      await probe.stop();
      if (!ans) throw new Error(`no answer from ${second} within 15 s of the crash\n${fixture.logTail(c.root)}`);
      const st = await c.status(second);
      const mod = st?.modules?.[0];
      const mlog = events(readLog(join(c.dataDir(second), 'logs', 'mirror.log')));
      const alog = events(readLog(join(c.root, `${second}.log`)));
      const lost = firstAfter(alog, tCrash, /^peer n[12] lost/);
      const silent = Number(/^peer n[12] lost \(silent (\d+) ms/.exec(alog.find((e) => e.t === lost && /^peer n[12] lost/.test(e.text))?.text ?? '')?.[1] ?? NaN);
      const promoting = firstAfter(mlog, tCrash, /-> PROMOTING:/);
      const leased = firstAfter(mlog, tCrash, /PROMOTING -> STARTING_PRIM:/);
      const vipAdded = firstAfter(mlog, tCrash, /^virtual IP .* added/);
      const spawned = firstAfter(mlog, tCrash, /^app run: started/) ?? firstAfter(mlog, tCrash, /^starting the primary services/);
      const running = firstAfter(mlog, tCrash, /^STARTING_PRIM -> (ALONE|PRIM):/);
      if (oldAfter) notes.push(`hamod run ${i + 1}: ${oldAfter} answer(s) from the crashed ${prim} after killHost returned`);
      if (mod?.state !== 'ALONE') notes.push(`hamod run ${i + 1}: survivor ${second} in ${mod?.state} after the failover (expected ALONE)`);
      const d = (a, b) => (a === null || b === null ? null : a - b);
      const r = {
        failover: ans.t - tCrash,
        detect: d(lost, tCrash),
        lease: d(leased, promoting),
        vip: d(vipAdded, tCrash),
        appSpawn: d(spawned, tCrash),
        appStart: spawned === null ? null : ans.t - spawned,
        stateStart: d(running, leased),
        cut: tCut - tCrash,
        killHost: tKilled - tCrash,
        silent,
      };
      return r;
    } finally {
      await runHooks(t);
      cleanup.hooks.splice(cleanup.hooks.indexOf(t), 1);
      if (c) { cleanup.dirs.delete(c.root); removeDirs(); }
    }
  }

  // ---- one keepalived failover
  const kaConf = (name, vip, master) => `# bench-failover: ${name}. Debian's keepalived, its defaults (advert_int 1, no preemption tweaks)
global_defs {
    router_id bench_${name}
}
vrrp_instance VI_1 {
    state ${master ? 'MASTER' : 'BACKUP'}
    interface eth0
    virtual_router_id 51
    priority ${master ? 100 : 90}
    advert_int 1
    virtual_ipaddress {
        ${vip}/16 dev eth0
    }
}
`;
  async function keepalivedRun() {
    const net = await harness.createTestNet({ hosts: ['n1', 'n2', 'w'], mountNamespace: true });
    const dir = mkdtempSync(join(tmpdir(), 'hamod-bench-keepalived-'));
    cleanup.dirs.add(dir);
    try {
      const [n1, n2, w] = net.hosts;
      const vip = net.spareAddress(0);
      for (const [h, master] of [[n1, true], [n2, false]]) {
        const conf = join(dir, `${h.name}.conf`);
        writeFileSync(conf, kaConf(h.name, vip, master));
        const srv = h.spawn([process.execPath, SELF, '--serve', String(APP_PORT), h.name], { stdio: ['pipe', 'ignore', 'ignore'] });
        cleanup.children.add(srv);
        const pid = (k) => join(dir, `${h.name}-${net.runId}-${k}.pid`);
        const ka = h.spawn(['keepalived', '-n', '-l', '-D', '-G', '-f', conf, '-p', pid('main'), '-r', pid('vrrp'), '-c', pid('checkers'), '-b', pid('bfd')], { stdio: ['ignore', 'pipe', 'pipe'] });
        cleanup.children.add(ka);
        const log = createWriteStream(join(dir, `${h.name}.log`));
        ka.stdout.pipe(log);
        ka.stderr.pipe(log);
      }
      const probe = startProbe(w, vip, 90_000);
      const master = await probe.steady(1000, 30_000);
      const kaLog = (n) => readLog(join(dir, `${n}.log`));
      if (master !== 'n1') throw new Error(`the VIP did not answer steadily from n1 (got ${master})\n${kaLog('n1').slice(-1500)}\n${kaLog('n2').slice(-1500)}`);
      const endWait = Date.now() + 10_000;
      while (!/Entering BACKUP STATE/.test(kaLog('n2')) && Date.now() < endWait) await sleep(50);
      if (!/Entering BACKUP STATE/.test(kaLog('n2'))) throw new Error(`n2's keepalived is not BACKUP\n${kaLog('n2').slice(-1500)}`);
      await sleep(500 + Math.random() * 1000);
      const tCrash = now();
      await net.linkDown(n1);
      const tCut = now();
      await net.killHost(n1);
      const ans = await probe.first((r) => r.n === 'n2', tCrash, 20_000);
      await sleep(200);
      await probe.stop();
      if (!ans) throw new Error(`no answer from n2 within 20 s of the crash\n${kaLog('n2').slice(-2000)}`);
      return { failover: ans.t - tCrash, cut: tCut - tCrash };
    } finally {
      await net.destroy();
      cleanup.dirs.delete(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  }

  // ---- soak: idle hamod cluster, both CPUs saturated, count false failovers
  const cpuTimes = () => { const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number); const idle = f[3] + (f[4] ?? 0); return { idle, total: f.reduce((a, b) => a + b, 0) }; };
  async function soak(seconds) {
    const t = fakeT();
    cleanup.hooks.push(t);
    const burners = [];
    let c;
    try {
      c = await fixture.startMirrorCluster(t);
      cleanup.dirs.add(c.root);
      cleanup.emptyDirs.add(`/var/lib/hamod-test-${c.net.runId}`);
      const p = await c.waitFor('a primary and a secondary', (x) => (x.n1 === 'PRIM' && x.n2 === 'SECOND') || (x.n2 === 'PRIM' && x.n1 === 'SECOND'), 30_000);
      const prim = p.n1 === 'PRIM' ? 'n1' : 'n2';
      const probe = startProbe(c.hosts.w, c.vip, seconds * 1000 + 60_000);
      if ((await probe.steady(1000, 20_000)) !== prim) throw new Error('the VIP did not answer steadily before the soak');
      await sleep(1000);
      const tStart = now();
      const cpu0 = cpuTimes();
      for (let k = 0; k < 2; k++) {
        const b = spawn(process.execPath, [SELF, '--burn', String(seconds * 1000 + 5000)], { stdio: 'ignore' });
        burners.push(b);
        cleanup.children.add(b);
      }
      // poll the nodes' own reports too (4/s): any change of who is primary, or the secondary leaving SECOND
      const seen = [];
      let last = `${p.n1}/${p.n2}`;
      const end = Date.now() + seconds * 1000;
      let lastTick = Date.now();
      while (Date.now() < end) {
        const x = await c.phases();
        const k = `${x.n1}/${x.n2}`;
        if (k !== last) { seen.push({ at: new Date().toISOString(), ...x }); last = k; }
        if (Date.now() - lastTick >= 60_000) { lastTick = Date.now(); process.stderr.write(`  soak: ${Math.round((seconds * 1000 - (end - Date.now())) / 1000)} s / ${seconds} s\n`); }
        await sleep(250);
      }
      const cpu1 = cpuTimes();
      for (const b of burners) { b.kill('SIGKILL'); cleanup.children.delete(b); }
      const tEnd = now();
      await sleep(1500);
      await probe.stop();
      // From the nodes' own logs. A false failover: the secondary leaves SECOND (whatever for), or the
      // primary leaves the primary role (to WAIT, SECOND, SYNCING, STOP…). A local restart of the
      // application on the primary (PRIM -> STOPPING_PRIM -> STARTING_PRIM -> PRIM) is not one: it is
      // counted apart, with its reason. Every other transition is listed too.
      const second = prim === 'n1' ? 'n2' : 'n1';
      const PRIMARY_ROLE = /^(PROMOTING|STARTING_PRIM|PRIM|ALONE|STOPPING_PRIM)$/;
      const transitions = [];
      const restarts = [];
      const other = [];
      const hb = [];
      for (const n of ['n1', 'n2']) {
        for (const e of events(readLog(join(c.dataDir(n), 'logs', 'mirror.log')))) {
          if (e.t < tStart - 1 || e.t > tEnd + 1500) continue;
          const m = /^(\S+) -> (\S+):/.exec(e.text);
          if (m && m[1] !== m[2]) {
            if ((n === second && m[1] === 'SECOND') || (n === prim && PRIMARY_ROLE.test(m[1]) && !PRIMARY_ROLE.test(m[2])) || (n === second && PRIMARY_ROLE.test(m[2]))) transitions.push(`${n}: ${e.line}`);
            else if (n === prim && m[2] === 'STOPPING_PRIM' && /restart/.test(e.text)) restarts.push(`${n}: ${e.line}`);
            else other.push(`${n}: ${e.line}`);
          } else if (/^checker|^service|^start failed|^WARNING/.test(e.text)) hb.push(`${n}: ${e.line}`);
        }
        for (const e of events(readLog(join(c.root, `${n}.log`)))) if (e.t >= tStart - 1 && e.t <= tEnd + 1500 && /lost|down|flap/.test(e.text)) hb.push(`${n}: ${e.line}`);
      }
      const inWindow = probe.records.filter((r) => r.t >= tStart && r.t <= tEnd);
      const answers = inWindow.filter((r) => r.n);
      const nodes = [...new Set(answers.map((r) => r.n))];
      let switches = 0;
      for (let k = 1; k < answers.length; k++) if (answers[k].n !== answers[k - 1].n) switches++;
      const gaps = [];
      for (let k = 1; k < answers.length; k++) gaps.push(answers[k].t - answers[k - 1].t);
      const busy = 100 * (1 - (cpu1.idle - cpu0.idle) / (cpu1.total - cpu0.total));
      const final = await c.phases();
      return {
        seconds: (tEnd - tStart) / 1000, busy, transitions, restarts, other, events: hb, polled: seen, final, prim,
        probe: { sent: inWindow.length, answered: answers.length, nodes, switches, maxGapMs: gaps.length ? Math.max(...gaps) : null },
      };
    } finally {
      for (const b of burners) { try { b.kill('SIGKILL'); } catch { /* gone */ } cleanup.children.delete(b); }
      await runHooks(t);
      cleanup.hooks.splice(cleanup.hooks.indexOf(t), 1);
      if (c) { cleanup.dirs.delete(c.root); removeDirs(); }
    }
  }

  // ---- run
  console.log(`bench:failover: ${RUNS} host crashes per side (hamod / keepalived interleaved), soak ${SOAK_S} s with 2 busy loops; limit ${MAX_S} s`);
  console.log(`machine: ${cpus().length} CPU(s), load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the start`);
  const ham = [];
  const ka = [];
  const failures = { hamod: 0, keepalived: 0 };
  for (let i = 0; i < RUNS; i++) {
    if (timeLeft() < 60_000 + SOAK_S * 1000) { notes.push(`stopped after ${i} run(s): BENCH_MAX_S`); break; }
    for (const side of i % 2 === 0 ? ['hamod', 'keepalived'] : ['keepalived', 'hamod']) {
      try {
        if (side === 'hamod') {
          const r = await hamodRun(i);
          ham.push(r);
          const ms = (x) => (x === null ? '?' : x.toFixed(0));
          console.log(`  run ${String(i + 1).padStart(2)} hamod       ${r.failover.toFixed(0).padStart(5)} ms  (cut ${ms(r.cut)}, peer lost +${ms(r.detect)} [silent ${Number.isFinite(r.silent) ? r.silent : '?'}], lease ${ms(r.lease)}, VIP added +${ms(r.vip)}, app spawned +${ms(r.appSpawn)}, answering ${ms(r.appStart)} ms after its spawn)`);
        } else {
          const r = await keepalivedRun();
          ka.push(r);
          console.log(`  run ${String(i + 1).padStart(2)} keepalived  ${r.failover.toFixed(0).padStart(5)} ms  (cut ${r.cut.toFixed(0)})`);
        }
      } catch (e) {
        failures[side]++;
        console.log(`  run ${String(i + 1).padStart(2)} ${side.padEnd(11)} FAILED: ${e.message.split('\n')[0]}`);
        console.error(e.message);
      }
    }
  }
  let sk = null;
  if (SOAK_S > 0) {
    console.log(`  soak: ${SOAK_S} s, idle hamod cluster, 2 busy loops (normal priority), probe every 10 ms`);
    try {
      sk = await soak(SOAK_S);
    } catch (e) {
      console.log(`  soak FAILED: ${e.message.split('\n')[0]}`);
      console.error(e.message);
    }
  }

  // ---- report
  const sorted = (xs) => xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  const median = (xs) => { const s = sorted(xs); if (!s.length) return null; return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
  const pct = (xs, p) => { const s = sorted(xs); return s.length ? s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] : null; };
  const f = (x) => (x === null ? '—' : x.toFixed(0));
  const row = (label, xs) => { const s = sorted(xs); console.log(`${label.padEnd(46)} ${String(s.length).padStart(4)} ${f(median(s)).padStart(7)} ${f(s[0] ?? null).padStart(7)} ${f(s.at(-1) ?? null).padStart(7)} ${f(pct(s, 90)).padStart(7)}`); };
  console.log('');
  console.log(`${'host crash -> first answer at the VIP (ms)'.padEnd(46)} ${'n'.padStart(4)} ${'median'.padStart(7)} ${'min'.padStart(7)} ${'max'.padStart(7)} ${'p90'.padStart(7)}`);
  row('hamod (default timings, witness)', ham.map((r) => r.failover));
  row('  crash -> peer declared lost', ham.map((r) => r.detect));
  row('  witness lease (PROMOTING -> STARTING_PRIM)', ham.map((r) => r.lease));
  row('  crash -> VIP added on the survivor', ham.map((r) => r.vip));
  row('  crash -> app spawned', ham.map((r) => r.appSpawn));
  row('  app start: spawned -> first answer (apart)', ham.map((r) => r.appStart));
  row('  log: STARTING_PRIM -> ALONE', ham.map((r) => r.stateStart));
  row('keepalived (Debian 2.2.7 defaults, advert 1 s)', ka.map((r) => r.failover));
  row('(link cut: duration of the `ip` command, both)', [...ham, ...ka].map((r) => r.cut));
  const hm = median(ham.map((r) => r.failover));
  const km = median(ka.map((r) => r.failover));
  if (hm !== null && km !== null) console.log(`keepalived / hamod (medians): ${(km / hm).toFixed(2)}x   targets: hamod median <= 1000 ms, >= 3x faster than keepalived`);
  if (failures.hamod || failures.keepalived) console.log(`failed runs: hamod ${failures.hamod}, keepalived ${failures.keepalived}`);
  let falseFailovers = null;
  if (sk) {
    // polled (4/s) as a cross-check; null = the agent did not answer the status request in 1 s
    const sec = sk.prim === 'n1' ? 'n2' : 'n1';
    const polledMoves = sk.polled.filter((x) => (x[sk.prim] !== null && !/^(STARTING_PRIM|PRIM|ALONE|STOPPING_PRIM)$/.test(x[sk.prim])) || (x[sec] !== null && x[sec] !== 'SECOND')).length;
    falseFailovers = Math.max(sk.transitions.length, sk.probe.switches, polledMoves);
    console.log(`soak: ${sk.seconds.toFixed(0)} s, CPU busy ${sk.busy.toFixed(1)} % (both cores), false failovers ${falseFailovers} (target 0), local restarts of the application ${sk.restarts.length}; final n1=${sk.final.n1} n2=${sk.final.n2}`);
    console.log(`  probe: ${sk.probe.answered}/${sk.probe.sent} answered, from ${sk.probe.nodes.join(',') || 'nobody'}, ${sk.probe.switches} switch(es), longest gap between answers ${f(sk.probe.maxGapMs)} ms`);
    for (const l of sk.transitions) console.log(`  false failover: ${l}`);
    for (const l of sk.restarts) console.log(`  local restart: ${l}`);
    for (const l of sk.other) console.log(`  transition: ${l}`);
    for (const x of sk.polled.slice(0, 20)) console.log(`  polled change: ${x.at} n1=${x.n1} n2=${x.n2}`);
    for (const l of sk.events.slice(0, 20)) console.log(`  event: ${l}`);
    if (sk.events.length > 20) console.log(`  … ${sk.events.length - 20} more event(s)`);
  }
  console.log(`load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  for (const n of notes) console.log(`note: ${n}`);
  const r1 = (x) => (x === null ? null : Math.round(x));
  console.log(JSON.stringify({
    hamod_median_ms: r1(hm),
    keepalived_median_ms: r1(km),
    runs: RUNS,
    false_failovers: falseFailovers,
    hamod_app_start_ms: r1(median(ham.map((r) => r.appStart))),
    soak_s: sk ? Math.round(sk.seconds) : 0,
    hamod_p90_ms: r1(pct(ham.map((r) => r.failover), 90)),
    keepalived_p90_ms: r1(pct(ka.map((r) => r.failover), 90)),
    failed_runs: failures.hamod + failures.keepalived,
    soak_local_restarts: sk ? sk.restarts.length : null,
  }));
  clearTimeout(watchdog);
  process.exitCode = failures.hamod + failures.keepalived > 0 ? 1 : 0;
}
