// Runs rendered scripts with real shells in a throw-away directory and reports what they did.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SHELLS = ['/bin/sh', '/bin/bash'] as const;
export type Shell = (typeof SHELLS)[number];

/** Name of the directory that hostile values try to delete, and of the file they try to create. */
export const CANARY_DIR = 'CANARYDIR';
export const CANARY_FILE = 'CANARY';

export interface Sandbox {
  root: string;
  /** Working directory of the scripts; holds CANARYDIR (with a file inside) before each run. */
  cwd: string;
  /** Absolute path of the canary directory. */
  canaryDir: string;
  cleanup(): void;
}

export function makeSandbox(): Sandbox {
  const root = mkdtempSync(join(tmpdir(), 'hamod-render-'));
  const cwd = join(root, 'cwd');
  mkdirSync(cwd);
  return {
    root,
    cwd,
    canaryDir: join(cwd, CANARY_DIR),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

export interface RunResult {
  status: number | null;
  stdout: Buffer;
  stderr: string;
  /** Entries of the working directory after the run, sorted (canary dir included if intact). */
  entries: string[];
  /** Whether CANARYDIR and its content survived. */
  canaryIntact: boolean;
  /** Contents of the requested output files (undefined when missing). */
  outputs: Record<string, Buffer | undefined>;
}

/**
 * Writes `script` outside the working directory, resets the working directory to contain only
 * CANARYDIR/keep, runs `shell script` (argv array, no shell in between) with a minimal environment
 * plus `env`, and collects the results.
 */
export function runScript(sb: Sandbox, shell: Shell, script: string, env: Record<string, string>, outputs: string[]): RunResult {
  rmSync(sb.cwd, { recursive: true, force: true });
  mkdirSync(sb.canaryDir, { recursive: true });
  writeFileSync(join(sb.canaryDir, 'keep'), 'keep');
  const scriptPath = join(sb.root, 'script.sh');
  writeFileSync(scriptPath, script);
  const r = spawnSync(shell, [scriptPath], {
    cwd: sb.cwd,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LC_ALL: 'C', HOME: '/nonexistent-home', ...env },
    timeout: 10_000,
    maxBuffer: 1 << 24,
  });
  const entries = readdirSync(sb.cwd).sort();
  let canaryIntact = false;
  try {
    canaryIntact = readFileSync(join(sb.canaryDir, 'keep'), 'utf8') === 'keep';
  } catch {
    canaryIntact = false;
  }
  const out: Record<string, Buffer | undefined> = {};
  for (const name of outputs) {
    try {
      out[name] = readFileSync(join(sb.cwd, name));
    } catch {
      out[name] = undefined;
    }
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8'), entries, canaryIntact, outputs: out };
}
