// Reintegration of a primary that crashed, with its activity log (native/hamod-repl/activity.c)
// against without one (`--al-extents 0`: a full checksum resync), side by side in one run.
//
// Each round, for each variant: h1 primary over a file of BENCH_CRASH_FILE_MB (default 2048) in
// sync with h2; BENCH_CRASH_WRITES (default 2000) random 4 KiB writes into its first
// BENCH_CRASH_HOT_MB (default 256: a database's working set is smaller than its data); the primary's
// process is killed (SIGKILL: a crash; the page cache survives, as after a daemon crash); h2 takes
// over (primary, alone) and writes BENCH_CRASH_WRITES more; h1 returns as secondary and is
// reintegrated (ATTACH delta), the page cache dropped first (a returning node reads from its disk;
// this drops the whole machine's cache). Measured: seconds to INSYNC, bytes of file ranges processed
// (compared or copied) and bytes sent; the copies are compared (sha256) after each round.
// Medians of BENCH_CRASH_ROUNDS (default 3), variants interleaved. Then what the activity log costs
// a rename (one flush of the change log each): 4,000 renames in sync, with and without, interleaved.
// Ends with one JSON line.
//
//   npm run bench:crash-reintegration
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const FILE_MB = Number(process.env.BENCH_CRASH_FILE_MB ?? 2048);
const WRITES = Number(process.env.BENCH_CRASH_WRITES ?? 2000);
const ROUNDS = Number(process.env.BENCH_CRASH_ROUNDS ?? 3);
const HOT_MB = Math.min(Number(process.env.BENCH_CRASH_HOT_MB ?? 256), FILE_MB);
const { createTestNet } = await import(join(ROOT, 'dist/test/harness/index.js'));
const fx = await import(join(ROOT, 'dist/test/replication/fixture.js'));

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const randomWrites = (file, n) =>
  `for k in $(seq ${n}); do dd if=/dev/urandom of=${file} bs=4096 count=1 seek=$(( (RANDOM * 32768 + RANDOM) % ${HOT_MB * 256} )) conv=notrunc status=none; done`;

async function once(net, variant) {
  const [h1, h2] = net.hosts;
  const dirs = fx.makeDirs();
  try {
    const P = dirs.primaryDir;
    await h1.execOk(['fio', '--name=fill', `--filename=${join(P, 'big.dat')}`, '--rw=write', '--bs=1m', `--size=${FILE_MB}m`, '--ioengine=psync', '--end_fsync=1'], { timeoutMs: 600_000 });
    const args = variant === 'none' ? ['--al-extents', '0'] : [];
    const { sec, p } = await fx.startSyncedPair(h1, h2, dirs, { primaryArgs: args });
    await h1.execOk(['bash', '-c', randomWrites(join(P, 'big.dat'), WRITES)], { timeoutMs: 600_000 });
    p.primary.child.kill('SIGKILL'); // the crash
    await p.primary.exitPromise;
    p.ctl.close();
    await sec.stop();
    await net.killHost(h1); // its mount namespace (the dead FUSE mount) goes with it
    await net.reviveHost(h1);
    const sw = { ...dirs, root: join(dirs.root, 'sw'), primaryDir: dirs.secondaryDir, secondaryDir: P, changelog: fx.ctlPaths(dirs).secondaryLog };
    await h2.execOk(['mkdir', '-p', sw.root]);
    const p2 = await fx.startControlledPrimary(h2, sw, { timeoutMs: 2000 });
    const sec2 = await fx.startSecondary(h1, sw, { changelog: dirs.changelog });
    try {
      await p2.ctl.ok('MODE alone g2');
      await h2.execOk(['bash', '-c', randomWrites(join(dirs.secondaryDir, 'big.dat'), WRITES)], { timeoutMs: 600_000 });
      await h2.execOk(['sh', '-c', 'sync && echo 3 > /proc/sys/vm/drop_caches']);
      const t0 = process.hrtime.bigint();
      await p2.ctl.ok(`ATTACH ${h1.address}:7800 delta`);
      await p2.primary.waitLine(/^INSYNC base=g2$/, 1_800_000);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const st = await p2.ctl.status();
      const first = p2.primary.lines.find((l) => /^RESYNC phase=namespace mode=/.test(l)) ?? '';
      const mode = `${/mode=(\w+)/.exec(first)?.[1] ?? '?'}${/ walk=crash/.test(first) ? ' walk=crash' : ''}`;
      const sum = async (h, f) => (await h.execOk(['sha256sum', f], { timeoutMs: 600_000 })).stdout.split(' ')[0];
      const [a, b] = await Promise.all([sum(h2, join(dirs.secondaryDir, 'big.dat')), sum(h1, join(P, 'big.dat'))]);
      if (a !== b) throw new Error(`${variant}: the copies differ after the reintegration`);
      return { seconds, processed: Number(st.total), sent: Number(st.sent), mode };
    } finally {
      await p2.stop();
      await sec2.stop();
    }
  } finally {
    dirs.cleanup();
  }
}

