// Benchmarks of the compiler CLI, whole-process (CLI start-up included): `hamod build` of the
// example module and `hamod --help`, wall time and peak RSS, median of N runs, interleaved with a
// bare `node -e 0` as the baseline measured in the same run. Ends with one JSON line.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const runs = Number(process.env.BENCH_RUNS ?? 15);
const home = mkdtempSync(join(tmpdir(), 'hamod-bench-'));
const probe = join(root, 'scripts/bench-rss-probe.mjs');
const env = { ...process.env, HAMOD_HOME: join(home, '.hamod'), NO_COLOR: '1' };

function once(args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--import', probe, ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'], encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
  const rssKb = Number(String(r.output[3] ?? '').trim());
  return { ms, mb: rssKb / 1024 };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

const cases = {
  node: ['-e', '0'],
  help: [join(root, 'bin/hamod.js'), '--help'],
  build: [join(root, 'bin/hamod.js'), 'build', join(root, 'modules/mirror'), '--out', join(home, 'out')],
};
once(cases.build); // creates the default key; warms the file cache
const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let i = 0; i < runs; i++) for (const [k, args] of Object.entries(cases)) samples[k].push(once(args));
rmSync(home, { recursive: true, force: true });

const row = (k) => ({ ms: median(samples[k].map((s) => s.ms)), mb: median(samples[k].map((s) => s.mb)) });
const node = row('node'), help = row('help'), build = row('build');
console.log(`runs: ${runs} (interleaved), medians, whole process`);
console.log(`  node -e 0       ${node.ms.toFixed(1)} ms  ${node.mb.toFixed(1)} MB peak   (baseline)`);
console.log(`  hamod --help    ${help.ms.toFixed(1)} ms  ${help.mb.toFixed(1)} MB peak   ${(help.ms / node.ms).toFixed(2)}x baseline   target <= 300 ms`);
console.log(`  hamod build     ${build.ms.toFixed(1)} ms  ${build.mb.toFixed(1)} MB peak   ${(build.ms / node.ms).toFixed(2)}x baseline   target <= 500 ms`);
console.log(JSON.stringify({ build_ms: +build.ms.toFixed(1), help_ms: +help.ms.toFixed(1), build_peak_mb: +build.mb.toFixed(1), help_peak_mb: +help.mb.toFixed(1), node_baseline_ms: +node.ms.toFixed(1), runs }));
