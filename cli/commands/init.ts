import { Args, Flags } from '@oclif/core';
import { HamodCommand } from '../base.js';

export default class Init extends HamodCommand {
  static override summary = 'Create a new module that builds as is.';
  static override description = 'Scaffolds DIR with module.yaml, scripts/run.sh (an example HTTP service to replace with your application), README.md and CHANGELOG.md, copied from the generic mirror or farm module.';
  static override examples = [
    { command: '<%= config.bin %> init my-app --mode mirror', description: 'A two-node module with a replicated data directory and a virtual IP.' },
    { command: '<%= config.bin %> init web --mode farm --name web-farm', description: 'A load-balanced module running on every node.' },
  ];
  static override enableJsonFlag = true;
  static override args = { dir: Args.string({ description: 'Directory to create (must be empty or absent).', required: true }) };
  static override flags = {
    mode: Flags.string({ description: 'mirror (2 nodes, replicated data) or farm (N nodes, load balanced).', options: ['mirror', 'farm'], required: true }),
    name: Flags.string({ description: 'Module name (default: from DIR).' }),
    force: Flags.boolean({ description: 'Write into a non-empty directory, overwriting module files.' }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(Init);
    const { initModule } = await import('../../compiler/scaffold/init.js');
    const opts: Parameters<typeof initModule>[0] = { dir: args.dir, mode: flags.mode as 'mirror' | 'farm', force: flags.force };
    if (flags.name !== undefined) opts.name = flags.name;
    const res = initModule(opts);
    this.log(`created ${res.mode} module "${res.name}" in ${args.dir}: ${res.files.join(', ')}`);
    this.log(`next: edit ${args.dir}/scripts/run.sh, then \`hamod lint ${args.dir}\` and \`hamod build ${args.dir}\``);
    return res;
  }
}
