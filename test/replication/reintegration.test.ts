/**
 * hamod-repl reintegration (ATTACH, native/hamod-repl/CONTROL.md) on two test hosts: a full resync
 * of a diverged secondary ends with equal trees (content, modes, owners, symlinks, xattrs, hard
 * links, holes, odd names); a delta resync after writes while detached sends only the changed
 * zones; writes during a resync are never lost; include/exclude.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chownSync, closeSync, linkSync, mkdirSync, openSync, readFileSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createTestNet, netnsSkipReason } from '../harness/index.js';
import {
  buildNative, ctlPaths, diffSnapshotsB, makeDirs, replicationUnavailableReason, snapshotB, startControlledPrimary,
  startSecondary, xattrDumpAll, type ReplDirs,
} from './fixture.js';

const skip = netnsSkipReason() ?? (process.env.CI ? undefined : replicationUnavailableReason());

before(() => {
  if (!skip) buildNative();
});

const GiB = 2 ** 30;

function sh(script: string, cwd: string): void {
  const r = spawnSync('sh', ['-c', script], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${script}: ${r.stderr}`);
}

function writeAt(path: string, off: number, data: Buffer): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, data, 0, data.length, off);
  closeSync(fd);
}

function assertTreesEqual(dirs: ReplDirs): void {
  const a = snapshotB(dirs.primaryDir);
  const b = snapshotB(dirs.secondaryDir);
  assert.deepEqual(diffSnapshotsB(a, b), []);
  assert.equal(xattrDumpAll(dirs.secondaryDir), xattrDumpAll(dirs.primaryDir));
}

const ODD = [Buffer.from('with space'), Buffer.from('new\nline'), Buffer.from('-leading-dash'), Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x62]), Buffer.from('%percent%2F')];

/** Two diverged trees: what a secondary may look like after a split brain / lost log. */
function buildDiverged(P: string, S: string): void {
  for (const root of [P, S]) {
    writeFileSync(join(root, 'same.txt'), 'same on both\n');
    mkdirSync(join(root, 'hl'));
    mkdirSync(join(root, 'hl2'));
    mkdirSync(join(root, 'many'));
  }
  const big = randomBytes(8 << 20);
  writeFileSync(join(P, 'big.bin'), big);
  const bigS = Buffer.concat([big, randomBytes(10000)]);
  randomBytes(4096).copy(bigS, 0);
  randomBytes(100).copy(bigS, 4 << 20);
  randomBytes(100).copy(bigS, (8 << 20) - 50);
  writeFileSync(join(S, 'big.bin'), bigS);
  const shr = randomBytes(300 << 10);
  writeFileSync(join(P, 'shrink.bin'), shr.subarray(0, 100 << 10));
  writeFileSync(join(S, 'shrink.bin'), shr);
  mkdirSync(join(P, 'missing/dir'), { recursive: true });
  writeFileSync(join(P, 'missing/dir/file'), 'only on the primary\n');
  // metadata
  writeFileSync(join(P, 'meta.txt'), 'meta\n', { mode: 0o640 });
  chownSync(join(P, 'meta.txt'), 1234, 5678);
  writeFileSync(join(S, 'meta.txt'), 'meta\n', { mode: 0o644 });
  writeFileSync(join(P, 'suid'), '#!/bin/sh\n');
  chownSync(join(P, 'suid'), 42, 43);
  sh('chmod 4755 suid', P);
  writeFileSync(join(S, 'suid'), '#!/bin/sh\n', { mode: 0o755 });
  sh('setfattr -n user.a -v 1 meta.txt && setfattr -n user.b -v 2 meta.txt && setfattr -n trusted.t -v tt meta.txt && setfattr -n user.d -v dir missing', P);
  sh('setfattr -n user.b -v 3 meta.txt && setfattr -n user.c -v 4 meta.txt && setfattr -n user.x -v gone same.txt', S);
  mkdirSync(join(P, 'privdir'), { mode: 0o700 });
  chownSync(join(P, 'privdir'), 1000, 1000);
  mkdirSync(join(S, 'privdir'), { mode: 0o755 });
  // symlinks and type conflicts
  symlinkSync('target-a', join(P, 'ln1'));
  symlinkSync('target-b', join(S, 'ln1'));
  symlinkSync('/etc/passwd', join(P, 'ln2'));
  writeFileSync(join(S, 'ln2'), 'a file here\n');
  sh('chown -h 7:8 ln1', P);
  mkdirSync(join(P, 'typeconf'));
  writeFileSync(join(P, 'typeconf/inner'), 'inner\n');
  writeFileSync(join(S, 'typeconf'), 'was a file\n');
  writeFileSync(join(P, 'typeconf2'), 'now a file\n');
  mkdirSync(join(S, 'typeconf2/deeper'), { recursive: true });
  writeFileSync(join(S, 'typeconf2/deeper/x'), 'x\n');
  sh('mkfifo fifo', P);
  // hard links: three names of one inode on the primary; two separate files on the secondary
  writeFileSync(join(P, 'hl/a'), 'linked\n');
  linkSync(join(P, 'hl/a'), join(P, 'hl/b'));
  linkSync(join(P, 'hl/a'), join(P, 'hl/c'));
  writeFileSync(join(S, 'hl/a'), 'linked\n');
  writeFileSync(join(S, 'hl/b'), 'other\n');
  // ... and the opposite: linked on the secondary, separate on the primary
  writeFileSync(join(P, 'hl2/x'), 'x\n');
  writeFileSync(join(P, 'hl2/y'), 'y\n');
  writeFileSync(join(S, 'hl2/x'), 'x\n');
  linkSync(join(S, 'hl2/x'), join(S, 'hl2/y'));
  // extras on the secondary
  writeFileSync(join(S, 'extra.txt'), 'extra\n');
  mkdirSync(join(S, 'extradir/sub'), { recursive: true });
  writeFileSync(join(S, 'extradir/sub/f'), 'f\n');
  // odd names
  for (const [i, n] of ODD.entries()) {
    writeFileSync(Buffer.concat([Buffer.from(P + '/'), n]), `odd ${i}\n`);
    if (i % 2) writeFileSync(Buffer.concat([Buffer.from(S + '/'), n]), `different ${i}\n`);
  }
  // many small files, half of them stale on the secondary
  for (let i = 0; i < 400; i++) {
    writeFileSync(join(P, `many/f${i}`), `file ${i}\n`);
    if (i % 2) writeFileSync(join(S, `many/f${i}`), i % 4 === 1 ? `file ${i}\n` : `stale ${i}\n`);
  }
  // a deep tree
  let d = 'deep';
  for (let i = 0; i < 60; i++) d += `/l${i}`;
  mkdirSync(join(P, d), { recursive: true });
  writeFileSync(join(P, d, 'bottom'), 'bottom\n');
  // a 5 GiB sparse file: data at 0 and at 3 GiB on the primary; on the secondary the data at 3 GiB
  // is missing and there is junk at 1 GiB where the primary has a hole
  const z = randomBytes(4096), m = randomBytes(1 << 20);
  for (const root of [P, S]) {
    const fd = openSync(join(root, 'sparse5g'), 'w');
    writeSync(fd, z, 0, z.length, 0);
    closeSync(fd);
    sh('truncate -s 5G sparse5g', root);
  }
  writeAt(join(P, 'sparse5g'), 3 * GiB, m);
  writeAt(join(S, 'sparse5g'), 1 * GiB, randomBytes(1 << 20));
}

