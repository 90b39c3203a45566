// End-to-end through the CLI: init -> lint -> build -> verify -> inspect, keys, failures.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hamod } from './cli-run.js';

function tmp(t: { after: (f: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'hamod-cli-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const COMMANDS = ['build', 'init', 'inspect', 'lint', 'verify', 'keys generate', 'keys list', 'keys export', 'agent', 'witness', 'status', 'logs', 'cluster init', 'cluster show', 'cluster add-node', 'module add', 'start', 'stop', 'restart', 'swap', 'prim', 'second', 'forcestop'];

test('help lists every command, and each command has examples', (t) => {
  const home = tmp(t);
  const top = hamod(['--help'], { home });
  assert.equal(top.code, 0);
  for (const c of ['build', 'init', 'inspect', 'lint', 'verify', 'keys', 'cluster', 'module', 'agent', 'status', 'swap']) assert.match(top.stdout, new RegExp(`\\b${c}\\b`));
  for (const c of COMMANDS) {
    const r = hamod([...c.split(' '), '--help'], { home });
    assert.equal(r.code, 0, c);
    assert.match(r.stdout, /EXAMPLES/, `${c} has examples`);
    assert.match(r.stdout, /\$ hamod /, `${c} examples show the command`);
  }
});

test('init, lint, build, verify, inspect: a new module builds as is, reproducibly', (t) => {
  const home = tmp(t);
  for (const mode of ['mirror', 'farm']) {
    const dir = join(home, `my-${mode}`);
    const init = hamod(['init', dir, '--mode', mode], { home });
    assert.equal(init.code, 0, init.stderr);
    for (const f of ['module.yaml', 'README.md', 'CHANGELOG.md', 'scripts/run.sh']) statSync(join(dir, f));
    const lint = hamod(['lint', dir, '--json'], { home });
    assert.equal(lint.code, 0, lint.stdout);
    assert.deepEqual(JSON.parse(lint.stdout).diagnostics, []);
    const b1 = hamod(['build', dir, '--out', join(home, 'o1'), '--json'], { home });
    assert.equal(b1.code, 0, b1.stderr);
    const j1 = JSON.parse(b1.stdout);
    assert.equal(j1.path, join(home, 'o1', `my-${mode}-0.1.0.hamod`));
    assert.match(j1.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(j1.size, statSync(j1.path).size);
    const b2 = hamod(['build', dir, '--out', join(home, 'o2')], { home });
    assert.equal(b2.code, 0);
    assert.equal(b2.stdout.trim(), join(home, 'o2', `my-${mode}-0.1.0.hamod`), 'build prints the path');
    assert.ok(readFileSync(j1.path).equals(readFileSync(b2.stdout.trim())), 'two builds are byte-identical');
    const v = hamod(['verify', j1.path, '--json'], { home });
    assert.equal(v.code, 0, v.stdout);
    assert.equal(JSON.parse(v.stdout).trusted, true);
    const i = hamod(['inspect', j1.path, '--json'], { home });
    assert.equal(i.code, 0);
    const ij = JSON.parse(i.stdout);
    assert.equal(ij.plan.module.mode, mode);
    assert.equal(ij.module.name, `my-${mode}`);
    assert.ok(ij.files.some((f: { path: string; mode: string }) => f.path === 'scripts/run.sh' && f.mode === '0755'));
    const human = hamod(['inspect', j1.path], { home });
    assert.match(human.stdout, /services \(start order\)/);
  }
  const again = hamod(['init', join(home, 'my-mirror'), '--mode', 'mirror'], { home });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /not empty/);
});

test('keys: generate (0600), list, export never shows private material', (t) => {
  const home = tmp(t);
  const g = hamod(['keys', 'generate', 'release', '--json'], { home });
  assert.equal(g.code, 0, g.stderr);
  const k = JSON.parse(g.stdout);
  assert.equal(statSync(k.privateKey).mode & 0o777, 0o600);
  assert.doesNotMatch(g.stdout, /PRIVATE KEY/);
  const dup = hamod(['keys', 'generate', 'release'], { home });
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /HM504/);
  const l = hamod(['keys', 'list', '--json'], { home });
  assert.deepEqual(JSON.parse(l.stdout).map((x: { name: string; keyId: string }) => [x.name, x.keyId]), [['release', k.keyId]]);
  const e = hamod(['keys', 'export', 'release'], { home });
  assert.match(e.stdout, /^-----BEGIN PUBLIC KEY-----/);
  assert.doesNotMatch(e.stdout + e.stderr, /PRIVATE/);
});

test('verify fails loudly on tampering and on an untrusted signer, with one line and a code', (t) => {
  const home = tmp(t);
  const b = hamod(['build', 'modules/farm', '--out', home, '--json'], { home });
  assert.equal(b.code, 0, b.stderr);
  const file = JSON.parse(b.stdout).path as string;
  const bytes = readFileSync(file);
  const flipped = Buffer.from(bytes);
  flipped[Math.floor(bytes.length / 2)]! ^= 0x01;
  writeFileSync(join(home, 'flipped.hamod'), flipped);
  const r1 = hamod(['verify', join(home, 'flipped.hamod')], { home });
  assert.equal(r1.code, 1);
  assert.match(r1.stderr, /^hamod: .*HM40\d /m);
  assert.doesNotMatch(r1.stderr, /\n\s+at /, 'no stack without --debug');
  writeFileSync(join(home, 'cut.hamod'), bytes.subarray(0, bytes.length - 100));
  const r2 = hamod(['verify', join(home, 'cut.hamod')], { home });
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /HM401/);
  // Another signer: a key the verifier does not trust.
  const other = join(home, 'other');
  assert.equal(hamod(['keys', 'generate', 'x'], { home: other }).code, 0);
  const pub = join(home, 'x.pub');
  writeFileSync(pub, hamod(['keys', 'export', 'x'], { home: other }).stdout);
  const r3 = hamod(['verify', file, '--key', pub], { home });
  assert.equal(r3.code, 1);
  assert.match(r3.stderr, /HM407/);
  const r4 = hamod(['verify', file], { home: other });
  assert.equal(r4.code, 1, 'the default key store of someone else does not trust it');
});

test('build of a broken module: located diagnostics with code frame, exit 1, nothing written', (t) => {
  const home = tmp(t);
  const dir = join(home, 'm');
  assert.equal(hamod(['init', dir, '--mode', 'mirror'], { home }).code, 0);
  const y = readFileSync(join(dir, 'module.yaml'), 'utf8').replace('mode: mirror', 'mode: miror');
  writeFileSync(join(dir, 'module.yaml'), y);
  const r = hamod(['build', dir, '--out', join(home, 'out')], { home });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /module\.yaml:\d+:7 {2}error {2}HM204 {2}mode must be "mirror" \| "farm", not "miror"; did you mean "mirror"\?/);
  assert.match(r.stderr, /> +\d+ \| mode: miror\n +\| +\^{5}/, 'code frame with a caret under the value');
  assert.throws(() => statSync(join(home, 'out')), 'no output directory was created');
  const j = hamod(['lint', dir, '--json'], { home });
  assert.equal(j.code, 1);
  const d = JSON.parse(j.stdout).diagnostics[0];
  assert.equal(d.code, 'HM204');
  assert.equal(d.field, 'mode');
});

