// What a module must remember across agent restarts: its incarnation (strictly increasing) and the
// data state of its replicated directories (generation, up to date or stale). Written atomically and
// durably (temp file, fsync, rename, fsync of the directory) before the machine's next effect runs.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DataState } from '../mirror/types.js';

export interface PersistedModuleState {
  incarnation: number;
  data: DataState;
}

export function statePath(moduleDir: string): string {
  return join(moduleDir, 'state.json');
}

export function loadModuleState(moduleDir: string): PersistedModuleState | null {
  try {
    const v = JSON.parse(readFileSync(statePath(moduleDir), 'utf8')) as PersistedModuleState;
    if (!Number.isInteger(v.incarnation) || typeof v.data?.gen?.id !== 'string') throw new Error('malformed');
    return v;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`${statePath(moduleDir)} is unreadable (${(e as Error).message}); refusing to guess the data state`);
  }
}

export function saveModuleState(moduleDir: string, s: PersistedModuleState): void {
  writeDurably(statePath(moduleDir), JSON.stringify(s, null, 2) + '\n', 0o600);
}

export function writeDurably(path: string, content: string | Buffer, mode: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    const buf = typeof content === 'string' ? Buffer.from(content) : content;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dfd = openSync(dirname(path), 'r');
  try { fsyncSync(dfd); } finally { closeSync(dfd); }
}