test('reintegration: full resync of a diverged secondary -> trees equal (content, modes, owners, symlinks, xattrs, hard links, holes, odd names)', { skip, timeout: 120_000 }, async (t) => {
  const net = await createTestNet({ hosts: ['h1', 'h2'], mountNamespace: true, t });
  const [h1, h2] = net.hosts as [typeof net.hosts[0], typeof net.hosts[0]];
  const dirs = makeDirs();
  t.after(() => dirs.cleanup());
  buildDiverged(dirs.primaryDir, dirs.secondaryDir);
  writeFileSync(ctlPaths(dirs).secondaryLog, 'BASE g0\nW same.txt 0 4096\n');
  const sec = await startSecondary(h2, dirs);
  t.after(() => sec.stop());
  const p = await startControlledPrimary(h1, dirs);
  t.after(() => p.stop());
  await p.ctl.ok('MODE alone g1');
  const t0 = Date.now();
  await p.ctl.ok(`ATTACH ${h2.address}:7800 delta`); // the logs do not allow it: full
  await p.primary.waitLine(/^INSYNC base=g1$/, 60_000);
  const ms = Date.now() - t0;
  assert.ok(p.primary.lines.some((l) => /^RESYNC phase=namespace mode=full/.test(l)), p.primary.lines.join('\n'));
  const st = await p.ctl.status();
  const sent = Number(st.sent);
  process.stderr.write(`full resync: ${ms} ms, total=${st.total} bytes compared, sent=${sent} bytes\n`);
  // only what differs crosses the wire: far less than the 13 MiB of data, nothing of the holes
  assert.ok(sent < 4 << 20, `sent ${sent} bytes`);
  await p.stop();
  await sec.stop();
  assertTreesEqual(dirs);
  const S = dirs.secondaryDir;
  assert.ok(statSync(join(S, 'sparse5g')).blocks * 512 < 4 << 20, 'holes stay holes on the secondary');
  assert.equal(statSync(join(S, 'suid')).mode & 0o7777, 0o4755);
  assert.equal(statSync(join(S, 'hl/a')).ino, statSync(join(S, 'hl/c')).ino);
  assert.notEqual(statSync(join(S, 'hl2/x')).ino, statSync(join(S, 'hl2/y')).ino);
  assert.match(readFileSync(ctlPaths(dirs).secondaryLog, 'utf8'), /^BASE g1\nRECV \d+ \S+\n(STOP \d+\n)?$/); // reset; the receiving session's marks
});

