// The operator commands on a module (start, stop, restart, swap, prim, second, forcestop), sent to
// the local agent, which forwards them to the peer when --node names it.
import { Args, Flags } from '@oclif/core';
import { HamodCommand } from './base.js';
import { dataDirFlag } from './flags.js';

export function moduleCommand(command: string, summary: string, description: string) {
  return class extends HamodCommand {
    static override summary = summary;
    static override description = description;
    static override examples = [
      { command: `<%= config.bin %> ${command} postgresql`, description: `On this node.` },
      { command: `<%= config.bin %> ${command} postgresql --node node2`, description: `On node2 (through this node's agent).` },
    ];
    static override enableJsonFlag = true;
    static override args = { module: Args.string({ description: 'Module name.', required: true }) };
    static override flags = {
      node: Flags.string({ description: 'Node to run it on (default: this node).' }),
      'data-dir': dataDirFlag(),
      ...(command === 'prim' ? { force: Flags.boolean({ description: 'Become primary even with stale data or no witness (DANGEROUS: may lose or fork data).' }) } : {}),
    };

    async run(): Promise<unknown> {
      const { args, flags } = await this.parse() as { args: { module: string }; flags: { node?: string; 'data-dir'?: string; force?: boolean } };
      const { control, DEFAULT_DATA_DIR } = await import('./control-client.js');
      if (flags.force) process.stderr.write('WARNING: forcing primary: this node will run the module without checking its data or the witness\n');
      const r = await control<{ ok: boolean; message: string }>(flags['data-dir'] ?? DEFAULT_DATA_DIR, 'POST', '/v1/command', { module: args.module, command, force: flags.force === true, ...(flags.node ? { node: flags.node } : {}) });
      if (!r.ok) throw new Error(r.message);
      this.log(r.message);
      return r;
    }
  };
}
