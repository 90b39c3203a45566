import { Args, Flags } from '@oclif/core';
import { HamodCommand } from '../../base.js';
import { dataDirFlag } from '../../flags.js';

export default class ModuleAdd extends HamodCommand {
  static override summary = 'Install a module bundle on the cluster with its instance parameters.';
  static override description = 'Verifies the bundle (integrity, signature, and that you trust its signer: your key store and $HAMOD_HOME/trusted, or --key), checks every --set against the module\'s typed parameters, and hands it to the local agent, which records it in a new configuration version and sends it to the other node.';
  static override examples = [
    { command: '<%= config.bin %> module add mirror-1.0.0.hamod --set vip=10.0.0.100 --set port=8080', description: 'Install the generic mirror module.' },
  ];
  static override enableJsonFlag = true;
  static override args = { bundle: Args.file({ description: 'Bundle file (.hamod).', required: true }) };
  static override flags = {
    set: Flags.string({ description: 'Parameter value, NAME=VALUE (repeatable).', multiple: true }),
    key: Flags.string({ description: 'Public key the bundle must be signed with (default: your trusted keys).' }),
    'data-dir': dataDirFlag(),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(ModuleAdd);
    const [{ verifyBundle, readBundleFile, inspectBundle }, { control, DEFAULT_DATA_DIR }, { parseSetFlags, resolveParams }] = await Promise.all([
      import('../../../compiler/build.js'), import('../../control-client.js'), import('../../../runtime/config/params.js'),
    ]);
    await verifyBundle(args.bundle, flags.key !== undefined ? { keyFile: flags.key } : {});
    const given = parseSetFlags(flags.set ?? []);
    resolveParams((await inspectBundle(args.bundle)).plan, given); // every problem at once, before the agent sees it
    const r = await control<{ name: string; version: string; configVersion: number }>(flags['data-dir'] ?? DEFAULT_DATA_DIR, 'POST', '/v1/modules', { bundle: readBundleFile(args.bundle).toString('base64'), params: given });
    this.log(`module ${r.name} ${r.version} installed (configuration v${r.configVersion})`);
    return r;
  }
}
