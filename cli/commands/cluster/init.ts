import { Flags } from '@oclif/core';
import { HamodCommand } from '../../base.js';

export default class ClusterInit extends HamodCommand {
  static override summary = 'Create a cluster: its CA, and a data directory for each node and the witness.';
  static override description = 'Writes OUT/ca (the cluster CA key: keep it offline, it is only needed to add nodes), OUT/NODE for each node (certificate, key, heartbeat secret, configuration v1: copy it to that server as its /var/lib/hamod) and OUT/witness when --witness is given. Each --node lists one address per heartbeat network; the first also carries the mutual-TLS peer API.';
  static override examples = [
    { command: '<%= config.bin %> cluster init --name prod --node n1=10.0.0.1,10.1.0.1 --node n2=10.0.0.2,10.1.0.2 --witness 10.0.0.9 --out ./cluster', description: 'Two nodes with two heartbeat networks each, and a witness.' },
  ];
  static override enableJsonFlag = true;
  static override flags = {
    name: Flags.string({ description: 'Cluster name.', required: true }),
    node: Flags.string({ description: 'NAME=ADDRESS[,ADDRESS2...] (repeat for each node).', multiple: true, required: true }),
    witness: Flags.string({ description: 'ADDRESS[:PORT] of the witness that arbitrates when heartbeats stop (repeatable).', multiple: true }),
    out: Flags.string({ description: 'Directory to create the cluster files in.', required: true }),
    'peer-port': Flags.integer({ description: 'TCP port of the peer API (default 7410).' }),
    'heartbeat-port': Flags.integer({ description: 'UDP port of the heartbeats (default 7411).' }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(ClusterInit);
    const [{ initCluster }, { parseNodeFlag, parseWitnessFlag }] = await Promise.all([import('../../../runtime/cluster/setup.js'), import('../../../runtime/config/cluster-config.js')]);
    const opts: Parameters<typeof initCluster>[0] = { name: flags.name, nodes: flags.node.map(parseNodeFlag), witnesses: (flags.witness ?? []).map(parseWitnessFlag), outDir: flags.out };
    if (flags['peer-port'] !== undefined) opts.peerPort = flags['peer-port'];
    if (flags['heartbeat-port'] !== undefined) opts.heartbeatPort = flags['heartbeat-port'];
    if (opts.witnesses.length === 0) process.stderr.write('WARNING: no witness: when heartbeats stop, no node will start the application alone unless an operator forces it (hamod prim --force)\n');
    const r = await initCluster(opts);
    if (!this.jsonEnabled()) {
      this.log(`cluster ${flags.name} (id ${r.config.cluster.id}) created in ${flags.out}`);
      for (const [n, d] of Object.entries(r.nodeDirs)) this.log(`  node ${n}: ${d}  -> copy to that server, then: hamod agent --data-dir <dir>`);
      if (r.witnessDir) this.log(`  witness: ${r.witnessDir}  -> hamod witness --data-dir <dir>`);
      this.log(`  CA: ${r.caDir} (keep it offline)`);
    }
    return r;
  }
}