test('reintegration: delta after writes while detached sends only the changed zones; a killed secondary is brought back', { skip, timeout: 120_000 }, async (t) => {
  const net = await createTestNet({ hosts: ['h1', 'h2'], mountNamespace: true, t });
  const [h1, h2] = net.hosts as [typeof net.hosts[0], typeof net.hosts[0]];
  const dirs = makeDirs();
  t.after(() => dirs.cleanup());
  const P = dirs.primaryDir;
  writeFileSync(join(P, 'db'), randomBytes(32 << 20));
  mkdirSync(join(P, 'dir'));
  writeFileSync(join(P, 'dir/keep'), randomBytes(1 << 20));
  let sec = await startSecondary(h2, dirs);
  t.after(() => sec.stop());
  const p = await startControlledPrimary(h1, dirs);
  t.after(() => p.stop());
  await p.ctl.ok('MODE alone g1');
  await p.ctl.ok(`ATTACH ${h2.address}:7800 full`);
  await p.primary.waitLine(/^INSYNC base=g1$/, 60_000);
  await p.ctl.ok('MODE sync g1');

  // the secondary dies; the agent goes alone with a new generation
  sec.child.kill('SIGKILL');
  await sec.exitPromise;
  await p.primary.waitLine(/^OUTOFSYNC /, 5000); // the heartbeat notices
  await p.ctl.ok('MODE alone g2');
  // changes while detached: 200 random 4 KiB blocks, a new file, a rename, a truncate, metadata
  const offsets = new Set<number>();
  while (offsets.size < 200) offsets.add(Math.floor(Math.random() * 8192) * 4096);
  const script = [...offsets].map((o) => `dd if=/dev/urandom of=${P}/db bs=4096 count=1 seek=${o / 4096} conv=notrunc status=none`).join('\n');
  await h1.execOk(['sh', '-c', `${script}\nhead -c 20000 /dev/urandom > ${P}/dir/new\nmv ${P}/dir/keep ${P}/dir/kept\nchmod 600 ${P}/dir/kept\ntruncate -s 100000 ${P}/dir/new\nsync`], { timeoutMs: 60_000 });
  const changed = 200 * 4096 + 100000;

  sec = await startSecondary(h2, dirs);
  await p.ctl.ok(`ATTACH ${h2.address}:7800 delta`);
  await p.primary.waitLine(/^INSYNC base=g2$/, 60_000);
  assert.ok(p.primary.lines.some((l) => /^RESYNC phase=namespace mode=delta/.test(l)), p.primary.lines.join('\n'));
  const st = await p.ctl.status();
  const sent = Number(st.sent);
  process.stderr.write(`delta resync: changed=${changed} sent=${sent} ratio=${(sent / changed).toFixed(3)}\n`);
  assert.ok(sent <= 1.2 * changed + 64 * 1024, `sent ${sent} bytes for ${changed} changed`);
  await p.ctl.ok('MODE sync g2');
  await h1.execOk(['sh', '-c', `echo after > ${P}/after`]);
  await p.stop();
  await sec.stop();
  assertTreesEqual(dirs);
});

