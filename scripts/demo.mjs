// `npm run demo`: the main job on one machine with embedded defaults. Today it walks the module
// tool chain end to end with the real CLI: init, lint (with a deliberate mistake), build (signed,
// reproducible), verify, tamper detection, inspect.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const work = join(root, '.hamod-demo');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const env = { ...process.env, HAMOD_HOME: join(work, 'home') };

function step(title) {
  console.log(`\n\u001b[1m== ${title}\u001b[0m`);
}
function hamod(args, { allowFail = false } = {}) {
  console.log(`$ hamod ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [join(root, 'bin/hamod.js'), ...args], { cwd: work, env, encoding: 'utf8' });
  process.stdout.write(r.stdout);
  process.stdout.write(r.stderr);
  if (r.status !== 0 && !allowFail) {
    console.error(`demo step failed (exit ${r.status})`);
    process.exit(1);
  }
  return r;
}

step('Scaffold a mirror module');
hamod(['init', 'my-app', '--mode', 'mirror']);

step('A mistake is reported with file, line, column, field, code and a code frame');
const yamlPath = join(work, 'my-app/module.yaml');
const good = readFileSync(yamlPath, 'utf8');
writeFileSync(yamlPath, good.replace('port: "{{params.port}}"', 'port: "{{params.prot}}"').replace('url: "http://127.0.0.1:{{params.port}}/health"', 'url: "http://127.0.0.1:{{params.prot}}/health"').replace('failback: false', 'failback: false\n  failbak: true'));
hamod(['lint', 'my-app'], { allowFail: true });
writeFileSync(yamlPath, good);
hamod(['lint', 'my-app']);

step('Build signed bundles (the signing key is created on first use)');
for (const m of ['mirror', 'farm', 'postgresql']) hamod(['build', join(root, 'modules', m), '--out', 'bundles']);
hamod(['build', 'my-app', '--out', 'bundles']);

step('Reproducible: a second build is byte-identical');
const first = readFileSync(join(work, 'bundles/my-app-0.1.0.hamod'));
hamod(['build', 'my-app', '--out', 'again']);
console.log(first.equals(readFileSync(join(work, 'again/my-app-0.1.0.hamod'))) ? 'identical bytes' : 'DIFFERENT BYTES');

step('Verify, then tamper with one byte');
hamod(['verify', 'bundles/postgresql-1.0.0.hamod']);
const t = Buffer.from(readFileSync(join(work, 'bundles/postgresql-1.0.0.hamod')));
t[t.length >> 1] ^= 1;
writeFileSync(join(work, 'tampered.hamod'), t);
hamod(['verify', 'tampered.hamod'], { allowFail: true });

step('Inspect what the runtime will execute');
hamod(['inspect', 'bundles/postgresql-1.0.0.hamod']);
console.log(`\nEverything is in ${work} (remove it with: rm -rf .hamod-demo)`);
