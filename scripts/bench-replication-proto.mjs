// Benchmark of the native replication data path (native/hamod-repl), side by side with the local
// directory, on test hosts (test/harness): fio in host h1 on (a) a local directory of the real disk,
// (b) a directory replicated by hamod-repl from h1 (primary, FUSE mount over the directory) to h2
// (secondary), both directories on the same disk of this machine. Runs interleave
// local / hamod so that the disk's drift hits both sides alike. Ends with ONE JSON line.
//
//   BENCH_ROUNDS     rounds of (local, hamod) per workload (default 2; the best run of each side is kept
//                    as well as the median; the JSON carries the medians)
//   BENCH_RUNTIME_S  fio runtime per run (default 15)
//   BENCH_PERF=1     record `perf record -g` of the primary and secondary during one hamod 4k run
//   BENCH_SECONDARY_TMPFS=1  secondary directory on a tmpfs (what an independent second disk
//                    would be, when this machine's single disk is the bottleneck of both sides)
//
// Needs root, the harness's tools, fio and native/apt-packages.txt. Build first: `npx tsc -p tsconfig.json`.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const { createTestNet } = await import(join(ROOT, 'dist/test/harness/index.js'));
const { buildNative, makeDirs, startPair } = await import(join(ROOT, 'dist/test/replication/fixture.js'));

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const RUNTIME = Number(process.env.BENCH_RUNTIME_S ?? 15);
const PERF = process.env.BENCH_PERF === '1';
const SEC_TMPFS = process.env.BENCH_SECONDARY_TMPFS === '1';

