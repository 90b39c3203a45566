// Runs every dist/test/**/*.test.js with Node's test runner (Node 20's --test has no globs).
// Extra arguments select files by substring: `node scripts/run-tests.mjs compiler bundle`.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('../dist/test/', import.meta.url).pathname;
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
})(root);
// Filters may name source paths too (`test/cluster/jepsen`, `test/cluster/x.test.ts`).
const filters = process.argv.slice(2).map((f) => f.replace(/^(\.\/)?(dist\/)?test\//, '').replace(/\.ts$/, '.js'));
const selected = filters.length ? files.filter((f) => filters.some((s) => relative(root, f).includes(s))) : files;
if (selected.length === 0) {
  console.error('no test files found: run `npm run build` first');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...selected], { stdio: 'inherit' });
process.exit(r.status ?? 1);
