// GlusterFS replica 2 on test hosts (test/harness, with mount namespaces), for
// scripts/bench-replication-proto.mjs.
//
// Each server host runs its own glusterd: inside the host's private mount namespace, private
// directories of the run's scratch area are bind-mounted over /var/lib/glusterd (state: UUID, peers,
// volumes), /var/log/glusterfs and /run (glusterd.socket, /run/gluster pid files and brick sockets),
// so two glusterds on one machine never share a file, and the machine's own directories are never
// written. glusterd, the bricks (glusterfsd), the self-heal daemons and the FUSE client all live
// in the hosts' network namespaces: the harness's destroy() kills them with the hosts, and their
// mounts vanish with the hosts' mount namespaces.
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const GL = ['gluster', '--mode=script'];

async function startGlusterd(host, base) {
  for (const d of ['lib', 'log', 'run']) mkdirSync(join(base, d), { recursive: true });
  if (existsSync('/var/lib/glusterd/groups')) cpSync('/var/lib/glusterd/groups', join(base, 'lib/groups'), { recursive: true });
  await host.execOk(['mount', '--bind', join(base, 'lib'), '/var/lib/glusterd']);
  await host.execOk(['mount', '--bind', join(base, 'log'), '/var/log/glusterfs']);
  await host.execOk(['mount', '--bind', join(base, 'run'), '/run']);
  // glusterd daemonizes; it stays in the host's network namespace (killed by destroy()).
  await host.execOk(['glusterd', '-p', '/run/glusterd.pid', '--log-level', 'WARNING'], { timeoutMs: 60_000 });
  // Wait until its CLI socket answers.
  for (let i = 0; ; i++) {
    const r = await host.exec([...GL, 'peer', 'status'], { timeoutMs: 30_000 });
    if (r.code === 0) return;
    if (i > 50) throw new Error(`glusterd on ${host.name} does not answer: ${r.stderr}${r.stdout}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

async function retry(fn, what, tries = 20) {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i >= tries) throw new Error(`${what}: ${e.message}`);
      await new Promise((res) => setTimeout(res, 500));
    }
  }
}

/**
 * Creates, starts and mounts a replica-2 volume. `servers` = [a, b] (two hosts: a brick on each) or
 * [a] (one host, two bricks). The FUSE client is mounted on servers[0] at `mountDir` (visible only
 * inside that host). Returns { mountDir, volume, setup, bricks, stop() }.
 */
export async function startGluster({ servers, scratch, volume, mountDir, log = () => {} }) {
  const [a, b] = servers;
  await startGlusterd(a, join(scratch, `gluster-${a.name}`));
  if (b) {
    await startGlusterd(b, join(scratch, `gluster-${b.name}`));
    await a.execOk([...GL, 'peer', 'probe', b.address], { timeoutMs: 60_000 });
    await retry(async () => {
      const r = await a.execOk([...GL, 'peer', 'status'], { timeoutMs: 30_000 });
      if (!/State: Peer in Cluster \(Connected\)/.test(r.stdout)) throw new Error(r.stdout);
    }, 'peer not connected');
  }
  const bricks = b
    ? [`${a.address}:${join(scratch, `gluster-${a.name}`, 'brick')}`, `${b.address}:${join(scratch, `gluster-${b.name}`, 'brick')}`]
    : [1, 2].map((i) => `${a.address}:${join(scratch, `gluster-${a.name}`, `brick${i}`)}`);
  // `force`: the bricks are directories of the root file system (and, with one host, on one server).
  await retry(() => a.execOk([...GL, 'volume', 'create', volume, 'replica', '2', ...bricks, 'force'], { timeoutMs: 120_000 }), 'volume create', 5);
  await a.execOk([...GL, 'volume', 'start', volume], { timeoutMs: 120_000 });
  await retry(async () => {
    const r = await a.execOk([...GL, 'volume', 'status', volume], { timeoutMs: 30_000 });
    // brick lines end with "TCP-PORT RDMA-PORT Y PID" (the self-heal daemons' with "N/A N/A Y PID")
    const online = r.stdout.split('\n').filter((l) => /\s\d+\s+\d+\s+Y\s+\d+\s*$/.test(l));
    if (online.length < 2) throw new Error(r.stdout);
  }, 'bricks not online');
  await a.execOk(['mkdir', '-p', mountDir]);
  await retry(() => a.execOk(['mount', '-t', 'glusterfs', `${a.address}:/${volume}`, mountDir], { timeoutMs: 60_000 }), 'mount', 5);
  const info = await a.exec([...GL, 'volume', 'info', volume], { timeoutMs: 30_000 });
  const version = (await a.exec(['glusterfs', '--version'])).stdout.split('\n')[0];
  log(`GlusterFS: ${version}; volume ${volume} replica 2, bricks ${bricks.join(' ')}; FUSE client on ${a.name} at ${mountDir}`);
  return {
    mountDir,
    volume,
    bricks,
    version,
    info: info.stdout,
    setup: b ? `two test hosts (${a.name}, ${b.name}), one brick each` : `ONE test host (${a.name}) with two bricks`,
    async stop() {
      await a.exec(['umount', mountDir], { timeoutMs: 30_000 });
      await a.exec([...GL, 'volume', 'stop', volume], { timeoutMs: 60_000 });
    },
  };
}
