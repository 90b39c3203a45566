// The agent's data directory:
//   ca.crt node.crt node.key cluster.secret   credentials (runtime/pki), 0600 for secrets
//   cluster.json                               ClusterConfig (0600: module parameters may hold secrets)
//   bundles/<sha256>.hamod                     installed bundles, by digest
//   modules/<name>/<sha256>/                   the verified, extracted bundle the runtime executes
//   modules/<name>/state.json                  incarnation and data state (durable)
//   logs/<name>.log                            per-module logs (hamod logs)
//   control.sock                               local control API (owner only)
import { join } from 'node:path';

export const layout = (dataDir: string) => ({
  dataDir,
  config: join(dataDir, 'cluster.json'),
  bundles: join(dataDir, 'bundles'),
  bundle: (digest: string) => join(dataDir, 'bundles', `${digest}.hamod`),
  moduleDir: (name: string) => join(dataDir, 'modules', name),
  extracted: (name: string, digest: string) => join(dataDir, 'modules', name, digest),
  logs: join(dataDir, 'logs'),
  socket: join(dataDir, 'control.sock'),
});

export type Layout = ReturnType<typeof layout>;
