import { Flags } from '@oclif/core';
import { HamodCommand } from '../base.js';

export default class AgentCmd extends HamodCommand {
  static override summary = 'Run the hamod agent of this node in the foreground.';
  static override description = 'Loads the node\'s credentials and the cluster configuration from the data directory, links to the peer (authenticated heartbeats, mutual-TLS API), runs the installed modules and serves the local control API on DATA/control.sock. Stops the modules on SIGTERM/SIGINT. A systemd unit is shipped in packaging/hamod-agent.service.';
  static override examples = [
    { command: '<%= config.bin %> agent --data-dir /var/lib/hamod', description: 'Run the agent (as root).' },
  ];
  static override flags = {
    'data-dir': Flags.string({ description: 'Data directory made by `hamod cluster init` (default /var/lib/hamod or $HAMOD_DATA_DIR).' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(AgentCmd);
    const [{ Agent }, { DEFAULT_DATA_DIR }] = await Promise.all([import('../../runtime/agent/agent.js'), import('../control-client.js')]);
    const agent = new Agent({ dataDir: flags['data-dir'] ?? DEFAULT_DATA_DIR });
    await agent.start();
    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (sig: string) => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`${new Date().toISOString()} ${sig}: stopping the agent\n`);
        void agent.stop().then(resolve, resolve);
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
  }
}