test('bad flags and unknown commands exit non-zero with one line', (t) => {
  const home = tmp(t);
  const r = hamod(['build', '--bogus'], { home });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Nonexistent flag: --bogus/);
  assert.ok(r.stderr.trim().split('\n').length <= 3);
});

test('cluster commands: a clear line when no agent runs; module add checks every parameter first', (t) => {
  const home = tmp(t);
  const dir = join(home, 'nodata');
  for (const args of [['status', '--data-dir', dir], ['swap', 'mirror', '--data-dir', dir]]) {
    const r = hamod(args, { home });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^hamod: no agent is running with data directory .*nodata/m);
  }
  const b = hamod(['build', 'modules/mirror', '--out', home, '--json'], { home });
  const bundle = JSON.parse(b.stdout).path as string;
  const r = hamod(['module', 'add', bundle, '--set', 'vip=300.1.1.1', '--set', 'port=99999', '--set', 'colour=red', '--data-dir', dir], { home });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /unknown parameter "colour"/);
  assert.match(r.stderr, /parameter "vip" must be an IPv4 or IPv6 address/);
  assert.match(r.stderr, /parameter "port" must be a port between 1 and 65535/);
});

test('cluster init writes a CA, node and witness directories with private keys 0600', (t) => {
  const home = tmp(t);
  const out = join(home, 'c');
  const r = hamod(['cluster', 'init', '--name', 'prod', '--node', 'n1=198.18.0.1,198.19.0.1', '--node', 'n2=198.18.0.2,198.19.0.2', '--witness', '198.18.0.9', '--out', out, '--json'], { home });
  assert.equal(r.code, 0, r.stderr);
  for (const d of ['n1', 'n2', 'witness']) {
    assert.equal(statSync(join(out, d, 'node.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(out, d, 'cluster.secret')).mode & 0o777, 0o600);
    assert.equal(statSync(join(out, d, 'cluster.json')).mode & 0o777, 0o600);
  }
  const show = hamod(['cluster', 'show', '--data-dir', join(out, 'n1'), '--json'], { home });
  const c = JSON.parse(show.stdout);
  assert.equal(c.version, 1);
  assert.deepEqual(c.nodes.map((n: { name: string }) => n.name), ['n1', 'n2']);
  const bad = hamod(['cluster', 'init', '--name', 'x', '--node', 'n1=1.2.3', '--node', 'n2=198.18.0.2,198.19.0.2', '--out', join(home, 'd')], { home });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /"1\.2\.3" is not an IP address/);
  assert.match(bad.stderr, /same count on all nodes/);
});
