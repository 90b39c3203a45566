// `npm run demo` — the main job, on this one machine, nothing to configure:
//  1. the module tool chain: a module is built into a signed, reproducible bundle and verified;
//  2. a real two-node mirror cluster on test hosts (network namespaces n1, n2 and a client that is
//     also the witness): cluster CA and certificates, a witness, two hamod agents, the example
//     mirror module (a small HTTP service) installed with a virtual IP; its status; the VIP answering
//     from the primary; a host crash of the primary and the takeover by the other node.
// Interactive (a terminal): the cluster stays up for you to try commands until Ctrl-C.
// Not interactive (CI, pipes): runs the scripted failover and exits. Everything is removed at the end.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const work = join(root, '.hamod-demo');
const bin = join(root, 'bin/hamod.js');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const env = { ...process.env, HAMOD_HOME: join(work, 'home') };
const bold = (s) => (process.stdout.isTTY ? `\u001b[1m${s}\u001b[0m` : s);
const step = (t) => console.log(`\n${bold(`== ${t}`)}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function hamod(args, { allowFail = false, quiet = false } = {}) {
  if (!quiet) console.log(`$ hamod ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: work, env, encoding: 'utf8' });
  if (!quiet) process.stdout.write(r.stdout + r.stderr);
  if (r.status !== 0 && !allowFail) throw new Error(`hamod ${args[0]} failed (exit ${r.status}): ${r.stderr}`);
  return r;
}

step('1. A module becomes a signed, reproducible bundle');
const bundle = hamod(['build', join(root, 'modules/mirror'), '--out', 'bundles', '--json'], { quiet: true });
const bundlePath = JSON.parse(bundle.stdout).path;
console.log(`built ${bundlePath}`);
hamod(['verify', bundlePath]);

if (process.getuid?.() !== 0) {
  console.log(`\nThe cluster part of the demo creates network namespaces and virtual IPs: it needs root.
Run it again as root:  sudo npm run demo`);
  process.exit(0);
}

// The tools the test hosts need: installed from Debian's packages when missing (as CI does).
const TOOLS = { ip: 'iproute2', nft: 'nftables', ping: 'iputils-ping', arping: 'iputils-arping', nsenter: 'util-linux', mount: 'mount', pgrep: 'procps', openssl: 'openssl', curl: 'curl' };
const missing = Object.entries(TOOLS).filter(([cmd]) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0).map(([, pkg]) => pkg);
// The native replication component is built from source (native/build.sh): its build packages.
const nativeBin = join(root, 'native/hamod-repl/build/hamod-repl');
const nativePkgs = ['build-essential', 'pkg-config', 'libfuse3-dev', 'libssl-dev', 'fuse3']; // first block of native/apt-packages.txt
if (!existsSync(nativeBin)) missing.push(...nativePkgs.filter((p) => spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' }).stdout?.includes('ok installed') !== true));
if (missing.length) {
  step(`Installing the missing system packages: ${[...new Set(missing)].join(' ')}`);
  const env2 = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env: env2 });
  const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...new Set(missing)], { stdio: 'inherit', env: env2 });
  if (r.status !== 0) {
    console.error('could not install them: install these packages and run the demo again');
    process.exit(1);
  }
}
if (!existsSync(nativeBin)) {
  step('Building the native replication component (native/build.sh)');
  const r = spawnSync('sh', [join(root, 'native/build.sh')], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('native/build.sh failed: the replicated directory cannot be served');
    process.exit(1);
  }
}

const { createTestNet } = await import(join(root, 'dist/test/harness/index.js'));
const cleanups = [];
const t = { after: (f) => cleanups.push(f) };
let cleaning = false;
async function cleanup() {
  if (cleaning) return;
  cleaning = true;
  for (const f of cleanups.reverse()) { try { await f(); } catch { /* best effort */ } }
}
process.on('SIGINT', () => { console.log('\nstopping the demo cluster…'); void cleanup().then(() => process.exit(0)); });
process.on('SIGTERM', () => void cleanup().then(() => process.exit(0)));

