/**
 * Native replication data path (native/hamod-repl) on two test hosts with mount namespaces:
 * the secondary runs on h2, the primary mounts FUSE over a directory on h1 (seen only in h1),
 * a workload runs in h1 through the mount, then the two underlying trees are compared.
 * Needs root, the harness's tools, and native/apt-packages.txt (fuse3, libfuse3-dev, libssl-dev,
 * attr for the xattr checks).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createTestNet, netnsSkipReason } from '../harness/index.js';
import { buildNative, diffSnapshots, makeDirs, replicationUnavailableReason, snapshot, startPair, xattrDump } from './fixture.js';

const skip = netnsSkipReason() ?? (process.env.CI ? undefined : replicationUnavailableReason());

before(() => {
  if (!skip) buildNative();
});

const WORKLOAD = String.raw`
set -eu
cd "$1"
echo hello > a.txt
mkdir -p d1/d2/d3 deep
printf 'world, some more bytes' > d1/d2/b
mv a.txt d1/a2.txt
ln d1/a2.txt hl
ln d1/a2.txt d1/hl2
ln -s d1/a2.txt sl
ln -s /etc/passwd abs-link
chmod 640 hl
chmod 4755 d1/d2/b
truncate -s 3 d1/d2/b
truncate -s 100000 grown
chown 1234:5678 d1/d2/b
chown -h 42:43 sl
setfattr -n user.color -v blue d1/a2.txt
setfattr -n user.gone -v x d1/a2.txt
setfattr -x user.gone d1/a2.txt
setfattr -n user.dir -v yes d1
dd if=/dev/urandom of=rand bs=64k count=40 status=none
dd if=/dev/urandom of=rand bs=4k count=3 seek=7 conv=notrunc status=none
dd if=/dev/urandom of=dsync bs=4k count=50 oflag=dsync status=none
dd if=/dev/urandom of=sparse bs=4k count=1 seek=$((5*1024*1024/4)) status=none
dd if=/dev/urandom of=sparse bs=4k count=1 seek=3 conv=notrunc status=none
fallocate -l 1048576 falloc
fallocate -p -o 4096 -l 8192 rand
mkfifo fifo
echo odd > 'odd name with spaces, %percent and ünïcode'
echo r1 > r1; echo r2 > r2; mv r1 r2
echo x > gone; rm gone
rm hl
rmdir d1/d2/d3
p=deep; i=0; while [ $i -lt 40 ]; do p="$p/level$i"; i=$((i+1)); done; mkdir -p "$p"; echo bottom > "$p/file"
mkdir many; i=0; while [ $i -lt 300 ]; do echo "file $i" > many/f$i; i=$((i+1)); done
i=0; while [ $i -lt 300 ]; do [ $((i % 3)) -eq 0 ] && rm many/f$i; i=$((i+1)); done
(umask 027; echo masked > umasked; mkdir umasked-dir)
mkdir sgid; chown 0:777 sgid; chmod 2775 sgid; echo in > sgid/f; mkdir sgid/sub
touch -d '2001-02-03 04:05:06' d1/d2 d1/a2.txt
touch -h -d '2002-03-04 05:06:07' sl
exec 3>appendme; echo one >&3; exec 3>&-; echo two >> appendme
sync
`;

const MTIME_CHECKED = new Set(['d1/d2', 'd1/a2.txt', 'sl']);

const MODES: { name: string; args: string[] }[] = [
  { name: 'default (direct I/O for writers, adaptive polling)', args: [] },
  { name: '--cached-writes --spin-us 0 (page cache, libfuse loop)', args: ['--cached-writes', '--spin-us', '0'] },
];

for (const mode of MODES) test(`hamod-repl replicates a mixed workload byte for byte (two test hosts; ${mode.name})`, { skip, timeout: 240_000 }, async (t) => {
  const net = await createTestNet({ hosts: ['h1', 'h2'], mountNamespace: true, t });
  const [h1, h2] = net.hosts as [typeof net.hosts[0], typeof net.hosts[0]];
  const dirs = makeDirs();
  t.after(() => dirs.cleanup());
  writeFileSync(join(dirs.primaryDir, 'preexisting'), 'was here before the mount\n');
  writeFileSync(join(dirs.secondaryDir, 'preexisting'), 'was here before the mount\n');
  const pair = await startPair(h1, h2, dirs, { extraPrimaryArgs: mode.args });
  t.after(() => pair.stop());
  await pair.primary.waitLine(/^STATE sync$/);

  // the mount is over the directory itself, only inside h1; the old content shows through it
  const mounts = await h1.execOk(['cat', '/proc/self/mountinfo']);
  assert.match(mounts.stdout, new RegExp(` ${dirs.primaryDir} .* - fuse\\.hamod-repl `));
  assert.equal((await h1.execOk(['cat', join(dirs.primaryDir, 'preexisting')])).stdout, 'was here before the mount\n');

  const r = await h1.exec(['sh', '-c', WORKLOAD, 'workload', dirs.primaryDir], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `workload failed: ${r.stderr}${r.stdout}`);
  // reading back through the mount (passthrough reads)
  assert.equal((await h1.execOk(['cat', join(dirs.primaryDir, 'appendme')])).stdout, 'one\ntwo\n');
  const st = await h1.execOk(['stat', '-c', '%s %b', join(dirs.primaryDir, 'sparse')]);
  assert.equal(st.stdout.trim().split(' ')[0], String(5 * 2 ** 30 + 4096));

  await pair.stop();
  assert.ok(!pair.primary.lines.some((l) => l.startsWith('STATE alone')), pair.primary.lines.join('\n'));

  const a = snapshot(dirs.primaryDir, MTIME_CHECKED);
  const b = snapshot(dirs.secondaryDir, MTIME_CHECKED);
  assert.ok(a.size > 250, `expected a big tree, got ${a.size} entries`);
  assert.deepEqual(diffSnapshots(a, b), []);
  assert.equal(xattrDump(dirs.secondaryDir), xattrDump(dirs.primaryDir));
  assert.match(xattrDump(dirs.secondaryDir), /user\.color="blue"/);
  // spot checks of semantics, not only equality
  assert.equal(a.get('d1/d2/b')?.mode, 0o100755, 'chown after chmod 4755 drops set-user-id, on both sides');
  assert.equal(a.get('d1/a2.txt')?.nlink, 2);
  assert.equal(a.get('umasked')?.mode, 0o100640);
  assert.equal(a.get('sgid/f')?.gid, 777);
  assert.equal(a.get('sgid/sub')?.mode, 0o42755);
  assert.equal(a.get('sl')?.uid, 42);
  assert.equal(a.get('r2')?.digest, b.get('r2')?.digest);
  assert.ok(!a.has('r1') && !a.has('gone') && !a.has('hl') && !a.has('d1/d2/d3'));
  assert.equal(readFileSync(join(dirs.secondaryDir, 'r2'), 'utf8'), 'r1\n');
  // the 5 GiB file stayed sparse on the secondary (holes are not written as zeros)
  assert.ok(statSync(join(dirs.secondaryDir, 'sparse')).blocks * 512 < 1 << 20, 'sparse file allocated on the secondary');
});

test('hamod-repl: secondary lost -> primary goes alone within the timeout, keeps serving, logs changes', { skip, timeout: 120_000 }, async (t) => {
  const net = await createTestNet({ hosts: ['h1', 'h2'], mountNamespace: true, t });
  const [h1, h2] = net.hosts as [typeof net.hosts[0], typeof net.hosts[0]];
  const dirs = makeDirs();
  t.after(() => dirs.cleanup());
  const timeoutMs = 1000;
  const pair = await startPair(h1, h2, dirs, { timeoutMs });
  t.after(() => pair.stop());
  await pair.primary.waitLine(/^STATE sync$/);
  const P = dirs.primaryDir;
  await h1.execOk(['sh', '-c', `cd ${P} && dd if=/dev/urandom of=data bs=64k count=16 status=none && mkdir kept && echo a > kept/f`]);

  await net.killHost(h2); // host crash: links down first, so no RST ever reaches the primary
  const t0 = Date.now();
  const w = await h1.exec(['dd', 'if=/dev/urandom', `of=${P}/data`, 'bs=4k', 'count=1', 'seek=300', 'conv=notrunc', 'oflag=dsync', 'status=none'], { timeoutMs: 20_000 });
  const firstMs = Date.now() - t0;
  assert.equal(w.code, 0, w.stderr);
  assert.ok(firstMs < timeoutMs + 1500, `the blocked write took ${firstMs} ms (timeout ${timeoutMs} ms)`);
  await pair.primary.waitLine(/^STATE alone timeout/, 1000);

  // keeps serving, without waiting any more
  const t1 = Date.now();
  await h1.execOk(['sh', '-c', `cd ${P} && mkdir newdir && echo new > newdir/newfile && mv kept/f kept/g && rm kept/g && chmod 600 data && truncate -s 100 newdir/newfile && dd if=/dev/zero of=data bs=1M count=1 seek=3 conv=notrunc status=none`]);
  assert.ok(Date.now() - t1 < 3000, 'ALONE operations must not wait for the peer');
  assert.equal((await h1.execOk(['head', '-c', '4', `${P}/newdir/newfile`])).stdout, 'new\n');

  await pair.primary.stop();
  const log = readFileSync(dirs.changelog, 'utf8');
  const lines = log.trim().split('\n');
  assert.equal(lines[0], 'BASE none');
  assert.match(lines[1] ?? '', /^OPEN \d+ al$/); // "al": with an activity log
  // the writes recorded their extent or directory in the activity log first (A, D), then ALONE
  assert.match(lines.filter((l) => !/^[AD] /.test(l))[2] ?? '', /^ALONE \d+ auto timeout/);
  assert.ok(lines.some((l) => /^A data \d+ 4194304$/.test(l)), `no activity record:\n${log}`);
  assert.match(lines.at(-1) ?? '', /^CLOSE \d+$/);
  for (const want of [
    /^W data 1228800 4096$/, // 4k at 300*4k (4 KiB zones by default)
    /^N mkdir newdir$/,
    /^N create newdir\/newfile$/,
    /^N rename kept\/f kept\/g$/,
    /^N unlink kept\/g$/,
    /^N setattr data$/,
    /^T newdir\/newfile 100$/,
    /^W data 3145728 1048576$/,
  ]) {
    assert.ok(lines.some((l) => want.test(l)), `change log lacks ${want}:\n${log}`);
  }
});

test('hamod-repl: a secondary with another key is refused (primary starts alone)', { skip, timeout: 60_000 }, async (t) => {
  const net = await createTestNet({ hosts: ['h1', 'h2'], mountNamespace: true, t });
  const [h1, h2] = net.hosts as [typeof net.hosts[0], typeof net.hosts[0]];
  const dirs = makeDirs();
  t.after(() => dirs.cleanup());
  const otherKey = join(dirs.root, 'other.key');
  writeFileSync(otherKey, randomBytes(32).toString('hex'), { mode: 0o600 });
  const pair = await startPair(h1, h2, dirs, { secondaryKeyFile: otherKey, timeoutMs: 1000 });
  t.after(() => pair.stop());
  await pair.primary.waitLine(/^STATE alone cannot connect/);
  await h1.execOk(['sh', '-c', `echo x > ${dirs.primaryDir}/f`]);
  await pair.stop();
  assert.match(pair.secondary.stderr, /handshake refused/);
  assert.deepEqual(snapshot(dirs.secondaryDir).size, 1);
});
