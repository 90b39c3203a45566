/**
 * A primary that crashes under writes is reintegrated by the zones of its activity log (its
 * `A` records: native/hamod-repl/activity.c), not by checksums of everything: the host of the
 * primary is killed while a writer is busy, the secondary takes over (new primary, alone, more
 * writes), and the crashed node comes back as secondary. What it wrote that the mirror never got
 * (simulated after the crash: a zone changed on its disk inside a recorded extent, a file created)
 * is undone, and the trees end equal. A small activity log (8 extents of 256 KiB) makes
 * checkpoints (syncfs, eviction, log compaction) happen during the run.
 * Without an activity log (`--al-extents 0`) the same crash gets a full (checksum) resync.
 * A secondary whose machine went down while it received (another boot id at its next start) may
 * have lost acknowledged writes with its page cache: it is reintegrated in full, not by delta.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createTestNet, netnsSkipReason, type TestHost, type TestNet } from '../harness/index.js';
import {
  buildNative, ctlPaths, diffSnapshotsB, makeDirs, replicationUnavailableReason, snapshotB, startControlledPrimary,
  startSecondary, startSyncedPair, xattrDumpAll, type LineWatcher, type ReplDirs,
} from './fixture.js';

const skip = netnsSkipReason() ?? (process.env.CI ? undefined : replicationUnavailableReason());

before(() => {
  if (!skip) buildNative();
});

const MiB = 1 << 20;
const SMALL_AL = ['--al-extents', '8', '--al-extent-bytes', String(256 * 1024)];

/** The same directories with the roles swapped: h2's copy serves, h1's is the returning one. */
function swapped(dirs: ReplDirs): ReplDirs {
  const root = join(dirs.root, 'swapped');
  mkdirSync(root, { recursive: true });
  return { ...dirs, root, primaryDir: dirs.secondaryDir, secondaryDir: dirs.primaryDir, changelog: ctlPaths(dirs).secondaryLog };
}

/** h1 primary over P, h2 secondary over S, in sync (generation g1), `db` of 16 MiB and a tree. */
async function syncedPair(net: TestNet, dirs: ReplDirs, alArgs: string[]) {
  const [h1, h2] = net.hosts as [TestHost, TestHost];
  const P = dirs.primaryDir;
  writeFileSync(join(P, 'db'), randomBytes(16 * MiB));
  mkdirSync(join(P, 'wal'));
  for (let i = 0; i < 20; i++) writeFileSync(join(P, 'wal', `seg${i}`), randomBytes(64 * 1024));
  for (const f of ['big1', 'big2']) writeFileSync(join(P, 'wal', f), randomBytes(200 * 1024));
  mkdirSync(join(P, 'small'));
  for (let i = 0; i < 50; i++) writeFileSync(join(P, 'small', `f${i}`), randomBytes(3000));
  const { sec, p } = await startSyncedPair(h1, h2, dirs, { primaryArgs: alArgs });
  return { h1, h2, sec, p };
}

/** Random 4 KiB writes all over `db`, WAL-like renames, small files rewritten in place and created,
 * until killed (bash on h1). */
function startWriter(h1: TestHost, P: string) {
  const script = [
    'i=0',
    'while :; do',
    `  dd if=/dev/urandom of=${P}/db bs=4096 count=1 seek=$((RANDOM % 4096)) conv=notrunc status=none`,
    `  dd if=/dev/urandom of=${P}/wal/seg$((RANDOM % 20)) bs=4096 count=1 seek=$((RANDOM % 16)) conv=notrunc status=none`,
    `  if [ $((i % 25)) = 0 ]; then mv ${P}/wal/seg$((RANDOM % 20)) ${P}/wal/tmp && mv ${P}/wal/tmp ${P}/wal/seg$((RANDOM % 20)); fi`,
    `  dd if=/dev/urandom of=${P}/small/f$((RANDOM % 50)) bs=1000 count=1 seek=$((RANDOM % 3)) conv=notrunc status=none`,
    `  head -c 1500 /dev/urandom > ${P}/small/new$i`,
    '  i=$((i+1))',
    'done',
  ].join('\n');
  return h1.spawn(['bash', '-c', script]);
}

