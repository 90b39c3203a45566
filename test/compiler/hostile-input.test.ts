// Hostile or broken input: each gets a clear located error, never a crash or a hang.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileModule } from '../../compiler/compile-module.js';
import { MINIMAL_MIRROR, moduleDir } from '../helpers/module-fixture.js';

const codes = (dir: string) => compileModule(dir, '0').diagnostics;

test('a 50 MB module.yaml is refused by size without being parsed', (t) => {
  const dir = moduleDir(t, {});
  writeFileSync(join(dir, 'module.yaml'), Buffer.alloc(50 * 1024 * 1024, 'a: b\n'));
  const ds = codes(dir);
  assert.deepEqual(ds.map((d) => d.code), ['HM102']);
  assert.equal(ds[0]!.file, 'module.yaml');
  assert.match(ds[0]!.message, /52428800 bytes, over the limit/);
});

test('10,000-deep nesting (flow and block) is refused', (t) => {
  const flow = 'a: ' + '['.repeat(10_000) + ']'.repeat(10_000) + '\n';
  const ds = codes(moduleDir(t, { 'module.yaml': flow }));
  assert.ok(ds.length >= 1 && ds.every((d) => ['HM104', 'HM105'].includes(d.code)), JSON.stringify(ds.map((d) => d.code)));
  assert.ok(ds.some((d) => d.code === 'HM105'));
  let block = 'a:\n';
  for (let i = 1; i <= 200; i++) block += ' '.repeat(i) + `k${i}:\n`;
  const ds2 = codes(moduleDir(t, { 'module.yaml': block + ' '.repeat(201) + 'v: 1\n' }));
  assert.deepEqual(ds2.map((d) => d.code), ['HM105']);
  assert.ok(ds2[0]!.start.line > 1);
});

test('an alias bomb ("billion laughs") is refused at an alias', (t) => {
  const bomb = ['apiVersion: hamod/v1', 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (const [x, y] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd'], ['f', 'e'], ['g', 'f'], ['h', 'g'], ['i', 'h']]) {
    bomb.push(`${x}: &${x} [${Array(9).fill('*' + y).join(',')}]`);
  }
  const ds = codes(moduleDir(t, { 'module.yaml': bomb.join('\n') + '\n' }));
  assert.deepEqual(ds.map((d) => d.code), ['HM106']);
  assert.ok(ds[0]!.start.line >= 3);
});

test('duplicate keys and multiple documents', (t) => {
  const dup = codes(moduleDir(t, { 'module.yaml': MINIMAL_MIRROR + 'name: again\n' }));
  assert.equal(dup[0]!.code, 'HM107');
  assert.equal(dup[0]!.start.line, 17);
  const multi = codes(moduleDir(t, { 'module.yaml': MINIMAL_MIRROR + '---\nname: x\n' }));
  assert.equal(multi[0]!.code, 'HM110');
});

test('non-UTF-8 bytes are located at the first bad byte', (t) => {
  const [head, tail] = MINIMAL_MIRROR.split('mode: mirror\n') as [string, string];
  const bytes = Buffer.concat([Buffer.from(head + 'description: caf'), Buffer.from([0xe9]), Buffer.from(' au lait\nmode: mirror\n' + tail)]);
  const ds = codes(moduleDir(t, { 'module.yaml': bytes }));
  assert.deepEqual(ds.map((d) => [d.code, d.start.line, d.start.column]), [['HM103', 4, 17]]);
  const script = codes(moduleDir(t, { 'module.yaml': MINIMAL_MIRROR, 'scripts/run.sh': Buffer.from([0x23, 0x21, 0x0a, 0xff, 0xfe]) }));
  assert.deepEqual(script.map((d) => [d.code, d.file, d.start.line]), [['HM103', 'scripts/run.sh', 2]]);
});

test('a symbolic link pointing outside the module is refused', (t) => {
  const dir = moduleDir(t, { 'module.yaml': MINIMAL_MIRROR });
  rmSync(join(dir, 'scripts/run.sh'));
  symlinkSync('/etc/passwd', join(dir, 'scripts/run.sh'));
  const ds = codes(dir);
  assert.ok(ds.some((d) => d.code === 'HM108' && d.file === 'scripts/run.sh'), JSON.stringify(ds));
  assert.ok(ds.some((d) => d.code === 'HM108' && d.file === 'module.yaml' && d.field === 'services[0].run'), 'also located at the field naming it');
  const dir2 = moduleDir(t, { 'module.yaml': MINIMAL_MIRROR });
  symlinkSync('/', join(dir2, 'root-link'));
  assert.ok(codes(dir2).some((d) => d.code === 'HM108' && d.file === 'root-link'));
});

test('a link inside the module is fine', (t) => {
  const dir = moduleDir(t, { 'module.yaml': MINIMAL_MIRROR.replace('run: scripts/run.sh', 'run: scripts/link.sh') });
  symlinkSync('run.sh', join(dir, 'scripts/link.sh'));
  assert.deepEqual(codes(dir), []);
});

test('unreadable things: a directory or a FIFO as module.yaml, a missing module.yaml', (t) => {
  const d1 = moduleDir(t, {});
  mkdirSync(join(d1, 'module.yaml'));
  assert.deepEqual(codes(d1).map((d) => d.code), ['HM109']);
  const d2 = moduleDir(t, {});
  execFileSync('mkfifo', [join(d2, 'module.yaml')]);
  assert.deepEqual(codes(d2).map((d) => d.code), ['HM109'], 'a FIFO is refused without blocking');
  const d3 = moduleDir(t, {});
  const ds = codes(d3);
  assert.deepEqual(ds.map((d) => d.code), ['HM101']);
  assert.match(ds[0]!.hint ?? '', /hamod init/);
});

test('a file without read permission is reported (when not root)', (t) => {
  if (process.getuid?.() === 0) {
    t.skip('root reads every file; permission refusal cannot be observed');
    return;
  }
  const dir = moduleDir(t, { 'module.yaml': MINIMAL_MIRROR });
  execFileSync('chmod', ['000', join(dir, 'scripts/run.sh')]);
  assert.ok(codes(dir).some((d) => d.code === 'HM109'));
});

test('empty and non-mapping documents', (t) => {
  assert.ok(codes(moduleDir(t, { 'module.yaml': '' })).every((d) => d.code === 'HM202'));
  assert.deepEqual(codes(moduleDir(t, { 'module.yaml': '- a\n- b\n' })).map((d) => d.code), ['HM201']);
  assert.deepEqual(codes(moduleDir(t, { 'module.yaml': '"just a string"\n' })).map((d) => d.code), ['HM201']);
});
