import { Args, Flags } from '@oclif/core';
import { HamodCommand } from '../base.js';
import { dataDirFlag } from '../flags.js';

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
    node: Flags.string({ description: 'Another node of the cluster (through this node\'s agent; with -f, polled every second).' }),
    'data-dir': dataDirFlag(),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Logs);
    const [{ readLog, followLog }, { DEFAULT_DATA_DIR }, { join }] = await Promise.all([import('../../runtime/logs/index.js'), import('../control-client.js'), import('node:path')]);
    const dir = join(flags['data-dir'] ?? DEFAULT_DATA_DIR, 'logs');
    if (!/^[a-z][a-z0-9-]{0,62}$/.test(args.module)) throw new Error(`"${args.module}" is not a module name`);
    if (flags.node !== undefined) {
      const { control } = await import('../control-client.js');
      const dataDir = flags['data-dir'] ?? DEFAULT_DATA_DIR;
      const q = (n: number) => `/v1/logs?module=${encodeURIComponent(args.module)}&lines=${n}&node=${encodeURIComponent(flags.node!)}`;
      let seen = (await control<{ lines: string[] }>(dataDir, 'GET', q(flags.lines ?? 100))).lines;
      for (const l of seen) this.log(l);
      while (flags.follow) {
        await new Promise((r) => setTimeout(r, 1000));
        const now = (await control<{ lines: string[] }>(dataDir, 'GET', q(1000))).lines;
        const last = seen[seen.length - 1];
        const from = last === undefined ? 0 : now.lastIndexOf(last) + 1;
        for (const l of now.slice(from)) this.log(l);
        if (now.length) seen = now;
      }
      return;
    }
    if (!flags.follow) {
      for (const l of await readLog(dir, args.module, { lines: flags.lines ?? 100 })) this.log(l);
      return;
    }
    const ac = new AbortController();
    process.on('SIGINT', () => ac.abort());
    await followLog(dir, args.module, (lines) => { for (const l of lines) this.log(l); }, ac.signal, { initialLines: flags.lines ?? 20 });
  }
}