/** Seconds for 4,000 renames (a -> b -> a) through a primary in sync. */
async function renames(net, variant) {
  const [h1, h2] = net.hosts;
  const dirs = fx.makeDirs();
  try {
    writeFileSync(join(dirs.primaryDir, 'a'), 'x'.repeat(8192));
    const { sec, p } = await fx.startSyncedPair(h1, h2, dirs, { primaryArgs: variant === 'none' ? ['--al-extents', '0'] : [] });
    try {
      const script = `import os,time\nt=time.time()\nfor i in range(2000):\n  os.rename("${dirs.primaryDir}/a","${dirs.primaryDir}/b"); os.rename("${dirs.primaryDir}/b","${dirs.primaryDir}/a")\nprint(time.time()-t)`;
      return Number((await h1.execOk(['python3', '-c', script], { timeoutMs: 300_000 })).stdout);
    } finally {
      await p.stop();
      await sec.stop();
    }
  } finally {
    dirs.cleanup();
  }
}

const net = await createTestNet({ hosts: ['h1', 'h2'], mountNamespace: true, prefix: 'hbc' });
const res = { al: [], none: [] };
const ren = { al: [], none: [] };
try {
  for (let r = 1; r <= ROUNDS; r++) {
    for (const v of r % 2 ? ['al', 'none'] : ['none', 'al']) {
      const x = await once(net, v);
      res[v].push(x);
      console.log(`round ${r} ${v.padEnd(4)} ${x.mode.padEnd(16)} ${x.seconds.toFixed(2)} s to INSYNC, ${(x.processed / 2 ** 20).toFixed(1)} MiB processed, ${(x.sent / 2 ** 20).toFixed(1)} MiB sent`);
    }
  }
  for (let r = 1; r <= ROUNDS; r++) {
    for (const v of r % 2 ? ['al', 'none'] : ['none', 'al']) ren[v].push(await renames(net, v));
    console.log(`round ${r} renames: activity log ${ren.al.at(-1).toFixed(2)} s, none ${ren.none.at(-1).toFixed(2)} s`);
  }
} finally {
  await net.destroy();
}
const m = (v, k) => median(res[v].map((x) => x[k]));
console.log(`\n${FILE_MB} MiB file, ${WRITES} random 4 KiB writes into its first ${HOT_MB} MiB before the crash and as many after; medians of ${ROUNDS}:`);
console.log(`  activity log   ${m('al', 'seconds').toFixed(2)} s, ${(m('al', 'processed') / 2 ** 20).toFixed(1)} MiB processed`);
console.log(`  none (full)    ${m('none', 'seconds').toFixed(2)} s, ${(m('none', 'processed') / 2 ** 20).toFixed(1)} MiB processed`);
console.log(`  time ratio (none / activity log): ${(m('none', 'seconds') / m('al', 'seconds')).toFixed(1)}x`);
const rAl = median(ren.al), rNone = median(ren.none);
console.log(`4,000 renames in sync: activity log ${rAl.toFixed(2)} s, none ${rNone.toFixed(2)} s (${(rAl / rNone).toFixed(2)}x; ${(((rAl - rNone) / 4000) * 1e6).toFixed(0)} us more per rename)`);
console.log(JSON.stringify({
  crash_reint_al_s: Number(m('al', 'seconds').toFixed(3)), crash_reint_full_s: Number(m('none', 'seconds').toFixed(3)),
  renames_4000_al_s: Number(rAl.toFixed(3)), renames_4000_none_s: Number(rNone.toFixed(3)),
  crash_reint_al_processed: m('al', 'processed'), crash_reint_full_processed: m('none', 'processed'), file_mb: FILE_MB, hot_mb: HOT_MB, writes: WRITES,
  version: JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version,
}));
