import { Args } from '@oclif/core';
import { HamodCommand } from '../base.js';

export default class Inspect extends HamodCommand {
  static override summary = 'Show a bundle\'s metadata, compiled plan, files and signer.';
  static override description = 'Opens the bundle (integrity and signature are checked; whether the signer is trusted is shown, not required) and prints what the runtime will execute.';
  static override examples = [
    { command: '<%= config.bin %> inspect mirror-1.0.0.hamod', description: 'Summary for people.' },
    { command: '<%= config.bin %> inspect mirror-1.0.0.hamod --json', description: 'Everything, including the full plan, as JSON.' },
  ];
  static override enableJsonFlag = true;
  static override args = { file: Args.file({ description: 'Bundle file (.hamod).', required: true }) };

  async run(): Promise<unknown> {
    const { args } = await this.parse(Inspect);
    const [{ inspectBundle }, { table }, { describePlan }] = await Promise.all([import('../../compiler/build.js'), import('../format.js'), import('../describe-plan.js')]);
    const r = await inspectBundle(args.file);
    if (!this.jsonEnabled()) {
      const m = r.module;
      this.log(`${String(m.name)} ${String(m.version)} (${String(m.mode)})${m.description ? ` — ${String(m.description)}` : ''}`);
      this.log(`bundle  ${r.file}  ${r.size} bytes  sha256:${r.digest}`);
      this.log(`signer  ${r.signer.keyId}  ${r.signer.trusted ? 'trusted' : 'NOT TRUSTED (hamod verify would fail)'}`);
      this.log(`format  ${r.formatVersion}, schema ${String(r.schemaVersion)}, built by ${JSON.stringify(r.compiler)}`);
      this.log('');
      this.log(describePlan(r.plan));
      this.log('');
      this.log(table(r.files.map((f) => ({ path: f.path, mode: f.mode, size: String(f.size), sha256: f.sha256.slice(0, 16) + '…' })), ['path', 'mode', 'size', 'sha256']));
    }
    return r;
  }
}