test('reintegration: writes hammering a file during a (bandwidth-capped) resync are never lost', { skip, timeout: 120_000 }, async (t) => {
  const net = await createTestNet({ hosts: ['h1', 'h2'], mountNamespace: true, t });
  const [h1, h2] = net.hosts as [typeof net.hosts[0], typeof net.hosts[0]];
  const dirs = makeDirs();
  t.after(() => dirs.cleanup());
  const P = dirs.primaryDir;
  writeFileSync(join(P, 'hot'), randomBytes(24 << 20));
  writeFileSync(join(dirs.secondaryDir, 'hot'), randomBytes(24 << 20)); // all zones differ
  const sec = await startSecondary(h2, dirs);
  t.after(() => sec.stop());
  const p = await startControlledPrimary(h1, dirs);
  t.after(() => p.stop());
  await p.ctl.ok('MODE alone g1');
  // a writer in h1 through the mount: random 4 KiB writes, some straddling zones, appends
  const writer = `
    const fs = require('fs');
    const fd = fs.openSync(process.argv[1] + '/hot', 'r+');
    const ap = fs.openSync(process.argv[1] + '/log', 'a');
    const end = Date.now() + Number(process.argv[2]);
    let n = 0;
    while (Date.now() < end) {
      const b = require('crypto').randomBytes(4096 + (n % 3) * 1000);
      fs.writeSync(fd, b, 0, b.length, Math.floor(Math.random() * (24 << 20) - 8192) + (n % 2 ? 100 : 0));
      fs.writeSync(ap, 'record ' + n + '\\n');
      n++;
    }
    console.log(n);`;
  const w = h1.exec([process.execPath, '-e', writer, P, '5000'], { timeoutMs: 30_000 });
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  await p.ctl.ok(`ATTACH ${h2.address}:7800 full ${8 << 20}`); // 8 MiB/s: ~3 s for 24 MiB
  await p.primary.waitLine(/^INSYNC base=g1$/, 60_000);
  const ms = Date.now() - t0;
  const r = await w;
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Number(r.stdout) > 100, `writer made ${r.stdout} writes`);
  assert.ok(ms >= 2000, `the cap was not honoured: ${ms} ms for 24 MiB at 8 MiB/s`);
  assert.ok(p.primary.lines.filter((l) => l.startsWith('RESYNC phase=data')).length >= 3, 'progress events');
  await p.stop();
  await sec.stop();
  assertTreesEqual(dirs);
});

test('reintegration: files the application renames during the data phase are still brought up to date (under their new names)', { skip, timeout: 120_000 }, async (t) => {
  const net = await createTestNet({ hosts: ['h1', 'h2'], mountNamespace: true, t });
  const [h1, h2] = net.hosts as [typeof net.hosts[0], typeof net.hosts[0]];
  const dirs = makeDirs();
  t.after(() => dirs.cleanup());
  const P = dirs.primaryDir, S = dirs.secondaryDir;
  for (let i = 0; i < 8; i++) {
    writeFileSync(join(P, `f${i}`), randomBytes(4 << 20));
    writeFileSync(join(S, `f${i}`), randomBytes(4 << 20)); // every zone differs
  }
  const sec = await startSecondary(h2, dirs);
  t.after(() => sec.stop());
  const p = await startControlledPrimary(h1, dirs);
  t.after(() => p.stop());
  await p.ctl.ok('MODE alone g1');
  await p.ctl.ok(`ATTACH ${h2.address}:7800 full ${8 << 20}`); // 8 MiB/s: ~4 s for 32 MiB
  await p.primary.waitLine(/^RESYNC phase=data/, 20_000);
  // before their turn: a rename, a rename over another file still to copy, an exchange
  await h1.execOk(['sh', '-c', `mv ${P}/f7 ${P}/g7 && mv ${P}/f6 ${P}/f5 && python3 -c 'import ctypes; l=ctypes.CDLL(None); assert l.renameat2(-100,b"${P}/f4",-100,b"${P}/f3",2)==0'`]);
  const phase = (await p.ctl.status()).done;
  await p.primary.waitLine(/^INSYNC base=g1$/, 60_000);
  await p.stop();
  await sec.stop();
  assert.ok(Number(phase) < 28 << 20, `the renames came before the data phase reached the files (done=${phase})`);
  assertTreesEqual(dirs);
});

