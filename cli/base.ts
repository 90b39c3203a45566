// Shared command behaviour: errors become one line (stack only with --debug), diagnostics are
// printed with code frames, and `--json` returns data on stdout.
import { Command, Flags } from '@oclif/core';
import type { Diagnostic } from '../compiler/diagnostics.js';

export abstract class HamodCommand extends Command {
  static override baseFlags = {
    debug: Flags.boolean({ description: 'Print stack traces on failure.', helpGroup: 'GLOBAL' }),
  };

  protected get debugMode(): boolean {
    return this.argv.includes('--debug') || process.env.HAMOD_DEBUG === '1';
  }

  /** Print diagnostics to stderr (people) unless --json. */
  protected printDiagnostics(ds: readonly Diagnostic[], baseDir: string | undefined): Promise<void> {
    return import('./format.js').then(({ formatDiagnostics }) => {
      if (ds.length > 0 && !this.jsonEnabled()) process.stderr.write(formatDiagnostics(ds, baseDir !== undefined ? { baseDir } : {}) + '\n');
    });
  }

  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    if (err.oclif?.exit !== undefined && err.oclif.exit === 0) throw err; // help, version
    const { DiagnosticError } = await import('../compiler/diagnostics.js');
    // A module's problems get the full listing with code frames; other failures fit one line.
    const baseDir = (err as { baseDir?: string }).baseDir;
    if (err instanceof DiagnosticError && baseDir !== undefined && !this.jsonEnabled()) await this.printDiagnostics(err.diagnostics, baseDir);
    if (this.jsonEnabled()) {
      const body: Record<string, unknown> = { error: err.message };
      if (err instanceof DiagnosticError) body.diagnostics = err.diagnostics;
      process.stdout.write(JSON.stringify(body, null, 2) + '\n');
    } else {
      process.stderr.write(`hamod: ${err.message.split('\n')[0]}\n`);
      if (this.debugMode && err.stack) process.stderr.write(err.stack + '\n');
    }
    process.exitCode = err.oclif?.exit ?? err.exitCode ?? 1;
    return undefined;
  }
}