try {
  step('2. Three test hosts on this machine: n1, n2 and a client that is also the witness');
  const net = await createTestNet({ hosts: ['n1', 'n2', 'client'], mountNamespace: true, prefix: 'hdemo', t });
  const [n1, n2, client] = net.hosts;
  for (const h of net.hosts) console.log(`  ${h.name}: ${h.address}  (network namespace ${h.netns})`);
  const vip = net.spareAddress(0);
  const procs = [];
  cleanups.push(() => { for (const p of procs) { try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } } });
  const start = (host, args) => { const p = host.spawn([process.execPath, bin, ...args], { env, stdio: 'ignore' }); procs.push(p); return p; };

  step('3. Cluster: a CA, a certificate and data directory per node, one for the witness');
  const cdir = join(work, 'cluster');
  hamod(['cluster', 'init', '--name', 'demo', '--node', `n1=${n1.address}`, '--node', `n2=${n2.address}`, '--witness', client.address, '--out', cdir]);
  start(client, ['witness', '--data-dir', join(cdir, 'witness')]);
  const appData = `/var/lib/hamod-demo-${net.runId}`;
  cleanups.unshift(() => rmSync(appData, { recursive: true, force: true })); // runs last, after the hosts are gone
  // Each node's application data on this machine's disk, bind-mounted at the same path in the node.
  const diskOf = (h) => join(work, `${h.name}-app`);
  const mountData = async (h) => {
    mkdirSync(diskOf(h), { recursive: true });
    await h.execOk(['mkdir', '-p', appData]);
    await h.execOk(['mount', '--bind', diskOf(h), appData]);
  };
  for (const h of [n1, n2]) await mountData(h);
  start(n1, ['agent', '--data-dir', join(cdir, 'n1')]);
  start(n2, ['agent', '--data-dir', join(cdir, 'n2')]);
  await sleep(1500);

  step('4. Install the example mirror module with its virtual IP');
  hamod(['module', 'add', bundlePath, '--set', `vip=${vip}`, '--set', 'port=8080', '--set', `data_dir=${appData}`, '--data-dir', join(cdir, 'n1')]);
  const statusOf = () => JSON.parse(hamod(['status', '--json', '--data-dir', join(cdir, 'n1')], { quiet: true, allowFail: true }).stdout || '{}');
  let prim = null;
  for (let i = 0; i < 100 && !prim; i++) {
    await sleep(200);
    const s = statusOf();
    const nodes = [s.local, s.peer].filter((x) => x && x.modules);
    if (nodes.length === 2 && nodes.every((n) => ['PRIM', 'SECOND'].includes(n.modules[0]?.state))) prim = nodes.find((n) => n.modules[0].state === 'PRIM').node;
  }
  hamod(['status', '--data-dir', join(cdir, 'n1')]);
  if (!prim) throw new Error('the module did not reach PRIM/SECOND');

  const curl = async (timeout = '1', post = false) => (await client.exec(['curl', '-s', '-m', timeout, ...(post ? ['-X', 'POST'] : []), `http://${vip}:8080/`])).stdout.trim();
  step(`5. The VIP ${vip} answers from the primary (${prim}); each POST is a write to the replicated directory`);
  console.log(`$ curl http://${vip}:8080/   (from the client host)\n${await curl()}`);
  for (let i = 0; i < 3; i++) console.log(`$ curl -X POST http://${vip}:8080/\n${await curl('2', true)}`);
  const secHost = prim === 'n1' ? n2 : n1;
  console.log(`\nOn the secondary (${secHost.name}) the same file is already there, read-only for applications:`);
  console.log(`$ wc -l ${appData}/visits.log\n${(await secHost.exec(['wc', '-l', `${appData}/visits.log`])).stdout.trim()}`);
  const ro = await secHost.exec(['sh', '-c', `echo x >> ${appData}/visits.log`]);
  console.log(`$ echo x >> ${appData}/visits.log\n${ro.stderr.trim() || '(written?!)'}`);

  const enter = (h) => `nsenter --net=${h.netnsPath}`;
  if (process.stdin.isTTY) {
    console.log(`
The cluster is up. In another terminal, as root:
  ${enter(client)} curl http://${vip}:8080/                 # ask the VIP
  ${bin} status --data-dir ${join(cdir, 'n1')}               # nodes × modules
  ${bin} swap mirror --data-dir ${join(cdir, 'n1')}          # swap primary and secondary
  ${bin} logs mirror --data-dir ${join(cdir, prim)} -f        # transitions and app output
  kill -9 $(pgrep -f 'input-type=module' | head -1)          # crash the app: restarted in place
Press Enter here to crash the primary host (${prim}) and watch the takeover; Ctrl-C to stop.`);
    await new Promise((r) => process.stdin.once('data', r));
  }

  step(`6. Host crash of the primary (${prim}): its links are cut and all its processes killed`);
  const other = prim === 'n1' ? 'n2' : 'n1';
  const t0 = Date.now();
  await net.killHost(prim === 'n1' ? n1 : n2);
  let answer = '';
  while (Date.now() - t0 < 20_000 && !answer.includes(`on ${other}`)) answer = await curl('0.2').catch(() => '');
  console.log(`the VIP answers from ${other} ${Date.now() - t0} ms after the crash (curl every ~20 ms, 0.2 s timeout), with every visit recorded before the crash:\n${answer}`);
  console.log(`$ curl -X POST http://${vip}:8080/\n${await curl('2', true)}`);
  hamod(['status', '--data-dir', join(cdir, other)]);

  step(`7. ${prim} boots again: it is reintegrated while the application keeps running (it crashed as primary: the namespace is walked and only the zones its activity log and the survivor's change log name are compared or sent), then becomes the secondary`);
  const crashed = prim === 'n1' ? n1 : n2;
  await net.reviveHost(crashed);
  await mountData(crashed);
  start(crashed, ['agent', '--data-dir', join(cdir, prim)]);
  hamod(['resync', 'mirror', '--watch', '--timeout', '60', '--data-dir', join(cdir, other)], { allowFail: true });
  hamod(['status', '--data-dir', join(cdir, other)]);
  if (process.stdin.isTTY) {
    console.log('\nTry more commands (see above); press Enter or Ctrl-C to stop and remove the demo cluster.');
    await new Promise((r) => process.stdin.once('data', r));
  }
} catch (e) {
  console.error(`demo failed: ${e.message}`);
  process.exitCode = 1;
} finally {
  await cleanup();
  process.stdin.pause();
}
