// Quick side-by-side measurement of hamod-repl builds (native helper's tool; the official benchmark
// is scripts/bench-replication-proto.mjs). Same fio parameters and small-file program as the
// official one; local directory vs one or more hamod-repl binaries/configurations, interleaved
// rounds (order rotated), medians.
//
//   node native/hamod-repl/bench/compare.mjs NAME=BIN[:tmpfs][:ARGS,...][:sec=ARGS,...] ...
//   (ARGS go to the primary, sec=ARGS to the secondary; NAME=BIN:alone is a primary without a
//   mirror, in MODE alone: the cost of the FUSE layer and the change log alone)
//   env: ROUNDS (3), RUNTIME (10), NFILES (10000), WORKLOADS (4k,128k,small), FLOOR=1 (also
//        scripts/bench-lib/floor.c between the two hosts), DUAL=1 (also two
//        concurrent local 4k O_DSYNC fio jobs on the same disk: the shared-disk bound)
// Needs root and `npm run build` (dist/test/harness). Cleans up hosts, mounts, processes.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

const ROOT = new URL('../../../', import.meta.url).pathname;
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const RUNTIME = Number(process.env.RUNTIME ?? 10);
const NFILES = Number(process.env.NFILES ?? 10000);
const WORKLOADS = (process.env.WORKLOADS ?? '4k,128k,small').split(',');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

const fioArgs = (name, dir, extra = []) => {
  const common = ['--ioengine=psync', '--iodepth=1', '--numjobs=1', `--runtime=${RUNTIME}`, '--time_based', '--output-format=json', `--directory=${dir}`, ...extra];
  if (name === '4k') return ['fio', '--name=randwrite4k', '--rw=randwrite', '--bs=4k', '--size=64m', '--direct=0', '--sync=dsync', ...common];
  return ['fio', '--name=seqwrite128k', '--rw=write', '--bs=128k', '--size=1g', '--direct=0', '--end_fsync=1', ...common];
};

