import { Flags } from '@oclif/core';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { HamodCommand } from '../base.js';

export default class Witness extends HamodCommand {
  static override summary = 'Run the lease witness of a cluster in the foreground.';
  static override description =
    'Grants the primary lease of each mirror module to one node at a time, so that two nodes that lost each other never both run as primary, and keeps the latest data generation of each module so that a stale node is never promoted. ' +
    'Reads its credentials from DIR (ca.crt, node.crt, node.key, cluster.secret, as written by the cluster PKI for a node named e.g. "witness") and keeps its registry there (witness-state.json, written durably before any answer that depends on it). ' +
    'Only the nodes named by --nodes, or else by DIR/cluster.json ({"nodes": [{"name": …}]}, re-read on SIGHUP), may ask for leases, over mutual TLS with certificates of the cluster CA. ' +
    'After every start no lease is granted for one lease duration. Runs until SIGTERM or SIGINT; logs one line per lease change.';
  static override examples = [
    { command: '<%= config.bin %> witness --data-dir /var/lib/hamod-witness', description: 'Listen on 0.0.0.0:7412 for the nodes listed in /var/lib/hamod-witness/cluster.json.' },
    { command: '<%= config.bin %> witness --data-dir ./w --listen 192.0.2.10:7412 --nodes node1,node2', description: 'Listen on one address, for two named nodes.' },
  ];
  static override flags = {
    'data-dir': Flags.directory({ description: 'Directory with the credentials of the witness (and its registry).', required: true }),
    listen: Flags.string({ description: 'Address and port to listen on: ADDR:PORT, [IPv6]:PORT or ADDR (port 7412).', default: '0.0.0.0:7412' }),
    nodes: Flags.string({ description: 'Comma-separated names of the nodes allowed to ask for leases (default: the nodes of DIR/cluster.json).' }),
    'lease-ms': Flags.integer({ description: 'Duration of a lease in milliseconds.', default: 1500, min: 100, max: 600_000 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Witness);
    const dataDir = resolve(flags['data-dir']);
    const { loadNodeCredentials } = await import('../../runtime/pki/index.js');
    const { WitnessServer, parseListenAddress, parseNodeList, readClusterNodes } = await import('../../runtime/witness/index.js');

    const { host, port } = parseListenAddress(flags.listen);
    const clusterFile = join(dataDir, 'cluster.json');
    const fromFile = flags.nodes === undefined;
    if (fromFile && !existsSync(clusterFile)) throw new Error(`no --nodes given and ${clusterFile} does not exist: say which nodes may ask for leases`);
    let allowed: readonly string[] = fromFile ? await readClusterNodes(clusterFile) : parseNodeList(flags.nodes ?? '');
    const credentials = await loadNodeCredentials(dataDir);
    const line = (text: string): void => this.log(`${new Date().toISOString()} ${text}`);
    const server = new WitnessServer({ credentials, dataDir, allowedNodes: () => allowed, leaseMs: flags['lease-ms'], log: line });

    let stop: (signal: string) => void = () => undefined;
    const stopped = new Promise<string>((done) => (stop = done));
    const onTerm = (): void => stop('SIGTERM');
    const onInt = (): void => stop('SIGINT');
    const onHup = (): void => {
      if (!fromFile) return line('SIGHUP: the allowed nodes come from --nodes; nothing to reload');
      readClusterNodes(clusterFile).then(
        (names) => {
          allowed = names;
          line(`SIGHUP: allowed nodes now ${names.join(', ')}`);
        },
        (err: unknown) => line(`error: SIGHUP: keeping the allowed nodes ${allowed.join(', ')}: ${err instanceof Error ? err.message : String(err)}`),
      );
    };
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    process.on('SIGHUP', onHup);
    try {
      await server.listen(port, host);
      line(`allowed nodes: ${allowed.join(', ')}`);
      const signal = await stopped;
      line(`${signal}: closing`);
      await server.close();
      line('closed');
    } finally {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      process.off('SIGHUP', onHup);
      await server.close();
    }
  }
}
