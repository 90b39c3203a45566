// Each kind of bad module yields the right stable code at the right line:column, field included.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { compileModule } from '../../compiler/compile-module.js';
import type { Diagnostic } from '../../compiler/diagnostics.js';
import { MINIMAL_MIRROR, moduleDir } from '../helpers/module-fixture.js';

function lint(t: Parameters<typeof moduleDir>[0], files: Record<string, string | Buffer>): Diagnostic[] {
  return compileModule(moduleDir(t, files), '0.0.0-test').diagnostics;
}

function expectOne(ds: Diagnostic[], code: string, line: number, column: number, field?: string): Diagnostic {
  const d = ds.find((x) => x.code === code);
  assert.ok(d, `expected ${code}, got ${JSON.stringify(ds.map((x) => `${x.code}@${x.start.line}:${x.start.column} ${x.message}`))}`);
  assert.deepEqual([d.start.line, d.start.column], [line, column], `${code} position (${d.message})`);
  if (field !== undefined) assert.equal(d.field, field);
  return d;
}

const base = MINIMAL_MIRROR;
const replace = (from: string, to: string) => {
  assert.ok(base.includes(from), `fixture contains ${from}`);
  return base.replace(from, to);
};

test('the minimal module is clean', (t) => {
  assert.deepEqual(lint(t, { 'module.yaml': base }), []);
});

test('YAML syntax error is located', (t) => {
  expectOne(lint(t, { 'module.yaml': replace('mode: mirror', 'mode: [mirror') }), 'HM104', 5, 1);
});

test('wrong type names expected and found', (t) => {
  const d = expectOne(lint(t, { 'module.yaml': replace('version: 1.0.0', 'version: 1.0') }), 'HM201', 3, 10, 'version');
  assert.equal(d.expected, 'string');
  assert.match(d.actual ?? '', /integer 1/);
});

test('unknown field gets a did-you-mean', (t) => {
  const d = expectOne(lint(t, { 'module.yaml': replace('    run: scripts/run.sh', '    run: scripts/run.sh\n    stopp: scripts/run.sh') }), 'HM203', 11, 5, 'services[0].stopp');
  assert.match(d.message, /did you mean "stop"\?/);
});

test('unknown field in a typed checker lists that checker type\'s fields', (t) => {
  const d = expectOne(lint(t, { 'module.yaml': replace('    port: "{{params.port}}"', '    port: "{{params.port}}"\n    url: http://x/') }), 'HM203', 15, 5, 'checkers[0].url');
  assert.match(d.expected ?? '', /"host"/);
  assert.doesNotMatch(d.expected ?? '', /"addresses"/);
});

test('missing required field points at its parent', (t) => {
  const ds = lint(t, { 'module.yaml': replace('mode: mirror\n', '') });
  const d = expectOne(ds, 'HM202', 1, 1, 'mode');
  assert.match(d.message, /"mode"/);
});

test('enum value suggests the closest allowed one', (t) => {
  const d = expectOne(lint(t, { 'module.yaml': replace('mode: mirror', 'mode: miror') }), 'HM204', 4, 7, 'mode');
  assert.match(d.message, /did you mean "mirror"/);
});

test('a port out of range', (t) => {
  expectOne(lint(t, { 'module.yaml': replace('port: "{{params.port}}"', 'port: 70000') }), 'HM206', 14, 11, 'checkers[0].port');
});

test('a zone size the replication daemon does not take (over 1MiB) is refused', (t) => {
  const y = `${base}replication:\n  directories:\n    - path: /srv/demo\n  zoneSize: 2MiB\n`;
  expectOne(lint(t, { 'module.yaml': y }), 'HM206', 20, 13, 'replication.zoneSize');
  assert.deepEqual(lint(t, { 'module.yaml': y.replace('2MiB', '1MiB') }), []);
});

test('an activity log size the daemon cannot use is refused; off and multiples of 4MiB are taken', (t) => {
  const y = (v: string) => `${base}replication:\n  directories:\n    - path: /srv/demo\n  activityLog: ${v}\n`;
  expectOne(lint(t, { 'module.yaml': y('10MiB') }), 'HM206', 20, 16, 'replication.activityLog');
  expectOne(lint(t, { 'module.yaml': y('66MiB') }), 'HM206', 20, 16, 'replication.activityLog');
  for (const ok of ['off', '64MiB', '8GiB']) assert.deepEqual(lint(t, { 'module.yaml': y(ok) }), [], ok);
  const bytes = (v?: string) => compileModule(moduleDir(t, { 'module.yaml': v ? y(v) : y('4GiB').replace('  activityLog: 4GiB\n', '') }), '0').module?.plan.replication?.activityLogBytes;
  assert.deepEqual([bytes('off'), bytes('64MiB'), bytes()], [0, 64 * 2 ** 20, 4 * 2 ** 30]);
});

