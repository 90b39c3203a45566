// Real shell scripts in temporary directories, and process probes, for the supervisor tests.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** A temporary directory removed after the test; world-readable so scripts can run as `nobody`. */
export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'hamod-sup-'));
  chmodSync(dir, 0o755);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `#!/bin/sh` + body as `dir/name` with `mode`; returns its path. */
export function script(dir: string, name: string, body: string, mode = 0o755): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, mode);
  return path;
}

/**
 * kill -0, and a process that answers but is a zombie counts as dead: this machine's init does not
 * reap orphans, so a killed grandchild can linger as a zombie that kill -0 still finds.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export async function waitFor(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Pids written one per line by a script, once `count` are there. */
export async function readPids(file: string, count: number): Promise<number[]> {
  let pids: number[] = [];
  await waitFor(() => {
    if (!existsSync(file)) return false;
    pids = readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
    return pids.length >= count;
  }, 5000, `${count} pids in ${file}`);
  return pids;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
