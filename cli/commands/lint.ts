import { Args } from '@oclif/core';
import { resolve } from 'node:path';
import { HamodCommand } from '../base.js';

export default class Lint extends HamodCommand {
  static override summary = 'Check a module and print every problem at once.';
  static override description = 'Reads DIR/module.yaml and the scripts it references, validates them against the module schema and the semantic rules, and prints each problem with its file:line:column, field, expected vs found, a stable code (documented in docs/errors.md) and a code frame. Exits 1 when there is an error.';
  static override examples = [
    { command: '<%= config.bin %> lint modules/mirror', description: 'Check the generic mirror module.' },
    { command: '<%= config.bin %> lint --json', description: 'Check the module in the current directory; print diagnostics as JSON.' },
  ];
  static override enableJsonFlag = true;
  static override args = { dir: Args.directory({ description: 'Module directory (default: current directory).', default: '.' }) };

  async run(): Promise<{ ok: boolean; errors: number; warnings: number; diagnostics: unknown[] }> {
    const { args } = await this.parse(Lint);
    const dir = resolve(args.dir);
    const { compileModule } = await import('../../compiler/compile-module.js');
    const { HAMOD_VERSION } = await import('../version.js');
    const { diagnostics } = compileModule(dir, HAMOD_VERSION);
    const errors = diagnostics.filter((d) => d.severity === 'error').length;
    const warnings = diagnostics.filter((d) => d.severity === 'warning').length;
    if (!this.jsonEnabled()) {
      if (diagnostics.length) await this.printDiagnostics(diagnostics, dir);
      else this.log(`${args.dir}: no problems`);
    }
    if (errors > 0) process.exitCode = 1;
    return { ok: errors === 0, errors, warnings, diagnostics };
  }
}