test('a port range reversed or out of range', (t) => {
  const farm = `apiVersion: hamod/v1
name: f
version: 1.0.0
mode: farm
services: [{ name: app, run: scripts/run.sh }]
virtualIps: [{ address: 198.18.0.10 }]
loadBalancing:
  rules:
    - { name: web, protocol: tcp, ports: [80, "9000-8000", "1-70000"] }
`;
  const ds = lint(t, { 'module.yaml': farm });
  expectOne(ds, 'HM305', 9, 47, 'loadBalancing.rules[0].ports[1]');
  assert.equal(ds.filter((d) => d.code === 'HM305').length, 2);
});

test('a VIP that is not an address', (t) => {
  const d = expectOne(lint(t, { 'module.yaml': replace('address: "{{params.vip}}"', 'address: 10.0.0.300') }), 'HM306', 16, 14, 'virtualIps[0].address');
  assert.equal(d.actual, '10.0.0.300');
});

test('a VIP bound to a parameter of the wrong type', (t) => {
  expectOne(lint(t, { 'module.yaml': replace('vip: { type: ip, required: true }', 'vip: { type: string, required: true }') }), 'HM310', 16, 14, 'virtualIps[0].address');
});

test('a template variable not declared (field and script)', (t) => {
  const ds = lint(t, {
    'module.yaml': replace('port: "{{params.port}}"', 'port: "{{params.prot}}"'),
    'scripts/run.sh': '#!/bin/sh\nexec app --port {{params.prot}}\n',
  });
  const d = expectOne(ds, 'HM304', 14, 11, 'checkers[0].port');
  assert.match(d.message, /did you mean "port"/);
  const s = ds.find((x) => x.code === 'HM304' && x.file === 'scripts/run.sh');
  assert.ok(s);
  assert.deepEqual([s.start.line, s.start.column], [2, 17]);
});

test('duplicate names', (t) => {
  expectOne(lint(t, { 'module.yaml': replace('  - name: app\n    run: scripts/run.sh\n', '  - name: app\n    run: scripts/run.sh\n  - name: app\n    run: scripts/run.sh\n') }), 'HM301', 11, 11, 'services[1].name');
});

test('replicated directories in a farm, and overlapping ones', (t) => {
  const farm = base.replace('mode: mirror', 'mode: farm') + 'replication:\n  directories:\n    - path: /var/lib/a\n';
  expectOne(lint(t, { 'module.yaml': farm }), 'HM302', 17, 1, 'replication');
  const overlap = base + 'replication:\n  directories:\n    - path: /var/lib/a\n    - path: /var/lib/a/b\n';
  expectOne(lint(t, { 'module.yaml': overlap }), 'HM303', 20, 13, 'replication.directories[1].path');
});

test('a dependency on itself and a bad range', (t) => {
  const ds = lint(t, { 'module.yaml': base + 'dependencies:\n  - { name: demo, version: "^1" }\n  - { name: db, version: "nope nope" }\n' });
  expectOne(ds, 'HM307', 18, 13, 'dependencies[0].name');
  expectOne(ds, 'HM315', 19, 26, 'dependencies[1].version');
});

test('a script that does not exist is located at the field naming it', (t) => {
  expectOne(lint(t, { 'module.yaml': replace('run: scripts/run.sh', 'run: scripts/nope.sh') }), 'HM312', 10, 10, 'services[0].run');
});

test('a script path escaping the module', (t) => {
  expectOne(lint(t, { 'module.yaml': replace('run: scripts/run.sh', 'run: scripts/../../etc/passwd') }), 'HM313', 10, 10, 'services[0].run');
});

test('a secret with a default is refused', (t) => {
  expectOne(lint(t, { 'module.yaml': replace('  port: { type: port, default: 8080 }', '  port: { type: port, default: 8080 }\n  pw: { type: secret, default: hunter2 }') }), 'HM311', 8, 23, 'parameters.pw.default');
});

test('start-order cycle', (t) => {
  const y = replace('  - name: app\n    run: scripts/run.sh\n', '  - name: app\n    run: scripts/run.sh\n    after: [b]\n  - name: b\n    run: scripts/run.sh\n    after: [app]\n');
  assert.ok(lint(t, { 'module.yaml': y }).some((d) => d.code === 'HM316'));
});

test('schema errors and rule errors are reported together', (t) => {
  const y = replace('version: 1.0.0', 'version: 1.0').replace('address: "{{params.vip}}"', 'address: nope');
  const codes = lint(t, { 'module.yaml': y }).map((d) => d.code);
  assert.ok(codes.includes('HM201'));
  assert.ok(codes.includes('HM306'));
});

test('missing README and CHANGELOG are warnings, not errors', (t) => {
  const dir = moduleDir(t, { 'module.yaml': base });
  rmSync(`${dir}/README.md`);
  const r = compileModule(dir, '0');
  assert.ok(r.module, 'still builds');
  assert.deepEqual(r.diagnostics.map((d) => [d.code, d.severity]), [['HM320', 'warning']]);
});

