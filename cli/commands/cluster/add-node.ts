import { Args, Flags } from '@oclif/core';
import { HamodCommand } from '../../base.js';

export default class ClusterAddNode extends HamodCommand {
  static override summary = 'Add a node to a cluster that has one.';
  static override description = 'Issues the new node\'s certificate from the cluster CA, writes its data directory to --out, and bumps the configuration version in --data-dir (an existing node\'s). Restart the existing node\'s agent to link to the new node.';
  static override examples = [{ command: '<%= config.bin %> cluster add-node n2=10.0.0.2 --ca ./cluster/ca --data-dir /var/lib/hamod --out ./n2', description: 'Add node n2.' }];
  static override enableJsonFlag = true;
  static override args = { node: Args.string({ description: 'NAME=ADDRESS[,ADDRESS2...]', required: true }) };
  static override flags = {
    ca: Flags.string({ description: 'The cluster CA directory (OUT/ca of cluster init).', required: true }),
    'data-dir': Flags.string({ description: 'Data directory of an existing node (default /var/lib/hamod).' }),
    out: Flags.string({ description: 'Directory to write the new node\'s data directory to.', required: true }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(ClusterAddNode);
    const [{ addNode }, { parseNodeFlag }, { DEFAULT_DATA_DIR }] = await Promise.all([import('../../../runtime/cluster/setup.js'), import('../../../runtime/config/cluster-config.js'), import('../../control-client.js')]);
    const r = await addNode({ caDir: flags.ca, dataDir: flags['data-dir'] ?? DEFAULT_DATA_DIR, node: parseNodeFlag(args.node), outDir: flags.out });
    this.log(`node added: configuration v${r.config.version}; its data directory is ${r.nodeDir}`);
    return { configVersion: r.config.version, nodeDir: r.nodeDir };
  }
}