const fioArgs = (name, dir) => {
  const common = ['--ioengine=psync', '--iodepth=1', '--numjobs=1', `--runtime=${RUNTIME}`, '--time_based', '--output-format=json', `--directory=${dir}`];
  if (name === '4k') return ['fio', '--name=randwrite4k', '--rw=randwrite', '--bs=4k', '--size=64m', '--direct=0', '--sync=dsync', ...common];
  return ['fio', '--name=seqwrite128k', '--rw=write', '--bs=128k', '--size=1g', '--direct=0', '--end_fsync=1', ...common];
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function fio(host, name, dir) {
  const argv = fioArgs(name, dir);
  const r = await host.exec(argv, { timeoutMs: (RUNTIME + 120) * 1000 });
  if (r.code !== 0) throw new Error(`fio failed on ${dir}: ${r.stderr}${r.stdout.slice(0, 2000)}`);
  const j = JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
  const w = j.jobs[0].write;
  return { iops: w.iops, mbps: w.bw / 1024, lat_us: w.clat_ns.mean / 1000, p99_us: (w.clat_ns.percentile?.['99.000000'] ?? 0) / 1000 };
}

async function main() {
  console.error('building native/hamod-repl ...');
  buildNative();
  const net = await createTestNet({ hosts: ['h1', 'h2'], mountNamespace: true });
  const dirs = makeDirs();
  let pair;
  try {
    const [h1, h2] = net.hosts;
    const localDir = join(dirs.root, 'local');
    mkdirSync(localDir);
    if (SEC_TMPFS) await h2.mountTmpfs(dirs.secondaryDir, '4g');
    pair = await startPair(h1, h2, dirs, { timeoutMs: 5000 });
    await pair.primary.waitLine(/^STATE sync$/);
    const fioCmd = (name) => fioArgs(name, 'DIR').join(' ');
    console.log(`fio 4k:   ${fioCmd('4k')}`);
    console.log(`fio 128k: ${fioCmd('128k')}`);
    console.log(`load average before: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (other work on this machine skews both sides)`);
    console.log(`local = ${localDir} (ext4 on this machine's disk); hamod = ${dirs.primaryDir} (FUSE, primary on h1) -> ${dirs.secondaryDir}${SEC_TMPFS ? ' (tmpfs)' : ''} (secondary on h2)`);
    const res = { '4k': { local: [], hamod: [] }, '128k': { local: [], hamod: [] } };
    for (const name of ['4k', '128k']) {
      for (let i = 0; i < ROUNDS; i++) {
        const l = await fio(h1, name, localDir);
        res[name].local.push(l);
        let perfProcs = [];
        if (PERF && name === '4k' && i === 0) {
          for (const [w, tag] of [[pair.primary, 'primary'], [pair.secondary, 'secondary']]) {
            const out = join(dirs.root, `perf-${tag}.data`);
            perfProcs.push({ tag, out, child: (await import('node:child_process')).spawn('perf', ['record', '-g', '-o', out, '-p', String(w.child.pid)], { stdio: 'ignore' }) });
          }
        }
        const before = pair.primary.lines.length;
        pair.primary.child.kill('SIGUSR1');
        const h = await fio(h1, name, dirs.primaryDir);
        pair.primary.child.kill('SIGUSR1');
        pair.secondary.child.kill('SIGUSR1');
        await new Promise((r) => setTimeout(r, 300));
        res[name].hamod.push(h);
        const stats = pair.primary.lines.slice(before).filter((x) => x.startsWith('STATS'));
        for (const p of perfProcs) {
          p.child.kill('SIGINT');
          await new Promise((r) => p.child.once('exit', r));
          const rep = spawnSync('perf', ['report', '-i', p.out, '--no-children', '--sort', 'dso,sym', '--stdio', '-g', 'none', '--percent-limit', '1.5'], { encoding: 'utf8' });
          console.log(`--- perf ${p.tag} (4k run) ---\n${rep.stdout.split('\n').filter((x) => x && !x.startsWith('#')).slice(0, 30).join('\n')}`);
        }
        const fmt = (x) => `${x.iops.toFixed(0).padStart(6)} IOPS ${x.mbps.toFixed(1).padStart(7)} MiB/s  lat ${x.lat_us.toFixed(0).padStart(5)} us (p99 ${x.p99_us.toFixed(0)})`;
        console.log(`${name.padEnd(4)} round ${i + 1}: local ${fmt(l)} | hamod ${fmt(h)} | ratio ${(name === '4k' ? h.iops / l.iops : h.mbps / l.mbps).toFixed(2)}`);
        if (stats.length) console.log(`     ${stats[stats.length - 1]}`);
      }
    }
    const secStats = pair.secondary.lines.filter((x) => x.startsWith('STATS')).pop();
    if (secStats) console.log(`     ${secStats}`);
    await pair.stop();
    const alone = pair.primary.lines.find((l) => l.startsWith('STATE alone'));
    if (alone) console.log(`WARNING: the primary went alone during the benchmark: ${alone}`);
    const m = (name, side, k) => median(res[name][side].map((x) => x[k]));
    const out = {
      local_4k_iops: Math.round(m('4k', 'local', 'iops')),
      hamod_4k_iops: Math.round(m('4k', 'hamod', 'iops')),
      ratio_4k: +(m('4k', 'hamod', 'iops') / m('4k', 'local', 'iops')).toFixed(3),
      local_128k_mbps: +m('128k', 'local', 'mbps').toFixed(1),
      hamod_128k_mbps: +m('128k', 'hamod', 'mbps').toFixed(1),
      ratio_128k: +(m('128k', 'hamod', 'mbps') / m('128k', 'local', 'mbps')).toFixed(3),
      secondary_on: SEC_TMPFS ? 'tmpfs' : 'disk',
      rounds: ROUNDS,
      runtime_s: RUNTIME,
      went_alone: Boolean(alone),
      loadavg_1m: +loadavg()[0].toFixed(2),
    };
    console.log(`\nside by side (medians): 4k O_DSYNC ${out.local_4k_iops} vs ${out.hamod_4k_iops} IOPS (${(out.ratio_4k * 100).toFixed(0)}%), 128k seq ${out.local_128k_mbps} vs ${out.hamod_128k_mbps} MiB/s (${(out.ratio_128k * 100).toFixed(0)}%)`);
    console.log(JSON.stringify(out));
  } finally {
    if (pair) await pair.stop().catch(() => {});
    await net.destroy();
    dirs.cleanup();
  }
}

await main();
