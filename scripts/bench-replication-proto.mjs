// Replication benchmark (issue 4): side by side in ONE run, on test hosts (test/harness, network +
// mount namespaces), all directories on this machine's disk:
//   local    a plain directory, fio / the small-file program run inside test host h1;
//   hamod    a directory replicated by native/hamod-repl: primary on h1 (FUSE mount over the
//            directory), secondary on h2;
//   gluster  a GlusterFS replica-2 volume: glusterd + one brick on each of g1 and g2 (private
//            /var/lib/glusterd, /var/log/glusterfs, /run per host, see bench-lib/gluster.mjs), FUSE
//            client on g1; falls back to ONE host with two bricks if two hosts cannot work (said so
//            in the output);
//   floor    not a file system: the least work any synchronous two-node replication does for the
//            two fio workloads on these two test hosts and this disk (bench-lib/floor.c: per write,
//            one TCP frame h1 -> h2, the same write into a file on each side, O_DSYNC for 4k, an
//            answer back; no FUSE, no authentication, both sides busy-polling). floor/local is the
//            ceiling of any design's hamod/local on this machine, hamod/floor what hamod's own
//            layers (FUSE, MAC, bookkeeping) cost.
// Workloads (same parameters and the same programs for the three): fio 4k random writes with
// O_DSYNC (psync, iodepth 1, 1 job, time based), fio 128k sequential writes (buffered, end fsync),
// and creating then deleting N small files (bench-lib/smallfiles.c, compiled here). Each round runs
// every workload on the three systems, in an order rotated from round to round, so the machine's
// drift hits all alike; medians over the rounds. Then measureReintegration(): wire bytes / changed
// bytes of a delta reintegration (needs hamod-repl's --control; null otherwise).
// Prints a table with the ratios against the targets and ENDS with ONE JSON line.
//
//   BENCH_QUICK=1          development run: 1 round, fio 3 s, 2,000 small files, 256 MiB / 16 MiB
//                          reintegration (each still overridable below)
//   BENCH_ROUNDS           rounds (default 3)
//   BENCH_RUNTIME_S        fio runtime per run (default 15)
//   BENCH_SMALLFILES       number of small files (default 10000), BENCH_SMALLFILE_SIZE (4096)
//   BENCH_REINT_FILE_MB    file of the reintegration test (default 1024), BENCH_REINT_CHANGE_MB (64)
//   BENCH_SKIP_GLUSTER=1   no GlusterFS column (its figures are null)
//   BENCH_PERF=1           `perf record -g` of the hamod primary and secondary during the first 4k
//                          and small-files runs
//   BENCH_SECONDARY_TMPFS=1  hamod's secondary directory on a tmpfs
//   BENCH_MAX_S            hard limit on the whole run (default 1800; quick 600): past it,
//                          everything is cleaned up and the script exits 2
//
// Needs root. Installs the missing Debian packages it uses (fio, glusterfs-server, gcc) with
// apt-get, like scripts/demo.mjs. `npm run bench:replication` builds the TypeScript first.
// Cleanup (test hosts and every process in them: hamod-repl, glusterd, bricks, FUSE clients; their
// mounts; the scratch directory) runs on success, failure, Ctrl-C / SIGTERM / SIGHUP and timeout.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startGluster } from './bench-lib/gluster.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const QUICK = process.env.BENCH_QUICK === '1';
const envNum = (name, dflt) => (process.env[name] === undefined || process.env[name] === '' ? dflt : Number(process.env[name]));
const ROUNDS = envNum('BENCH_ROUNDS', QUICK ? 1 : 3);
const RUNTIME = envNum('BENCH_RUNTIME_S', QUICK ? 3 : 15);
const NFILES = envNum('BENCH_SMALLFILES', QUICK ? 2000 : 10000);
const FILESIZE = envNum('BENCH_SMALLFILE_SIZE', 4096);
const REINT_FILE_MB = envNum('BENCH_REINT_FILE_MB', QUICK ? 256 : 1024);
const REINT_CHANGE_MB = envNum('BENCH_REINT_CHANGE_MB', QUICK ? 16 : 64);
const MAX_S = envNum('BENCH_MAX_S', QUICK ? 600 : 1800);
const SKIP_GLUSTER = process.env.BENCH_SKIP_GLUSTER === '1';
const PERF = process.env.BENCH_PERF === '1';
const SEC_TMPFS = process.env.BENCH_SECONDARY_TMPFS === '1';
const STAGE_B_FLAG = join(ROOT, 'native/hamod-repl/.stage-b-ready');

