// Runs the real `hamod` binary (bin/hamod.js) as a user would, with its own HAMOD_HOME.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../compiler/validate/schema-file.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function hamod(args: string[], opts: { home: string; cwd?: string }): CliResult {
  const r = spawnSync(process.execPath, [join(PACKAGE_ROOT, 'bin/hamod.js'), ...args], {
    cwd: opts.cwd ?? PACKAGE_ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: opts.home, HAMOD_HOME: join(opts.home, '.hamod'), NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