test('reintegration: include/exclude -> excluded paths neither sent, logged nor resynced; rename across the boundary is EXDEV', { skip, timeout: 60_000 }, async (t) => {
  const net = await createTestNet({ hosts: ['h1', 'h2'], mountNamespace: true, t });
  const [h1, h2] = net.hosts as [typeof net.hosts[0], typeof net.hosts[0]];
  const dirs = makeDirs();
  t.after(() => dirs.cleanup());
  const P = dirs.primaryDir, S = dirs.secondaryDir;
  const filt = ['--exclude', '*.tmp', '--exclude', 'cache', '--exclude', 'data/private/*'];
  mkdirSync(join(P, 'cache'));
  writeFileSync(join(P, 'cache/c1'), 'cached\n');
  writeFileSync(join(P, 'a.tmp'), 'tmp\n');
  writeFileSync(join(P, 'keep'), 'keep\n');
  mkdirSync(join(S, 'cache'));
  writeFileSync(join(S, 'cache/secondary-only'), 'stays\n');
  writeFileSync(join(S, 'b.tmp'), 'stays too\n');
  const sec = await startSecondary(h2, dirs, { extraArgs: filt });
  t.after(() => sec.stop());
  const p = await startControlledPrimary(h1, dirs, { extraArgs: filt });
  t.after(() => p.stop());
  await p.ctl.ok('MODE alone g1');
  await h1.execOk(['sh', '-c', `echo x > ${P}/new.tmp && mkdir -p ${P}/data/private ${P}/data/pub && echo s > ${P}/data/private/secret && echo p > ${P}/data/pub/p && echo c > ${P}/cache/c2`]);
  const log = readFileSync(dirs.changelog, 'utf8');
  assert.doesNotMatch(log, /tmp|cache|secret/, log);
  assert.match(log, /^N create data\/pub\/p$/m);
  await p.ctl.ok(`ATTACH ${h2.address}:7800 full`);
  await p.primary.waitLine(/^INSYNC base=g1$/, 30_000);
  await p.ctl.ok('MODE sync g1');
  await h1.execOk(['sh', '-c', `echo y > ${P}/y.tmp && echo z > ${P}/cache/z && echo k >> ${P}/keep`]);
  // rename across the boundary: EXDEV (mv would copy; rename(2) itself must fail)
  const mv = await h1.exec([process.execPath, '-e', `try { require('fs').renameSync(process.argv[1] + '/keep', process.argv[1] + '/keep.tmp'); console.log('renamed') } catch (e) { console.log(e.code) }`, P]);
  assert.equal(mv.stdout.trim(), 'EXDEV');
  await p.stop();
  await sec.stop();
  const names = snapshotB(S);
  for (const k of ['keep', 'data/pub/p', 'data/private', 'cache/secondary-only', 'b.tmp']) assert.ok(names.has(k), `${k} on the secondary`);
  for (const k of ['a.tmp', 'new.tmp', 'y.tmp', 'cache/c1', 'cache/c2', 'cache/z', 'data/private/secret']) assert.ok(!names.has(k), `${k} must not be sent`);
  assert.equal(readFileSync(join(S, 'keep'), 'utf8'), 'keep\nk\n');
});

