import { Args, Flags } from '@oclif/core';
import { HamodCommand } from '../base.js';

export default class Logs extends HamodCommand {
  static override summary = 'Show a module\'s log: its services\' output and every transition with its reason.';
  static override examples = [
    { command: '<%= config.bin %> logs postgresql', description: 'The last 100 lines on this node.' },
    { command: '<%= config.bin %> logs postgresql -f', description: 'Follow it.' },
  ];
  static override args = { module: Args.string({ description: 'Module name.', required: true }) };
  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'Keep printing new lines.' }),
    lines: Flags.integer({ char: 'n', description: 'How many lines (default 100).' }),
    'data-dir': Flags.string({ description: 'Agent data directory (default /var/lib/hamod or $HAMOD_DATA_DIR).' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Logs);
    const [{ readLog, followLog }, { DEFAULT_DATA_DIR }, { join }] = await Promise.all([import('../../runtime/logs/index.js'), import('../control-client.js'), import('node:path')]);
    const dir = join(flags['data-dir'] ?? DEFAULT_DATA_DIR, 'logs');
    if (!/^[a-z][a-z0-9-]{0,62}$/.test(args.module)) throw new Error(`"${args.module}" is not a module name`);
    if (!flags.follow) {
      for (const l of await readLog(dir, args.module, { lines: flags.lines ?? 100 })) this.log(l);
      return;
    }
    const ac = new AbortController();
    process.on('SIGINT', () => ac.abort());
    await followLog(dir, args.module, (lines) => { for (const l of lines) this.log(l); }, ac.signal, { initialLines: flags.lines ?? 20 });
  }
}