/** The primary's host dies (in sync, writes in flight); h2 stops its secondary and takes over. */
async function crashAndTakeOver(net: TestNet, dirs: ReplDirs, h1: TestHost, h2: TestHost, sec: LineWatcher, withAl: boolean) {
  const P = dirs.primaryDir;
  await net.killHost(h1); // with the writer and the FUSE daemon
  await sec.stop();
  await net.reviveHost(h1);
  // What the crashed primary wrote locally that its mirror never received: a zone inside the last
  // extent it recorded (anywhere without an activity log), and a file it created.
  const log = readFileSync(dirs.changelog, 'utf8');
  let at = 5 * MiB + 8192;
  if (withAl) {
    const lastDb = log.split('\n').filter((l) => /^A db \d+ \d+$/.test(l)).pop();
    assert.ok(lastDb, `the crashed primary's log has activity records for db:\n${log.slice(0, 2000)}`);
    at = Number(lastDb.split(' ')[2]) + 8192;
  }
  const fd = openSync(join(P, 'db'), 'r+');
  writeSync(fd, randomBytes(4096), 0, 4096, at);
  closeSync(fd);
  writeFileSync(join(P, 'wal', 'ghost'), 'created by the crashed primary alone\n');
  if (withAl) {
    // a small file rewritten in place: covered by its directory's D record
    assert.match(log, /^D small 65536$/m, 'the small files\' directory is in the activity log');
    const sfd = openSync(join(P, 'small', 'f7'), 'r+');
    writeSync(sfd, randomBytes(100), 0, 100, 500);
    closeSync(sfd);
    // a rename over an existing file that only this node made: another content under the same
    // name and size, covered by the rename's R record
    assert.match(log, /^R wal\/big2$/m, 'the last rename is in the activity log');
    const bfd = openSync(join(P, 'wal', 'big2'), 'r+');
    writeSync(bfd, randomBytes(4096), 0, 4096, 100 * 1024); // past what a D record covers
    closeSync(bfd);
  }
  // h2 takes over: primary over its copy, alone under g2, more writes
  const sw = swapped(dirs);
  const p2 = await startControlledPrimary(h2, sw, { extraArgs: SMALL_AL });
  await p2.ctl.ok('MODE alone g2');
  const S = dirs.secondaryDir;
  await h2.execOk(['bash', '-c', `for k in $(seq 40); do dd if=/dev/urandom of=${S}/db bs=4096 count=1 seek=$((RANDOM % 4096)) conv=notrunc status=none; done; echo new > ${S}/wal/after-failover; rm -f ${S}/wal/seg3 ${S}/wal/seg4`], { timeoutMs: 60_000 });
  return { sw, p2 };
}

function assertTreesEqual(dirs: ReplDirs): void {
  assert.deepEqual(diffSnapshotsB(snapshotB(dirs.primaryDir), snapshotB(dirs.secondaryDir)), []);
  assert.equal(xattrDumpAll(dirs.secondaryDir), xattrDumpAll(dirs.primaryDir));
}

test('crashed primary: reintegrated by the zones of its activity log (namespace walked), trees equal; checkpoints keep the log small', { skip, timeout: 180_000 }, async (t) => {
  const net = await createTestNet({ hosts: ['h1', 'h2'], mountNamespace: true, t });
  const dirs = makeDirs();
  t.after(() => dirs.cleanup());
  const { h1, h2, sec, p } = await syncedPair(net, dirs, SMALL_AL);
  t.after(() => sec.stop());
  t.after(() => p.stop());
  const writer = startWriter(h1, dirs.primaryDir);
  // until checkpoints happened (the set of 8 extents overflows at once with writes all over db)
  let st: Record<string, string> = {};
  for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
    st = await p.ctl.status();
    if (Number(st.alcheckpoints) >= 10) break;
  }
  assert.ok(Number(st.alcheckpoints) >= 3, `activity log checkpoints: ${JSON.stringify(st)}`);
  const lines = readFileSync(dirs.changelog, 'utf8').split('\n');
  assert.ok(Number(st.al) <= 4 * 8, `the set stays near its size: ${st.al}`);
  // every loop of the writer activates new extents; after the checkpoints the log holds the set
  // and what came since the last one, not everything since the start
  assert.ok(lines.length <= 400, `compaction keeps the log small: ${lines.length} lines after ${st.alcheckpoints} checkpoints`);
  assert.ok(writer.pid !== undefined);

  // the writer stops; once a checkpoint had its chance, a rename over an existing file, then the
  // crash: the rename is still in the log (R), as it is for any rename in flight at a crash
  writer.kill('SIGKILL');
  for (let prev = '', end = Date.now() + 20_000; ; await new Promise((r) => setTimeout(r, 300))) {
    const s2 = await p.ctl.status(); // quiet: the set within its size, no checkpoint for 300 ms
    if ((Number(s2.al) <= 8 && s2.alcheckpoints === prev) || Date.now() > end) break;
    prev = s2.alcheckpoints ?? '';
  }
  await h1.execOk(['mv', join(dirs.primaryDir, 'wal', 'big1'), join(dirs.primaryDir, 'wal', 'big2')]);
  const { sw, p2 } = await crashAndTakeOver(net, dirs, h1, h2, sec, true);
  t.after(() => p2.stop());
  // the crashed node returns as secondary with its own (unclean) log
  const sec2 = await startSecondary(h1, sw, { changelog: dirs.changelog });
  t.after(() => sec2.stop());
  await p2.ctl.ok(`ATTACH ${h1.address}:7800 delta`);
  await p2.primary.waitLine(/^INSYNC base=g2$/, 60_000);
  const first = p2.primary.lines.find((l) => /^RESYNC phase=namespace mode=/.test(l)) ?? '';
  assert.match(first, /mode=delta .*walk=crash/, p2.primary.lines.join('\n') + p2.primary.stderr);
  const s2 = await p2.ctl.status();
  process.stderr.write(`crash reintegration: ${s2.total} bytes of zones processed (of ${16 * MiB + 20 * 64 * 1024} in the files), ${s2.sent} bytes sent\n`);
  assert.ok(Number(s2.total) < 8 * MiB, `only recorded zones are processed, not the whole 16 MiB db: ${s2.total}`);
  await p2.stop();
  await sec2.stop();
  assertTreesEqual(dirs);
  assert.equal(existsSync(join(dirs.primaryDir, 'wal', 'ghost')), false, 'the file only the crashed primary created is gone');
  assert.match(readFileSync(dirs.changelog, 'utf8'), /^BASE g2\nRECV \d+ \S+\n(STOP \d+\n)?$/); // reset; the receiving session's marks
});