test('reintegration: the secondary dies during the resync -> RESYNCFAILED, nothing held, log intact; the next ATTACH completes', { skip, timeout: 90_000 }, async (t) => {
  const net = await createTestNet({ hosts: ['h1', 'h2'], mountNamespace: true, t });
  const [h1, h2] = net.hosts as [typeof net.hosts[0], typeof net.hosts[0]];
  const dirs = makeDirs();
  t.after(() => dirs.cleanup());
  const P = dirs.primaryDir;
  writeFileSync(join(P, 'f'), randomBytes(16 << 20));
  let sec = await startSecondary(h2, dirs);
  t.after(() => sec.stop());
  const p = await startControlledPrimary(h1, dirs);
  t.after(() => p.stop());
  await p.ctl.ok('MODE alone g1');
  await h1.execOk(['sh', '-c', `echo before > ${P}/before`]);
  await p.ctl.ok(`ATTACH ${h2.address}:7800 full ${4 << 20}`);
  await p.primary.waitLine(/^RESYNC phase=data done=[1-9]/, 20_000);
  assert.equal((await p.ctl.status()).mirror, 'resync');
  sec.child.kill('SIGKILL');
  await sec.exitPromise;
  await p.primary.waitLine(/^RESYNCFAILED /, 10_000);
  assert.ok(!p.primary.lines.some((l) => l.startsWith('OUTOFSYNC')), 'a resync failure is not OUTOFSYNC');
  // nothing held: alone mode goes on, recorded
  const t0 = Date.now();
  await h1.execOk(['sh', '-c', `echo during > ${P}/during && dd if=/dev/urandom of=${P}/f bs=4k count=2 seek=7 conv=notrunc status=none`]);
  assert.ok(Date.now() - t0 < 2000);
  const st = await p.ctl.status();
  assert.equal(st.mirror, 'none');
  assert.equal(st.held, '0');
  const log = readFileSync(dirs.changelog, 'utf8');
  assert.match(log, /^N create before$/m, 'the log is intact');
  assert.match(log, /^N create during$/m);
  sec = await startSecondary(h2, dirs);
  await p.ctl.ok(`ATTACH ${h2.address}:7800 delta`);
  await p.primary.waitLine(/^INSYNC base=g1$/, 30_000);
  await p.stop();
  await sec.stop();
  assertTreesEqual(dirs);
});

test('reintegration: delta also undoes what the secondary changed on its own (its log records: zones, created files)', { skip, timeout: 90_000 }, async (t) => {
  const net = await createTestNet({ hosts: ['h1', 'h2'], mountNamespace: true, t });
  const [h1, h2] = net.hosts as [typeof net.hosts[0], typeof net.hosts[0]];
  const dirs = makeDirs();
  t.after(() => dirs.cleanup());
  const P = dirs.primaryDir, S = dirs.secondaryDir;
  writeFileSync(join(P, 'db'), randomBytes(4 << 20));
  let sec = await startSecondary(h2, dirs);
  t.after(() => sec.stop());
  const p = await startControlledPrimary(h1, dirs);
  t.after(() => p.stop());
  await p.ctl.ok('MODE alone g1');
  await p.ctl.ok(`ATTACH ${h2.address}:7800 full`);
  await p.primary.waitLine(/^INSYNC base=g1$/, 30_000);
  await p.ctl.ok('DETACH');
  await sec.stop();
  // meanwhile the other node served on its own (a split brain, its writes to be discarded):
  // changed zones of db, created a file, renamed one, all recorded in its (clean) log
  writeAt(join(S, 'db'), 8192, randomBytes(4096));
  writeAt(join(S, 'db'), 1 << 20, randomBytes(10000));
  writeFileSync(join(S, 'rogue'), 'created on the other side\n');
  writeFileSync(ctlPaths(dirs).secondaryLog,
    'BASE g1\nOPEN 1\nALONE 2 gX split\nW db 8192 4096\nW db 1048576 12288\nN create rogue\nCLOSE 3\n');
  await p.ctl.ok('MODE alone g2');
  await h1.execOk(['sh', '-c', `dd if=/dev/urandom of=${P}/db bs=4k count=1 seek=100 conv=notrunc status=none`]);
  sec = await startSecondary(h2, dirs);
  await p.ctl.ok(`ATTACH ${h2.address}:7800 delta`);
  await p.primary.waitLine(/^INSYNC base=g2$/, 30_000);
  assert.equal(p.primary.lines.filter((l) => /^RESYNC phase=namespace mode=delta/.test(l)).length, 1, p.primary.lines.join('\n'));
  const sent = Number((await p.ctl.status()).sent);
  assert.ok(sent < 64 << 10, `sent ${sent}`);
  await p.stop();
  await sec.stop();
  assertTreesEqual(dirs);
});