const log = (...a) => console.log(...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = xs.filter((x) => x !== null && x !== undefined && !Number.isNaN(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// ---------------------------------------------------------------------------------------------
// tools

function ensurePackages() {
  const TOOLS = { fio: 'fio', glusterd: 'glusterfs-server', 'mount.glusterfs': 'glusterfs-client', cc: 'gcc', nsenter: 'util-linux', ip: 'iproute2', nft: 'nftables' };
  const missing = [...new Set(Object.entries(TOOLS)
    .filter(([cmd, pkg]) => !(SKIP_GLUSTER && pkg.startsWith('glusterfs')) && spawnSync('sh', ['-c', `command -v ${cmd} || test -x /sbin/${cmd}`]).status !== 0)
    .map(([, pkg]) => pkg))];
  if (!missing.length) return;
  log(`installing the missing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  if (r.status !== 0) throw new Error(`could not install ${missing.join(' ')}: install them and run again`);
}

/** What the hamod-repl binary supports, from its usage text. */
function binaryCaps(bin) {
  const u = spawnSync(bin, ['primary'], { encoding: 'utf8', timeout: 5000 });
  const all = spawnSync(bin, [], { encoding: 'utf8', timeout: 5000 });
  const text = `${u.stderr}${u.stdout}${all.stderr}${all.stdout}`;
  const secLine = text.split('\n').filter((l) => /secondary/.test(l)).join(' ');
  return { control: /--control/.test(text), secondaryChangelog: /--changelog/.test(secLine) || /--control/.test(text) };
}

/** True when the process has a handler for SIGUSR1 (so sending it prints stats, never kills it). */
function handlesUsr1(pid) {
  try {
    const m = /SigCgt:\s*([0-9a-f]+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? (BigInt(`0x${m[1]}`) & (1n << 9n)) !== 0n : false;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// workloads

const fioArgs = (name, dir) => {
  const common = ['--ioengine=psync', '--iodepth=1', '--numjobs=1', `--runtime=${RUNTIME}`, '--time_based', '--output-format=json', `--directory=${dir}`];
  if (name === '4k') return ['fio', '--name=randwrite4k', '--rw=randwrite', '--bs=4k', '--size=64m', '--direct=0', '--sync=dsync', ...common];
  return ['fio', '--name=seqwrite128k', '--rw=write', '--bs=128k', '--size=1g', '--direct=0', '--end_fsync=1', ...common];
};

async function fio(host, name, dir) {
  const r = await host.exec(fioArgs(name, dir), { timeoutMs: (RUNTIME + 180) * 1000 });
  if (r.code !== 0) throw new Error(`fio ${name} failed on ${host.name}:${dir}: ${r.stderr}${r.stdout.slice(0, 2000)}`);
  const j = JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
  const w = j.jobs[0].write;
  return { iops: w.iops, mbps: w.bw / 1024, lat_us: w.clat_ns.mean / 1000, p99_us: (w.clat_ns.percentile?.['99.000000'] ?? 0) / 1000 };
}

async function smallFiles(host, prog, dir) {
  const r = await host.exec([prog, dir, String(NFILES), String(FILESIZE)], { timeoutMs: 1_200_000 });
  if (r.code !== 0) throw new Error(`smallfiles failed on ${host.name}:${dir}: ${r.stderr}${r.stdout}`);
  const kv = Object.fromEntries([...r.stdout.matchAll(/(\w+)=([\d.]+)/g)].map((m) => [m[1], Number(m[2])]));
  return { total_s: kv.total_s, create_s: kv.create_s, delete_s: kv.delete_s };
}

/** The primary's STATS counters are cumulative: per-run averages from two STATS lines. */
function statsDelta(a, b) {
  const parse = (l) => {
    const n = Number(/writes=(\d+)/.exec(l)?.[1] ?? 0);
    const ops = /other_ops=(\d+) avg_us=([\d.]+)/.exec(l);
    const f = Object.fromEntries([...l.split('|')[0].matchAll(/([\w+()]+)=([\d.]+)/g)].map((m) => [m[1], Number(m[2])]));
    return { n, f, ops: ops ? Number(ops[1]) : 0, opsUs: ops ? Number(ops[2]) : 0 };
  };
  const x = parse(a);
  const y = parse(b);
  const dn = y.n - x.n;
  const parts = [`writes=${dn}`];
  if (dn > 0) {
    for (const k of ['gap_between_writes(kernel+app)', 'send+mac', 'local', 'wait_after_local', 'total']) {
      if (k in y.f) parts.push(`${k}=${((y.f[k] * y.n - (x.f[k] ?? 0) * x.n) / dn).toFixed(1)}us`);
    }
  }
  const dops = y.ops - x.ops;
  parts.push(`other_ops=${dops}${dops > 0 ? ` avg=${((y.opsUs * y.ops - x.opsUs * x.ops) / dops).toFixed(1)}us` : ''}`);
  return parts.join(' ');
}

// ---------------------------------------------------------------------------------------------
// hamod-repl processes

let LineWatcher;

function startSecondary(host, bin, caps, { dir, keyFile, changelog, port }) {
  const argv = [bin, 'secondary', '--dir', dir, '--listen', `${host.address}:${port}`, '--key-file', keyFile];
  if (caps.secondaryChangelog && changelog) argv.push('--changelog', changelog);
  return new LineWatcher(`secondary@${host.name}`, host.spawn(argv));
}

function startPrimary(host, bin, { dir, keyFile, changelog, peer, control, extra = [] }) {
  const argv = [bin, 'primary', '--dir', dir, '--key-file', keyFile, '--timeout-ms', '2000', '--changelog', changelog];
  if (peer) argv.push('--peer', peer);
  if (control) argv.push('--control', control);
  return new LineWatcher(`primary@${host.name}`, host.spawn([...argv, ...extra]));
}

/** One request line on the primary's control socket, one reply line back. */
async function control(sock, req, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    const c = createConnection(sock);
    let buf = '';
    const t = setTimeout(() => { c.destroy(); reject(new Error(`control ${req}: no reply in ${timeoutMs} ms`)); }, timeoutMs);
    c.setEncoding('utf8');
    c.on('connect', () => c.write(`${req}\n`));
    c.on('data', (d) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i >= 0) { clearTimeout(t); c.end(); resolve(buf.slice(0, i)); }
    });
    c.on('error', (e) => { clearTimeout(t); reject(e); });
  });
}

const kvOf = (line) => Object.fromEntries([...line.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));

/**
 * Reintegration cost: primary attached and in sync with a secondary; the secondary is killed; while
 * alone, REINT_CHANGE_MB of 4 KiB blocks at distinct random offsets of a REINT_FILE_MB file are
 * rewritten; the secondary restarts, `ATTACH … delta`, wait for INSYNC. Ratio = wire bytes sent
 * by the resync / bytes changed (1.0 = only what changed, plus framing). null when the binary has no
 * --control (delta reintegration not built yet) or when the measurement fails (reason printed).
 */
async function measureReintegration({ h1, h2, bin, caps, scratch, keyFile }) {
  if (!caps.control) {
    return { ratio: null, note: `not available (hamod-repl has no --control yet${existsSync(STAGE_B_FLAG) ? '' : '; native/hamod-repl/.stage-b-ready absent'})` };
  }
  const base = join(scratch, 'reint');
  const pdir = join(base, 'primary');
  const sdir = join(base, 'secondary');
  mkdirSync(pdir, { recursive: true });
  mkdirSync(sdir, { recursive: true });
  const pcl = join(base, 'primary.changes');
  const scl = join(base, 'secondary.changes');
  const sock = join(base, 'ctl.sock');
  const port = 7801;
  const peer = `${h2.address}:${port}`;
  let sec;
  let pri;
  const events = [];
  try {
    sec = startSecondary(h2, bin, caps, { dir: sdir, keyFile, changelog: scl, port });
    await sec.waitLine(/^LISTENING /);
    pri = startPrimary(h1, bin, { dir: pdir, keyFile, changelog: pcl, control: sock });
    await pri.waitLine(/^READY /, 15_000);
    const ok = async (req) => {
      const r = await control(sock, req);
      events.push(`> ${req}  < ${r}`);
      if (!r.startsWith('OK')) throw new Error(`control ${req}: ${r}`);
      return r;
    };
    await ok('MODE alone bench.g1');
    let mark = pri.lines.length;
    await ok(`ATTACH ${peer} full`);
    await pri.waitLine(/^(INSYNC|RESYNCFAILED)\b/, 60_000);
    const first = pri.lines.slice(mark).find((l) => /^(INSYNC|RESYNCFAILED)\b/.test(l));
    if (!first.startsWith('INSYNC')) throw new Error(`initial attach: ${first}`);
    // In sync mode from here (alone + an attached in-sync mirror would replicate synchronously too).
    await control(sock, 'MODE sync bench.g1').then((r) => events.push(`> MODE sync bench.g1  < ${r}`));
    // The big file, written while in sync (it reaches both sides).
    const big = join(pdir, 'big.dat');
    await h1.execOk(['fio', '--name=fill', `--filename=${big}`, '--rw=write', '--bs=1m', `--size=${REINT_FILE_MB}m`, '--end_fsync=1', '--ioengine=psync'], { timeoutMs: 600_000 });
    // Secondary dies; the primary goes on alone under a new generation.
    sec.child.kill('SIGKILL');
    await sec.exitPromise;
    await control(sock, 'DETACH').then((r) => events.push(`> DETACH  < ${r}`), () => {});
    await ok('MODE alone bench.g2');
    const changed = REINT_CHANGE_MB * 1024 * 1024;
    const w = await h1.execOk(['fio', '--name=changes', `--filename=${big}`, '--rw=randwrite', '--bs=4k', `--size=${REINT_FILE_MB}m`, `--io_size=${REINT_CHANGE_MB}m`,
      '--end_fsync=1', '--ioengine=psync', '--randrepeat=0', '--output-format=json'], { timeoutMs: 600_000 });
    const wj = JSON.parse(w.stdout.slice(w.stdout.indexOf('{')));
    const written = wj.jobs[0].write.io_kbytes * 1024;
    const before = kvOf(await ok('STATUS'));
    // Secondary back (same directory, same change log), delta reintegration.
    sec = startSecondary(h2, bin, caps, { dir: sdir, keyFile, changelog: scl, port });
    await sec.waitLine(/^LISTENING /);
    mark = pri.lines.length;
    const t0 = process.hrtime.bigint();
    await ok(`ATTACH ${peer} delta`);
    await pri.waitLine(/^(INSYNC|RESYNCFAILED)\b/, 600_000).catch(() => {});
    let end;
    for (let i = 0; i < 6000 && !end; i++) {
      end = pri.lines.slice(mark).find((l) => /^(INSYNC|RESYNCFAILED)\b/.test(l));
      if (pri.child.exitCode !== null || pri.child.signalCode !== null) throw new Error(`primary exited: ${pri.stderr.slice(-500)}`);
      if (!end) await sleep(100);
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (!end) throw new Error('no INSYNC within 600 s');
    const resync = pri.lines.slice(mark).filter((l) => l.startsWith('RESYNC'));
    for (const l of resync) events.push(l);
    events.push(end);
    if (!end.startsWith('INSYNC')) throw new Error(`delta attach: ${end}`);
    const after = kvOf(await ok('STATUS'));
    const lastSent = resync.length ? Number(kvOf(resync[resync.length - 1]).sent) : NaN;
    const statusSent = Number(after.sent) - (Number(before.sent) || 0);
    const sent = Number.isFinite(lastSent) ? lastSent : statusSent;
    // Both copies equal?
    const sum = async (host, f) => (await host.execOk(['sha256sum', f], { timeoutMs: 300_000 })).stdout.split(' ')[0];
    const [a, b] = await Promise.all([sum(h1, big), sum(h2, join(sdir, 'big.dat'))]);
    return {
      ratio: sent / written,
      sent,
      statusSent,
      changed: written,
      requested: changed,
      seconds,
      equal: a === b,
      events,
    };
  } catch (e) {
    return { ratio: null, note: `failed: ${e.message.split('\n').slice(0, 6).join(' | ')}`, events };
  } finally {
    if (pri) await pri.stop().catch(() => {});
    if (sec) await sec.stop().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// main

let net;
let scratch;
let cleaned = false;
function cleanupSync() {
  if (cleaned) return;
  cleaned = true;
  try { net?.destroySync(); } catch (e) { console.error(`cleanup: ${e.message}`); }
  if (scratch) rmSync(scratch, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\n${sig}: cleaning up (test hosts, hamod-repl, glusterd, mounts, ${scratch ?? 'scratch'}) …`);
    cleanupSync();
    process.exit(130);
  });
}
process.on('exit', cleanupSync);
const deadline = setTimeout(() => {
  console.error(`BENCH_MAX_S=${MAX_S} exceeded: cleaning up`);
  cleanupSync();
  process.exit(2);
}, MAX_S * 1000);
deadline.unref();

async function main() {
  if (process.getuid?.() !== 0) throw new Error('needs root (network and mount namespaces, FUSE, glusterd)');
  ensurePackages();
  const { createTestNet } = await import(join(ROOT, 'dist/test/harness/index.js'));
  const fixture = await import(join(ROOT, 'dist/test/replication/fixture.js'));
  LineWatcher = fixture.LineWatcher;

  scratch = mkdtempSync(`/var/tmp/hbr-${process.pid}-`);
  // Build the daemon; the binary is copied so that a rebuild by someone else during the run cannot
  // change it under us. A failing build (half-edited sources) falls back to the last binary.
  const bin = join(scratch, 'hamod-repl');
  try {
    fixture.buildNative();
  } catch (e) {
    if (!existsSync(fixture.BINARY)) throw e;
    log(`WARNING: native/build.sh failed, using the existing ${fixture.BINARY}: ${e.message.split('\n').slice(0, 3).join(' ')}`);
  }
  copyFileSync(fixture.BINARY, bin);
  spawnSync('chmod', ['755', bin]);
  const caps = binaryCaps(bin);
  const sfProg = join(scratch, 'smallfiles');
  const floorProg = join(scratch, 'floor');
  for (const [out, src] of [[sfProg, 'smallfiles.c'], [floorProg, 'floor.c']]) {
    const cc = spawnSync('cc', ['-O2', '-Wall', '-o', out, join(ROOT, 'scripts/bench-lib', src)], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`cc ${src}: ${cc.stderr}`);
  }

  net = await createTestNet({ hosts: ['h1', 'h2', 'g1', 'g2'], mountNamespace: true, prefix: 'hbr' });
  const [h1, h2, g1, g2] = net.hosts;
  log(`run ${net.runId}: hosts h1 ${h1.address}, h2 ${h2.address}, g1 ${g1.address}, g2 ${g2.address}; scratch ${scratch}`);
  const keyFile = join(scratch, 'cluster.key');
  writeFileSync(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });

  // (1) local
  const localDir = join(scratch, 'local');
  mkdirSync(localDir);
  // (2) hamod
  const pdir = join(scratch, 'hamod-primary');
  const sdir = join(scratch, 'hamod-secondary');
  mkdirSync(pdir);
  mkdirSync(sdir);
  if (SEC_TMPFS) await h2.mountTmpfs(sdir, '4g');
  const sec = startSecondary(h2, bin, caps, { dir: sdir, keyFile, changelog: join(scratch, 'hamod-secondary.changes'), port: 7800 });
  await sec.waitLine(/^LISTENING /);
  const pri = startPrimary(h1, bin, {
    dir: pdir, keyFile, changelog: join(scratch, 'hamod-primary.changes'), peer: `${h2.address}:7800`,
    control: caps.control ? join(scratch, 'hamod-ctl.sock') : undefined,
  });
  await pri.waitLine(/^READY /, 15_000);
  await pri.waitLine(/^(STATE sync|INSYNC)\b/, 15_000);
  // (3) GlusterFS
  let gluster;
  if (!SKIP_GLUSTER) {
    const volume = `hbr${process.pid}${randomBytes(2).toString('hex')}`;
    try {
      gluster = await startGluster({ servers: [g1, g2], scratch, volume, mountDir: join(scratch, 'gluster-mnt'), log });
    } catch (e) {
      log(`WARNING: GlusterFS on two test hosts failed (${e.message.split('\n').slice(0, 4).join(' | ')}); falling back to one host with two bricks`);
      await net.killHost(g1);
      await net.killHost(g2);
      await net.reviveHost(g1);
      const one = join(scratch, 'one-host');
      mkdirSync(one);
      gluster = await startGluster({ servers: [g1], scratch: one, volume: `${volume}x`, mountDir: join(one, 'gluster-mnt'), log });
    }
  }

  // (4) the floor: client on h1, server on h2, each with its own directory on the same disk
  const floorDirs = [join(scratch, 'floor-h1'), join(scratch, 'floor-h2')];
  for (const d of floorDirs) mkdirSync(d);
  if (SEC_TMPFS) await h2.mountTmpfs(floorDirs[1], '4g');
  let floorPort = 7900;
  const runFloor = async (w) => {
    const port = floorPort++;
    const srv = new LineWatcher(`floor@${h2.name}`, h2.spawn([floorProg, 'server', h2.address, String(port), floorDirs[1]]));
    try {
      await srv.waitLine(/^LISTENING/);
      const r = await h1.exec([floorProg, 'client', h2.address, String(port), floorDirs[0], w, String(RUNTIME)], { timeoutMs: (RUNTIME + 180) * 1000 });
      if (r.code !== 0) throw new Error(`floor ${w} failed: ${r.stderr}${r.stdout}`);
      const kv = kvOf(r.stdout);
      return { iops: Number(kv.iops), mbps: Number(kv.mbps), lat_us: 1e6 / Number(kv.iops) };
    } finally {
      await srv.stop().catch(() => {});
    }
  };

  const systems = [
    { key: 'local', label: 'local', host: h1, dir: localDir },
    { key: 'hamod', label: 'hamod', host: h1, dir: pdir },
    ...(gluster ? [{ key: 'gluster', label: 'GlusterFS', host: g1, dir: gluster.mountDir }] : []),
    { key: 'floor', label: 'floor', host: h1, dir: floorDirs[0], fioOnly: true },
  ];
  log(`fio 4k:      ${fioArgs('4k', 'DIR').join(' ')}`);
  log(`fio 128k:    ${fioArgs('128k', 'DIR').join(' ')}`);
  log(`small files: scripts/bench-lib/smallfiles.c DIR ${NFILES} ${FILESIZE} (create ${NFILES} files of ${FILESIZE} B, then unlink them; no fsync)`);
  log(`local   = ${localDir} (ext4, this machine's disk), run inside h1`);
  log(`hamod   = ${pdir} (FUSE, hamod-repl primary on h1) -> ${sdir}${SEC_TMPFS ? ' (tmpfs)' : ''} (secondary on h2)`);
  log(`floor   = scripts/bench-lib/floor.c client on h1 (${floorDirs[0]}) -> server on h2 (${floorDirs[1]}${SEC_TMPFS ? ', tmpfs' : ''}): 4k/128k only`);
  if (gluster) log(`gluster = ${gluster.mountDir} (FUSE client on g1), replica 2, default volume options; setup: ${gluster.setup}`);
  else log('gluster = skipped (BENCH_SKIP_GLUSTER=1)');
  log(`rounds ${ROUNDS}, fio runtime ${RUNTIME} s${QUICK ? ' (BENCH_QUICK)' : ''}; load average before: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);

  const res = {};
  for (const w of ['4k', '128k', 'small']) res[w] = Object.fromEntries(systems.map((s) => [s.key, []]));
  const usr1 = (w) => { if (w.child.pid && handlesUsr1(w.child.pid)) w.child.kill('SIGUSR1'); };
  const fmtFio = (x) => `${x.iops.toFixed(0).padStart(6)} IOPS ${x.mbps.toFixed(1).padStart(7)} MiB/s lat ${x.lat_us.toFixed(0).padStart(5)} us`;
  for (let round = 0; round < ROUNDS; round++) {
    const order = systems.map((_, i) => systems[(i + round) % systems.length]);
    for (const w of ['4k', '128k', 'small']) {
      for (const s of order) {
        if (s.fioOnly && w === 'small') continue;
        let perfProcs = [];
        const isHamod = s.key === 'hamod';
        if (isHamod && PERF && w !== '128k' && round === 0) {
          for (const [lw, tag] of [[pri, 'primary'], [sec, 'secondary']]) {
            const out = join(scratch, `perf-${tag}-${w}.data`);
            perfProcs.push({ tag, out, child: spawn('perf', ['record', '-g', '-o', out, '-p', String(lw.child.pid)], { stdio: 'ignore' }) });
          }
        }
        // Settle: the previous run's dirty pages are written back before this one starts.
        spawnSync('sync');
        await sleep(1000);
        const mark = pri.lines.length;
        if (isHamod) usr1(pri);
        const r = w === 'small' ? await smallFiles(s.host, sfProg, s.dir) : s.key === 'floor' ? await runFloor(w) : await fio(s.host, w, s.dir);
        if (isHamod) { usr1(pri); await sleep(200); }
        res[w][s.key].push(r);
        for (const p of perfProcs) {
          p.child.kill('SIGINT');
          await new Promise((ok) => p.child.once('exit', ok));
          const rep = spawnSync('perf', ['report', '-i', p.out, '--no-children', '--sort', 'dso,sym', '--stdio', '-g', 'none', '--percent-limit', '1.5'], { encoding: 'utf8' });
          log(`--- perf ${p.tag} (hamod ${w} run) ---\n${rep.stdout.split('\n').filter((x) => x && !x.startsWith('#')).slice(0, 30).join('\n')}`);
        }
        const line = w === 'small'
          ? `${r.total_s.toFixed(2).padStart(7)} s (create ${r.create_s.toFixed(2)} s, delete ${r.delete_s.toFixed(2)} s)`
          : fmtFio(r);
        log(`round ${round + 1} ${w.padEnd(5)} ${s.label.padEnd(9)} ${line}`);
        const stats = isHamod ? pri.lines.slice(mark).filter((x) => x.startsWith('STATS')) : [];
        if (stats.length >= 2) log(`      primary, this run: ${statsDelta(stats[0], stats[stats.length - 1])}`);
      }
    }
  }
  const alone = pri.lines.find((l) => /^(STATE alone|OUTOFSYNC)/.test(l));
  if (alone) log(`WARNING: the hamod primary lost its secondary during the benchmark: ${alone}`);
  await pri.stop();
  await sec.stop();
  if (gluster) await gluster.stop();

  // Reintegration (after the throughput runs, so it never disturbs them).
  if (!caps.control && existsSync(STAGE_B_FLAG)) log('note: .stage-b-ready exists but this hamod-repl build has no --control');
  const reint = await measureReintegration({ h1, h2, bin, caps, scratch, keyFile });

  // ---- summary
  const m = (w, sys, k) => (res[w][sys] ? median(res[w][sys].map((x) => x[k])) : null);
  const rng = (w, sys, k) => {
    const xs = (res[w][sys] ?? []).map((x) => x[k]);
    return xs.length > 1 ? ` (${Math.min(...xs).toFixed(k === 'total_s' ? 2 : 0)}–${Math.max(...xs).toFixed(k === 'total_s' ? 2 : 0)})` : '';
  };
  const fmtv = (v, d) => (v === null ? 'n/a' : v.toFixed(d));
  const ratio = (a, b) => (a === null || b === null || b === 0 ? null : a / b);
  const verdict = (r, t) => (r === null ? '' : r >= t ? ' met' : ' MISSED');
  const pct = (r) => (r === null ? 'n/a' : `${(r * 100).toFixed(0)} %`);
  const x = (r) => (r === null ? 'n/a' : `${r.toFixed(2)}×`);
  const L4 = m('4k', 'local', 'iops'); const H4 = m('4k', 'hamod', 'iops'); const G4 = m('4k', 'gluster', 'iops');
  const L128 = m('128k', 'local', 'mbps'); const H128 = m('128k', 'hamod', 'mbps'); const G128 = m('128k', 'gluster', 'mbps');
  const F4 = m('4k', 'floor', 'iops'); const F128 = m('128k', 'floor', 'mbps');
  const LS = m('small', 'local', 'total_s'); const HS = m('small', 'hamod', 'total_s'); const GS = m('small', 'gluster', 'total_s');
  const rows = [
    ['workload (median of ' + ROUNDS + ')', 'local', 'hamod', 'GlusterFS', 'hamod/local', 'target', 'hamod vs GlusterFS', 'target', 'floor', 'floor/local', 'hamod/floor'],
    ['4k rand write O_DSYNC, IOPS', fmtv(L4, 0) + rng('4k', 'local', 'iops'), fmtv(H4, 0) + rng('4k', 'hamod', 'iops'), fmtv(G4, 0) + rng('4k', 'gluster', 'iops'),
      pct(ratio(H4, L4)), '≥ 50 %' + verdict(ratio(H4, L4), 0.5), x(ratio(H4, G4)), '≥ 5×' + verdict(ratio(H4, G4), 5),
      fmtv(F4, 0) + rng('4k', 'floor', 'iops'), pct(ratio(F4, L4)), pct(ratio(H4, F4))],
    ['128k seq write, MiB/s', fmtv(L128, 0) + rng('128k', 'local', 'mbps'), fmtv(H128, 0) + rng('128k', 'hamod', 'mbps'), fmtv(G128, 0) + rng('128k', 'gluster', 'mbps'),
      pct(ratio(H128, L128)), '≥ 60 %' + verdict(ratio(H128, L128), 0.6), x(ratio(H128, G128)), '≥ 2×' + verdict(ratio(H128, G128), 2),
      fmtv(F128, 0) + rng('128k', 'floor', 'mbps'), pct(ratio(F128, L128)), pct(ratio(H128, F128))],
    [`${NFILES} small files create+delete, s`, fmtv(LS, 2) + rng('small', 'local', 'total_s'), fmtv(HS, 2) + rng('small', 'hamod', 'total_s'), fmtv(GS, 2) + rng('small', 'gluster', 'total_s'),
      `${x(ratio(LS, HS))} speed`, '—', `${x(ratio(GS, HS))} faster`, '≥ 3×' + verdict(ratio(GS, HS), 3), '—', '—', '—'],
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  log('');
  for (const [i, r] of rows.entries()) {
    log(r.map((c, j) => (j === 0 ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join(' | '));
    if (i === 0) log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  }
  if (gluster) log(`GlusterFS setup: ${gluster.setup}; ${gluster.version}`);
  log('floor: the same writes between the same two test hosts with no file system layer and no authentication, '
    + 'both sides busy-polling (scripts/bench-lib/floor.c); floor/local bounds hamod/local on this machine');
  if (reint.ratio !== null) {
    log(`reintegration: ${(reint.changed / 1048576).toFixed(0)} MiB changed at random 4 KiB blocks of a ${REINT_FILE_MB} MiB file while the secondary was down; `
      + `delta resync sent ${(reint.sent / 1048576).toFixed(1)} MiB on the wire (STATUS: ${(reint.statusSent / 1048576).toFixed(1)} MiB) in ${reint.seconds.toFixed(2)} s: `
      + `ratio ${reint.ratio.toFixed(3)}; copies ${reint.equal ? 'equal' : 'DIFFER'}`);
  } else {
    log(`reintegration: ${reint.note}`);
  }
  if (reint.events?.length) log(`  ${reint.events.join('\n  ')}`);
  log(`load average after: ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  const r1 = (v) => (v === null ? null : +v.toFixed(1));
  const r3 = (v) => (v === null ? null : +v.toFixed(3));
  const r0 = (v) => (v === null ? null : Math.round(v));
  log(JSON.stringify({
    local_4k_iops: r0(L4), hamod_4k_iops: r0(H4), gluster_4k_iops: r0(G4),
    local_128k_mbps: r1(L128), hamod_128k_mbps: r1(H128), gluster_128k_mbps: r1(G128),
    hamod_smallfiles_s: r3(HS), gluster_smallfiles_s: r3(GS), local_smallfiles_s: r3(LS),
    reintegration_ratio: r3(reint.ratio),
    floor_4k_iops: r0(F4), floor_128k_mbps: r1(F128),
  }));
}

let code = 0;
try {
  await main();
} catch (e) {
  console.error(`bench-replication failed: ${e.stack ?? e}`);
  code = 1;
} finally {
  if (net) await net.destroy().catch((e) => console.error(`cleanup: ${e.message}`));
  cleanupSync();
}
process.exit(code);