test('crashed primary without an activity log (--al-extents 0): full resync, trees equal', { skip, timeout: 180_000 }, async (t) => {
  const net = await createTestNet({ hosts: ['h1', 'h2'], mountNamespace: true, t });
  const dirs = makeDirs();
  t.after(() => dirs.cleanup());
  const { h1, h2, sec, p } = await syncedPair(net, dirs, ['--al-extents', '0']);
  t.after(() => sec.stop());
  t.after(() => p.stop());
  await h1.execOk(['bash', '-c', `for k in $(seq 30); do dd if=/dev/urandom of=${dirs.primaryDir}/db bs=4096 count=1 seek=$((RANDOM % 4096)) conv=notrunc status=none; done`]);
  assert.doesNotMatch(readFileSync(dirs.changelog, 'utf8'), /^A /m);
  // the crash leaves "OPEN <time>" without "al" and without CLOSE: nothing bounds what differs
  const { sw, p2 } = await crashAndTakeOver(net, dirs, h1, h2, sec, false);
  t.after(() => p2.stop());
  const sec2 = await startSecondary(h1, sw, { changelog: dirs.changelog });
  t.after(() => sec2.stop());
  await p2.ctl.ok(`ATTACH ${h1.address}:7800 delta`);
  await p2.primary.waitLine(/^INSYNC base=g2$/, 60_000);
  assert.ok(p2.primary.lines.some((l) => /^RESYNC phase=namespace mode=full/.test(l)), p2.primary.lines.join('\n'));
  await p2.stop();
  await sec2.stop();
  assertTreesEqual(dirs);
});

test('secondary whose machine went down while receiving (another boot id): LOST in its log, full resync repairs what its page cache lost; same boot: delta', { skip, timeout: 180_000 }, async (t) => {
  const net = await createTestNet({ hosts: ['h1', 'h2'], mountNamespace: true, t });
  const [h1, h2] = net.hosts as [TestHost, TestHost];
  const dirs = makeDirs();
  t.after(() => dirs.cleanup());
  const P = dirs.primaryDir, S = dirs.secondaryDir;
  writeFileSync(join(P, 'db'), randomBytes(8 * MiB));
  const secLog = ctlPaths(dirs).secondaryLog;
  const pair = await startSyncedPair(h1, h2, dirs, { secondaryEnv: { HAMOD_REPL_BOOT_ID: 'boot-a' } });
  let sec = pair.sec;
  const p = pair.p;
  t.after(() => sec.stop());
  t.after(() => p.stop());
  await h1.execOk(['bash', '-c', `dd if=/dev/urandom of=${P}/db bs=4096 count=16 seek=100 conv=notrunc status=none`]);

  // 1. the daemon dies, the machine does not (same boot): its page cache kept everything -> delta
  sec.child.kill('SIGKILL');
  await sec.exitPromise;
  await p.primary.waitLine(/^OUTOFSYNC /, 5000);
  await p.ctl.ok('MODE alone g2');
  sec = await startSecondary(h2, dirs, { env: { HAMOD_REPL_BOOT_ID: 'boot-a' } });
  assert.doesNotMatch(readFileSync(secLog, 'utf8'), /^LOST /m);
  await p.ctl.ok(`ATTACH ${h2.address}:7800 delta`);
  await p.primary.waitLine(/^INSYNC base=g2$/, 60_000);
  assert.ok(p.primary.lines.some((l) => /^RESYNC phase=namespace mode=delta/.test(l)), p.primary.lines.join('\n'));
  await p.ctl.ok('MODE sync g2');
  await h1.execOk(['bash', '-c', `dd if=/dev/urandom of=${P}/db bs=4096 count=16 seek=300 conv=notrunc status=none`]);

  // 2. the machine goes down while receiving: the writes it acknowledged last were only in its
  // page cache (simulated: that range put back to what it was) -> LOST, full
  const before = readFileSync(join(S, 'db')).subarray(300 * 4096, 316 * 4096);
  await h1.execOk(['bash', '-c', `dd if=/dev/urandom of=${P}/db bs=4096 count=16 seek=300 conv=notrunc status=none`]);
  const n0 = p.primary.lines.length;
  sec.child.kill('SIGKILL');
  await sec.exitPromise;
  for (const end = Date.now() + 5000; !p.primary.lines.slice(n0).some((l) => l.startsWith('OUTOFSYNC ')); await new Promise((r) => setTimeout(r, 50))) {
    assert.ok(Date.now() < end, 'OUTOFSYNC after the second loss');
  }
  await p.ctl.ok('MODE alone g3');
  const fd = openSync(join(S, 'db'), 'r+');
  writeSync(fd, before, 0, before.length, 300 * 4096);
  closeSync(fd);
  sec = await startSecondary(h2, dirs, { env: { HAMOD_REPL_BOOT_ID: 'boot-b' } });
  assert.match(readFileSync(secLog, 'utf8'), /^LOST \d+ boot-a$/m);
  await p.ctl.ok(`ATTACH ${h2.address}:7800 delta`);
  await p.primary.waitLine(/^INSYNC base=g3$/, 60_000);
  assert.ok(p.primary.lines.slice(n0).some((l) => /^RESYNC phase=namespace mode=full/.test(l)), p.primary.lines.join('\n'));
  await p.stop();
  await sec.stop();
  assertTreesEqual(dirs);
});

