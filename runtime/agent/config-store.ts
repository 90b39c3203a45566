// Reading and writing cluster.json (0600, durable).
import { readFileSync } from 'node:fs';
import { configProblems, type ClusterConfig } from '../config/cluster-config.js';
import { writeDurably } from './module-state-store.js';

export function loadConfig(path: string): ClusterConfig {
  let c: ClusterConfig;
  try {
    c = JSON.parse(readFileSync(path, 'utf8')) as ClusterConfig;
  } catch (e) {
    throw new Error(`cannot read the cluster configuration ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const p = configProblems(c);
  if (p.length) throw new Error(`${path}: ${p.join('; ')}`);
  return c;
}

export function saveConfig(path: string, c: ClusterConfig): void {
  writeDurably(path, JSON.stringify(c, null, 2) + '\n', 0o600);
}
