import { HamodCommand } from '../../base.js';
import { dataDirFlag } from '../../flags.js';

export default class ClusterShow extends HamodCommand {
  static override summary = 'Show the cluster configuration of this node.';
  static override examples = [{ command: '<%= config.bin %> cluster show --data-dir /var/lib/hamod', description: 'Nodes, networks, witnesses, modules and the configuration version.' }];
  static override enableJsonFlag = true;
  static override flags = { 'data-dir': dataDirFlag() };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(ClusterShow);
    const [{ loadConfig }, { DEFAULT_DATA_DIR }, { join }] = await Promise.all([import('../../../runtime/agent/config-store.js'), import('../../control-client.js'), import('node:path')]);
    const c = loadConfig(join(flags['data-dir'] ?? DEFAULT_DATA_DIR, 'cluster.json'));
    const shown = { ...c, modules: c.modules.map((m) => ({ name: m.name, version: m.version, bundleDigest: m.bundleDigest, params: Object.keys(m.params) })) };
    if (!this.jsonEnabled()) {
      this.log(`cluster ${c.cluster.name} (id ${c.cluster.id}), configuration v${c.version}, peer API tcp/${c.peerPort}, heartbeats udp/${c.heartbeatPort}`);
      for (const n of c.nodes) this.log(`  node ${n.name}: ${n.addresses.join(', ')}`);
      for (const w of c.witnesses) this.log(`  witness ${w.address}:${w.port}`);
      if (!c.witnesses.length) this.log('  no witness: no automatic takeover when heartbeats stop');
      for (const m of c.modules) this.log(`  module ${m.name} ${m.version} (bundle sha256:${m.bundleDigest.slice(0, 16)}…)`);
    }
    return shown;
  }
}