const { createTestNet } = await import(join(ROOT, 'dist/test/harness/index.js'));
const { LineWatcher } = await import(join(ROOT, 'dist/test/replication/fixture.js'));
const scratch = mkdtempSync(`/var/tmp/hrcmp-${process.pid}-`);
let net;
const cleanup = () => { try { net?.destroySync(); } catch { /* already gone */ } rmSync(scratch, { recursive: true, force: true }); };
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => { cleanup(); process.exit(130); });
try {
  const sf = join(scratch, 'smallfiles');
  const cc = spawnSync('cc', ['-O2', '-o', sf, join(ROOT, 'scripts/bench-lib/smallfiles.c')], { encoding: 'utf8' });
  if (cc.status) throw new Error(cc.stderr);
  net = await createTestNet({ hosts: ['h1', 'h2'], mountNamespace: true, prefix: 'hrc' });
  const [h1, h2] = net.hosts;
  const key = join(scratch, 'key');
  writeFileSync(key, randomBytes(32).toString('base64'), { mode: 0o600 });
  const systems = [{ name: 'local', dir: join(scratch, 'local') }];
  mkdirSync(systems[0].dir);
  let port = 7900;
  for (const spec of process.argv.slice(2)) {
    const [name, rest] = spec.split('=');
    const [binSrc, ...opts] = rest.split(':');
    const tmpfs = opts.includes('tmpfs');
    if (opts.includes('alone')) { // no mirror: FUSE + local writes + change log only (MODE alone)
      const bin = join(scratch, `bin-${name}`);
      copyFileSync(binSrc, bin);
      const pdir = join(scratch, `${name}-p`);
      mkdirSync(pdir);
      const sock = join(scratch, `${name}.sock`);
      const pri = new LineWatcher(`pri-${name}`, h1.spawn([bin, 'primary', '--dir', pdir, '--key-file', key, '--changelog', join(scratch, `${name}-p.log`), '--control', sock]));
      await pri.waitLine(/^READY/, 15000);
      const { createConnection } = await import('node:net');
      await new Promise((ok, ko) => {
        const c = createConnection(sock);
        c.on('connect', () => c.write('MODE alone bench.g1\n'));
        c.on('data', (d) => {
          c.end();
          if (String(d).startsWith('OK')) ok();
          else ko(new Error(String(d)));
        });
        c.on('error', ko);
      });
      systems.push({ name, dir: pdir, pri, sec: null });
      continue;
    }
    // an option 'sec=A,B' goes to the secondary, the others to the primary
    const sargs = opts.filter((o) => o.startsWith('sec=')).flatMap((o) => o.slice(4).split(','));
    const pargs = opts.filter((o) => o !== 'tmpfs' && !o.startsWith('sec=')).flatMap((o) => o.split(','));
    const bin = join(scratch, `bin-${name}`);
    copyFileSync(binSrc, bin);
    const pdir = join(scratch, `${name}-p`);
    const sdir = join(scratch, `${name}-s`);
    mkdirSync(pdir); mkdirSync(sdir);
    if (tmpfs) await h2.mountTmpfs(sdir, '4g');
    const p = port++;
    const sec = new LineWatcher(`sec-${name}`, h2.spawn([bin, 'secondary', '--dir', sdir, '--listen', `${h2.address}:${p}`, '--key-file', key, '--changelog', join(scratch, `${name}-s.log`), ...sargs]));
    await sec.waitLine(/^LISTENING/);
    const pri = new LineWatcher(`pri-${name}`, h1.spawn([bin, 'primary', '--dir', pdir, '--key-file', key, '--timeout-ms', '2000', '--changelog', join(scratch, `${name}-p.log`), '--peer', `${h2.address}:${p}`, ...pargs]));
    await pri.waitLine(/^READY/, 15000);
    await pri.waitLine(/^STATE sync/, 15000);
    systems.push({ name, dir: pdir, pri, sec });
  }
  if (process.env.FLOOR === '1') { // scripts/bench-lib/floor.c between h1 and h2 (see the official benchmark)
    const fl = join(scratch, 'floor');
    const c2 = spawnSync('cc', ['-O2', '-o', fl, join(ROOT, 'scripts/bench-lib/floor.c')], { encoding: 'utf8' });
    if (c2.status) throw new Error(c2.stderr);
    for (const d of ['fa', 'fb']) mkdirSync(join(scratch, d));
    systems.push({ name: 'floor', floor: fl });
  }
  if (process.env.DUAL === '1') {
    const d2 = join(scratch, 'local2'); mkdirSync(d2);
    systems.push({ name: 'local-2jobs', dir: systems[0].dir, dual: d2 });
  }
  const res = {};
  const run = async (w, s) => {
    spawnSync('sync'); await sleep(800);
    if (s.pri) { s.pri.child.kill('SIGUSR1'); s.sec?.child.kill('SIGUSR1'); }
    const m0 = s.pri?.lines.length;
    const n0 = s.sec?.lines.length;
    let r;
    if (w === 'small') {
      const x = await h1.execOk([sf, s.dir, String(NFILES), '4096'], { timeoutMs: 600000 });
      r = Number(/total_s=([\d.]+)/.exec(x.stdout)[1]);
    } else if (s.floor) {
      if (w === 'small') return null;
      const p = port++;
      const srv = h2.spawn([s.floor, 'server', h2.address, String(p), join(scratch, 'fb')]);
      await sleep(300);
      const x = await h1.execOk([s.floor, 'client', h2.address, String(p), join(scratch, 'fa'), w, String(RUNTIME)], { timeoutMs: 600000 });
      srv.kill('SIGKILL');
      r = Number((w === '4k' ? /iops=([\d.]+)/ : /mbps=([\d.]+)/).exec(x.stdout)[1]);
    } else if (s.dual) {
      if (w !== '4k') return null;
      const xs = await Promise.all([h1.execOk(fioArgs(w, s.dir), { timeoutMs: 600000 }), h2.execOk(fioArgs(w, s.dual), { timeoutMs: 600000 })]);
      const v = xs.map((x) => JSON.parse(x.stdout.slice(x.stdout.indexOf('{'))).jobs[0].write.iops);
      r = (v[0] + v[1]) / 2; // IOPS per job, two jobs at once on the same disk
    } else {
      const x = await h1.execOk(fioArgs(w, s.dir), { timeoutMs: 600000 });
      const j = JSON.parse(x.stdout.slice(x.stdout.indexOf('{'))).jobs[0].write;
      r = w === '4k' ? j.iops : j.bw / 1024;
    }
    if (s.pri) { s.pri.child.kill('SIGUSR1'); await sleep(200); const st = s.pri.lines.slice(m0).filter((l) => l.startsWith('STATS')); if (st.length) console.log(`    ${st[st.length - 1].slice(0, 400)}`);
      if (s.sec) { s.sec.child.kill('SIGUSR1'); await sleep(200); } const ss = !s.sec ? [] : s.sec.lines.slice(n0).filter((l) => l.startsWith('STATS')); if (ss.length > 1) console.log(`    ${ss[0].slice(0, 300)}\n    ${ss[ss.length - 1].slice(0, 300)}`); }
    return r;
  };
  for (let round = 0; round < ROUNDS; round++) {
    const order = systems.map((_, i) => systems[(i + round) % systems.length]);
    for (const w of WORKLOADS) for (const s of order) {
      const r = await run(w, s);
      if (r === null) continue;
      ((res[w] ??= {})[s.name] ??= []).push(r);
      console.log(`round ${round + 1} ${w.padEnd(5)} ${s.name.padEnd(14)} ${r.toFixed(w === 'small' ? 2 : 0)}${w === '4k' ? ' IOPS' : w === '128k' ? ' MiB/s' : ' s'}`);
    }
  }
  console.log(`\nfio 4k: ${fioArgs('4k', 'DIR').join(' ')}\nfio 128k: ${fioArgs('128k', 'DIR').join(' ')}\nsmall: smallfiles DIR ${NFILES} 4096\nmedian of ${ROUNDS} interleaved rounds:`);
  for (const w of WORKLOADS) {
    const L = median(res[w].local);
    for (const [n, xs] of Object.entries(res[w])) {
      const m = median(xs);
      const ratio = w === 'small' ? `${(L / m * 100).toFixed(0)}% of local speed` : `${(m / L * 100).toFixed(0)}% of local`;
      console.log(`${w.padEnd(5)} ${n.padEnd(14)} ${m.toFixed(w === 'small' ? 2 : 0).padStart(8)} [${xs.map((x) => x.toFixed(w === 'small' ? 2 : 0)).join(' ')}]  ${ratio}`);
    }
  }
  for (const s of systems) if (s.pri) { const a = s.pri.lines.find((l) => /STATE alone|OUTOFSYNC/.test(l)); if (a) console.log(`WARNING ${s.name}: ${a}`); }
  for (const s of systems) if (s.pri) { await s.pri.stop().catch(() => {}); await s.sec?.stop().catch(() => {}); }
} finally {
  if (net) await net.destroy().catch((e) => console.error(e.message));
  cleanup();
}
