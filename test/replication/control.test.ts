/**
 * hamod-repl's control socket (native/hamod-repl/CONTROL.md) on two test hosts: modes off / hold /
 * alone / sync, held operations really blocking and then completing or failing, OUTOFSYNC when
 * the secondary dies, is partitioned away or runs out of space, ATTACH full + INSYNC + both logs
 * reset. The primary runs on h1 (FUSE over a directory seen only in h1), the secondary on h2.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestNet, netnsSkipReason } from '../harness/index.js';
import {
  background, buildNative, ctlPaths, diffSnapshotsB, makeDirs, replicationUnavailableReason, sleep, snapshotB,
  startControlledPrimary, startSecondary,
} from './fixture.js';

const skip = netnsSkipReason() ?? (process.env.CI ? undefined : replicationUnavailableReason());

before(() => {
  if (!skip) buildNative();
});

test('control: hold blocks, alone applies and logs, off fails with EROFS, ATTACH full -> INSYNC, sync mirrors, OUTOFSYNC holds until MODE alone NEWGEN', { skip, timeout: 90_000 }, async (t) => {
  const net = await createTestNet({ hosts: ['h1', 'h2'], mountNamespace: true, t });
  const [h1, h2] = net.hosts as [typeof net.hosts[0], typeof net.hosts[0]];
  const dirs = makeDirs();
  t.after(() => dirs.cleanup());
  const P = dirs.primaryDir;
  writeFileSync(join(P, 'pre'), 'pre\n');
  writeFileSync(join(P, 'other'), 'other\n');
  const sec = await startSecondary(h2, dirs);
  t.after(() => sec.stop());
  const p = await startControlledPrimary(h1, dirs, { timeoutMs: 800 });
  t.after(() => p.stop());
  const { ctl } = p;

  let st = await ctl.status();
  assert.equal(st.mode, 'hold');
  assert.equal(st.mirror, 'none');
  assert.equal(st.base, 'none');

  // hold: a write waits, neither applied nor answered; so does a create (its directory stays
  // locked by the kernel meanwhile, so it is checked last)
  const w1 = background(h1, `echo held >> ${P}/pre`);
  await sleep(600);
  assert.equal(w1.done(), false, 'a write in hold mode must block');
  assert.equal(readFileSync(join(P, 'pre'), 'utf8'), 'pre\n', 'nothing applied while held');
  // reads are served meanwhile
  assert.equal((await h1.execOk(['cat', `${P}/other`])).stdout, 'other\n');
  await h1.execOk(['ls', P]);
  const w0 = background(h1, `echo held > ${P}/a`);
  await sleep(400);
  assert.equal(w0.done(), false, 'a create in hold mode must block');
  assert.equal(existsSync(join(P, 'a')), false);
  await ctl.ok('MODE alone g1');
  for (const w of [w0, w1]) {
    const r = await w.result;
    assert.equal(r.code, 0, r.stderr);
  }
  assert.equal(readFileSync(join(P, 'pre'), 'utf8'), 'pre\nheld\n');
  assert.equal(readFileSync(join(P, 'a'), 'utf8'), 'held\n');
  let log = readFileSync(dirs.changelog, 'utf8');
  assert.match(log, /^BASE none\nOPEN \d+ al\nALONE \d+ g1 control\n/);
  assert.match(log, /^N create a$/m);
  assert.match(log, /^W a 0 4096$/m);
  assert.match(log, /^W pre 0 4096$/m);

  // off: mutating operations fail at once, reads work
  await ctl.ok('MODE off');
  const t0 = Date.now();
  const r2 = await h1.exec(['sh', '-c', `echo x > ${P}/b`]);
  assert.notEqual(r2.code, 0);
  assert.match(r2.stderr, /Read-only file system/);
  assert.ok(Date.now() - t0 < 2000);
  assert.equal((await h1.execOk(['cat', `${P}/a`])).stdout, 'held\n');
  assert.match(await ctl.request('MODE sync'), /^ERR/);
  assert.match(await ctl.request('MODE alone bad/gen'), /^ERR/);

  // ATTACH full: the secondary gets everything, both logs reset to BASE g2
  await ctl.ok('MODE alone g2');
  await h1.execOk(['sh', '-c', `mkdir ${P}/d && echo two > ${P}/d/two && dd if=/dev/urandom of=${P}/big bs=1M count=3 status=none`]);
  assert.equal(await ctl.request(`ATTACH ${h2.address}:7800 full`), 'OK');
  assert.match(await ctl.request(`ATTACH ${h2.address}:7800 full`), /^ERR/, 'one mirror at a time');
  await p.primary.waitLine(/^INSYNC base=g2$/, 20_000);
  st = await ctl.status();
  assert.equal(st.mirror, 'insync');
  assert.equal(st.base, 'g2');
  assert.equal(st.logrecords, '0');
  assert.match(readFileSync(dirs.changelog, 'utf8'), /^BASE g2\nOPEN \d+ al\n$/);
  assert.match(readFileSync(ctlPaths(dirs).secondaryLog, 'utf8'), /^BASE g2\nRECV \d+ \S+\n(STOP \d+\n)?$/); // reset; the receiving session's marks
  assert.deepEqual(diffSnapshotsB(snapshotB(P), snapshotB(dirs.secondaryDir)), []);

  // sync: every mutating operation reaches the secondary before it returns
  await ctl.ok('MODE sync g2');
  await h1.execOk(['sh', '-c', `echo synced > ${P}/d/s && chmod 600 ${P}/d/s`]);
  assert.equal(readFileSync(join(dirs.secondaryDir, 'd/s'), 'utf8'), 'synced\n');
  assert.equal(readFileSync(dirs.changelog, 'utf8').split('\n').filter((l) => /^[WTN] /.test(l)).length, 0, 'nothing logged in sync');

  // the secondary dies: the write is held (not acknowledged), OUTOFSYNC, until MODE alone NEWGEN
  sec.child.kill('SIGKILL');
  await sec.exitPromise;
  const w3 = background(h1, `dd if=/dev/urandom of=${P}/big bs=4k count=1 seek=5 conv=notrunc status=none && echo after > ${P}/after`);
  await p.primary.waitLine(/^OUTOFSYNC /, 5000);
  await sleep(1200);
  assert.equal(w3.done(), false, 'held after OUTOFSYNC');
  st = await ctl.status();
  assert.equal(st.held, '1');
  assert.equal(st.mirror, 'none');
  await ctl.ok('MODE alone g2'); // same generation: still held
  await sleep(300);
  assert.equal(w3.done(), false, 'MODE alone with the same GEN must not release');
  await ctl.ok('MODE alone g3');
  const r3 = await w3.result;
  assert.equal(r3.code, 0, r3.stderr);
  log = readFileSync(dirs.changelog, 'utf8');
  assert.match(log, /^W big 20480 4096$/m, log);
  assert.match(log, /^ALONE \d+ g3 /m);
  assert.match(log, /^N create after$/m);
  assert.equal((await ctl.status()).held, '0');
});

test('control: a partitioned secondary -> OUTOFSYNC, held write fails with EROFS on MODE off; ENOSPC on the secondary -> OUTOFSYNC', { skip, timeout: 90_000 }, async (t) => {
  const net = await createTestNet({ hosts: ['h1', 'h2'], mountNamespace: true, t });
  const [h1, h2] = net.hosts as [typeof net.hosts[0], typeof net.hosts[0]];
  const dirs = makeDirs();
  t.after(() => dirs.cleanup());
  const P = dirs.primaryDir;
  // the secondary's directory: a 4 MiB tmpfs inside h2 (disk full fault)
  const sdir = join(dirs.root, 'small');
  await h2.mountTmpfs(sdir, '4m');
  const sec = await startSecondary(h2, dirs, { dir: sdir });
  t.after(() => sec.stop());
  const p = await startControlledPrimary(h1, dirs, { timeoutMs: 800 });
  t.after(() => p.stop());
  const { ctl } = p;
  await ctl.ok('MODE alone g1');
  await h1.execOk(['sh', '-c', `echo one > ${P}/one`]);
  await ctl.ok(`ATTACH ${h2.address}:7800 full`);
  await p.primary.waitLine(/^INSYNC base=g1$/, 20_000);
  await ctl.ok('MODE sync g1');
  assert.equal((await h2.execOk(['cat', `${sdir}/one`])).stdout, 'one\n');

  // disk full on the secondary: never silent divergence
  const w = background(h1, `dd if=/dev/zero of=${P}/fill bs=1M count=8 status=none`);
  const oos = await p.primary.waitLine(/^OUTOFSYNC /, 10_000);
  assert.match(oos, /No space left|ENOSPC|-28/);
  await sleep(300);
  assert.equal(w.done(), false, 'the write that failed on the secondary is held');
  await ctl.ok('MODE alone g2');
  const rw = await w.result;
  assert.equal(rw.code, 0, rw.stderr);
  assert.equal((await h1.execOk(['stat', '-c', '%s', `${P}/fill`])).stdout.trim(), String(8 << 20));
  assert.match(readFileSync(dirs.changelog, 'utf8'), /^W fill /m);

  // a partition: the write is held; MODE off answers it with EROFS
  await h1.execOk(['rm', `${P}/fill`]);
  await h2.execOk(['rm', '-f', `${sdir}/fill`]);
  await ctl.ok(`ATTACH ${h2.address}:7800 full`);
  await p.primary.waitLine(/^INSYNC base=g2$/, 20_000);
  await ctl.ok('MODE sync g2');
  await h1.execOk(['sh', '-c', `echo before > ${P}/p1`]);
  await net.partition(h1, h2);
  const w2 = background(h1, `echo during > ${P}/p2`);
  await p.primary.waitLine(/^OUTOFSYNC timeout/, 5000);
  await sleep(300);
  assert.equal(w2.done(), false);
  await ctl.ok('MODE off');
  const r2 = await w2.result;
  assert.notEqual(r2.code, 0, 'a held operation fails when the mode goes off');
  assert.match(r2.stderr, /Read-only file system/);
  assert.equal((await ctl.status()).mode, 'off');
  await net.heal(h1, h2);
});

test('secondary: one --listen per network, all on the first one\'s port; an address this host lacks is skipped; ATTACH over the second network', { skip, timeout: 60_000 }, async (t) => {
  const net = await createTestNet({ hosts: ['h1', 'h2'], networks: 2, mountNamespace: true, t });
  const [h1, h2] = net.hosts as [typeof net.hosts[0], typeof net.hosts[0]];
  const dirs = makeDirs();
  t.after(() => dirs.cleanup());
  const second = h2.addresses[1]!;
  // 198.19.255.254 is in the test range but on no host: bind() fails with EADDRNOTAVAIL.
  const sec = await startSecondary(h2, dirs, { port: 7800, extraArgs: ['--listen', `${second}:0`, '--listen', '198.19.255.254:0'] });
  t.after(() => sec.stop());
  assert.match(sec.stderr, /listen 198\.19\.255\.254:0 \(port 7800\): .*\(skipped\)/);
  const p = await startControlledPrimary(h1, dirs, { timeoutMs: 800 });
  t.after(() => p.stop());
  await p.ctl.ok('MODE alone g1');
  writeFileSync(join(dirs.primaryDir, 'before'), 'before\n');
  await p.ctl.ok(`ATTACH ${second}:7800 full`);
  await p.primary.waitLine(/^INSYNC base=g1$/, 20_000);
  await p.ctl.ok('MODE sync g1');
  await h1.execOk(['sh', '-c', `echo after > ${dirs.primaryDir}/after`]);
  assert.equal(readFileSync(join(dirs.secondaryDir, 'before'), 'utf8'), 'before\n');
  assert.equal(readFileSync(join(dirs.secondaryDir, 'after'), 'utf8'), 'after\n', 'a write in sync mode reached the secondary over the second network');
});