test('renames and links are recorded (R, the new name; both for an exchange) before they happen; writes to an active extent record nothing more', { skip, timeout: 60_000 }, async (t) => {
  const net = await createTestNet({ hosts: ['h1', 'h2'], mountNamespace: true, t });
  const [h1, h2] = net.hosts as [TestHost, TestHost];
  const dirs = makeDirs();
  t.after(() => dirs.cleanup());
  const P = dirs.primaryDir;
  mkdirSync(join(P, 'd1'));
  mkdirSync(join(P, 'small'));
  writeFileSync(join(P, 'd1', 'big'), randomBytes(2 * MiB));
  writeFileSync(join(P, 'small', 's'), 'x');
  const { sec, p } = await startSyncedPair(h1, h2, dirs);
  t.after(() => sec.stop());
  t.after(() => p.stop());
  const logLines = () => readFileSync(dirs.changelog, 'utf8').split('\n');
  await h1.execOk(['bash', '-c', [
    `dd if=/dev/urandom of=${P}/d1/big bs=4096 count=1 seek=10 conv=notrunc status=none`, // A d1/big 0 4194304
    `dd if=/dev/urandom of=${P}/small/s bs=100 count=1 conv=notrunc status=none`, // D small
    `mv ${P}/d1/big ${P}/d1/big2`, // a file renamed
    `mv ${P}/d1 ${P}/d2`, // its directory renamed
    `ln ${P}/d2/big2 ${P}/d2/hard`, // a link
    `mkdir ${P}/other && mv ${P}/small/s ${P}/other/s`, // a small file leaving its directory
  ].join(' && ')]);
  const lines = logLines();
  for (const want of ['A d1/big 0 4194304', 'R d1/big2', 'R d2', 'R d2/hard', 'D small 65536', 'R other/s']) {
    assert.ok(lines.includes(want), `${want} in the log:\n${lines.join('\n')}`);
  }
  assert.ok(lines.indexOf('R d1/big2') > lines.indexOf('A d1/big 0 4194304'));
  // a write to an extent already active records nothing more
  await h1.execOk(['dd', 'if=/dev/urandom', `of=${P}/d2/big2`, 'bs=4096', 'count=1', 'seek=20', 'conv=notrunc', 'status=none']);
  const n = logLines().length;
  await h1.execOk(['dd', 'if=/dev/urandom', `of=${P}/d2/big2`, 'bs=4096', 'count=1', 'seek=30', 'conv=notrunc', 'status=none']);
  assert.equal(logLines().length, n, logLines().slice(n - 1).join('\n'));
  // an exchange records both names
  await h1.execOk(['python3', '-c', `import ctypes,os; l=ctypes.CDLL(None,use_errno=True); r=l.renameat2(-100,b"${P}/d2/big2",-100,b"${P}/other/s",2); assert r==0, os.strerror(ctypes.get_errno())`]);
  const after = logLines().slice(n - 1); // (the last element of a split is the empty one after the final newline)
  assert.ok(after.includes('R other/s') && after.includes('R d2/big2'), after.join('\n'));
});
