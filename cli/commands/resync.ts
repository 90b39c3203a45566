import { Args, Flags } from '@oclif/core';
import { HamodCommand } from '../base.js';
import { dataDirFlag } from '../flags.js';

type NS = import('../../runtime/agent/agent.js').NodeStatus;
type MS = NS['modules'][number];

export default class Resync extends HamodCommand {
  static override summary = "Show a mirror module's replication: in sync, or the reintegration's progress (bytes copied, bytes sent).";
  static override description =
    'A returning node is reintegrated automatically while the application keeps running on the primary: only the zones ' +
    'changed since the nodes were last in sync are sent, or, when that record is lost, zones whose checksums differ. ' +
    'This command shows where that stands; --watch draws a progress bar until the secondary is in sync. ' +
    '--bandwidth caps the reintegration rate (from the next reintegration; on both nodes).';
  static override examples = [
    { command: '<%= config.bin %> resync pg', description: 'Where the replication of module pg stands.' },
    { command: '<%= config.bin %> resync pg --watch', description: 'A progress bar until the secondary is in sync.' },
    { command: '<%= config.bin %> resync pg --bandwidth 50MiB', description: 'Cap reintegration at 50 MiB/s.' },
  ];
  static override enableJsonFlag = true;
  static override args = { module: Args.string({ required: true, description: 'Module name.' }) };
  static override flags = {
    'data-dir': dataDirFlag(),
    watch: Flags.boolean({ description: 'Refresh until the secondary is in sync (Ctrl-C to leave; the reintegration goes on).' }),
    bandwidth: Flags.string({ description: 'Reintegration bandwidth cap, e.g. 50MiB (per second), or "unlimited" for the module\'s setting.' }),
    timeout: Flags.integer({ description: 'With --watch: give up after this many seconds (exit code 1).' }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(Resync);
    const { control, DEFAULT_DATA_DIR } = await import('../control-client.js');
    const { progressLine: line, watchFrame } = await import('../resync-progress.js');
    const dataDir = flags['data-dir'] ?? DEFAULT_DATA_DIR;
    if (flags.bandwidth !== undefined) {
      const { sizeBytes } = await import('../../compiler/util/units.js');
      const b = flags.bandwidth === 'unlimited' ? null : /^[0-9]{1,9}(B|KiB|MiB|GiB)$/.test(flags.bandwidth) ? sizeBytes(flags.bandwidth) : NaN;
      if (Number.isNaN(b)) this.error(`--bandwidth ${flags.bandwidth}: expected a size such as 50MiB (B, KiB, MiB, GiB) or "unlimited"`, { exit: 2 });
      const r = await control<{ ok: boolean; message: string }>(dataDir, 'POST', '/v1/replication/bandwidth', { module: args.module, bytesPerSec: b });
      if (!r.ok) this.error(r.message, { exit: 1 });
      if (!this.jsonEnabled()) this.log(r.message);
      if (!flags.watch) return r;
    }
    const read = async () => {
      const r = await control<{ local: NS; peer: NS | { node: string; error: string } | null }>(dataDir, 'GET', '/v1/status');
      const nodes = [r.local, ...(r.peer && !('error' in r.peer) ? [r.peer] : [])];
      const mods = nodes.map((n) => ({ node: n.node, m: n.modules.find((x) => x.module === args.module) })).filter((x): x is { node: string; m: MS } => x.m !== undefined);
      if (mods.length === 0) this.error(`module ${args.module} is not installed here`, { exit: 2 });
      if (mods.every((x) => x.m.sync === null)) this.error(`module ${args.module} replicates no directory`, { exit: 2 });
      return mods;
    };
    if (!flags.watch) {
      const mods = await read();
      const l = line(mods);
      if (!this.jsonEnabled()) this.log(l.text);
      return { module: args.module, inSync: l.done, nodes: mods.map((x) => ({ node: x.node, state: x.m.state, role: x.m.role, sync: x.m.sync })) };
    }
    const deadline = flags.timeout ? Date.now() + flags.timeout * 1000 : Infinity;
    const tty = process.stdout.isTTY && !this.jsonEnabled();
    for (;;) {
      const mods = await read();
      const l = line(mods);
      if (!this.jsonEnabled()) process.stdout.write(watchFrame(l.text, l.done, tty));
      if (l.done) return { module: args.module, inSync: true };
      if (Date.now() > deadline) {
        if (tty) process.stdout.write('\n');
        this.error(`not in sync after ${flags.timeout} s`, { exit: 1 });
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
