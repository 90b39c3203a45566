// The agent's side of the native replication daemon: mountinfo parsing (which mount is on top, and
// which are ours), the control-socket client (one request, one reply line; ERR rejects), and the
// retry policy of a failed reintegration.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ControlClient, kv } from '../../runtime/replication/daemon.js';
import { mountsAt, parseMountinfo } from '../../runtime/replication/mounts.js';
import { afterFailedAttach } from '../../runtime/replication/module-replication.js';

const INFO = [
  '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
  '100 22 254:0 /tmp/c/n1-app /var/lib/app rw,relatime shared:1 - ext4 /dev/vda rw',
  '101 100 0:55 / /var/lib/app rw,nosuid,nodev,relatime - fuse.hamod-repl hamod-repl rw,user_id=0,group_id=0,default_permissions,allow_other',
  '102 22 254:0 /srv/my\\040data /srv/my\\040data ro,relatime shared:1 - ext4 /dev/vda rw',
].join('\n');

test('mountinfo: entries, octal escapes, the stack at one path', () => {
  const all = parseMountinfo(INFO);
  assert.equal(all.length, 4);
  assert.equal(all[3]!.mountPoint, '/srv/my data');
  const at = mountsAt('/var/lib/app', INFO);
  assert.deepEqual(at.map((m) => [m.id, m.fsType]), [[100, 'ext4'], [101, 'fuse.hamod-repl']]);
  assert.deepEqual(mountsAt('/nowhere', INFO), []);
});

test('control client: replies in order, ERR rejects with the reason, kv parses', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hamod-ctl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'c.sock');
  const seen: string[] = [];
  const server = createServer((s) => {
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        seen.push(line);
        // Answer out of a single write for two requests to exercise line splitting.
        if (line === 'STATUS') s.write('OK mode=alone gen=g2 base=g1 mirror=none done=0 total=0 sent=12\n');
        else if (line.startsWith('MODE bogus')) s.write('ERR unknown mode bogus\n');
        else s.write('OK\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  t.after(() => server.close());
  const c = new ControlClient(path);
  t.after(() => c.close());
  const [a, b] = await Promise.all([c.request('MODE alone g2'), c.request('STATUS')]);
  assert.equal(a, 'OK');
  assert.equal(kv(b).gen, 'g2');
  assert.equal(kv(b).sent, '12');
  await assert.rejects(c.request('MODE bogus'), /unknown mode bogus/);
  assert.equal(await c.request('DETACH'), 'OK');
  assert.deepEqual(seen, ['MODE alone g2', 'STATUS', 'MODE bogus', 'DETACH']);
});

test('control client: a dead socket rejects instead of hanging', async () => {
  const c = new ControlClient(join(tmpdir(), `hamod-none-${process.pid}.sock`));
  await assert.rejects(c.request('STATUS', 1000), /ENOENT|ECONNREFUSED/);
});

test('bind records: only ours, only from this mount namespace and boot, only read-only', async (t) => {
  const { BindRecord } = await import('../../runtime/replication/mounts.js');
  const { writeFileSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'hamod-binds-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'binds.json');
  const rec = new BindRecord(file);
  rec.write({ '/var/lib/app': 101 });
  const ro = { id: 101, parent: 100, mountPoint: '/var/lib/app', options: 'ro,relatime', fsType: 'ext4', source: '/dev/vda' };
  assert.equal(rec.isOurs('/var/lib/app', ro), true);
  assert.equal(rec.isOurs('/var/lib/app', { ...ro, options: 'rw,relatime' }), false, 'a read-write mount with that id is not our bind');
  assert.equal(rec.isOurs('/var/lib/app', { ...ro, id: 102 }), false);
  // Written in another mount namespace or boot (a crashed host's record): mount ids are reused.
  writeFileSync(file, JSON.stringify({ where: 'other-boot/mnt:[4026531841]', binds: { '/var/lib/app': 101 } }));
  assert.equal(rec.isOurs('/var/lib/app', ro), false);
  assert.deepEqual(rec.read(), {});
});

test('after a failed reintegration: changed zones twice, then checksums; an awaited one gives up after four', () => {
  const run = (full: boolean, awaited: boolean) => [1, 2, 3, 4, 5].map((n) => afterFailedAttach(n, full, awaited));
  assert.deepEqual(run(false, true), ['again', 'checksums', 'again', 'give-up', 'give-up']);
  assert.deepEqual(run(true, true), ['again', 'again', 'again', 'give-up', 'give-up']);
  // Not awaited by the mirror machine (a re-attach of an in-sync pair): keeps asking.
  assert.deepEqual(run(false, false), ['again', 'checksums', 'again', 'again', 'again']);
});
