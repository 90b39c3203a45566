import { Args, Flags } from '@oclif/core';
import { HamodCommand } from '../base.js';

export default class Build extends HamodCommand {
  static override summary = 'Compile a module into a signed, reproducible bundle.';
  static override description = 'Validates DIR (as `hamod lint`), renders its scripts, compiles the runtime plan and writes NAME-VERSION.hamod: a deterministic tar.gz with manifest.json (metadata, plan, sha256 of every file) signed with ed25519. Without --key, the key "default" of the key store ($HAMOD_HOME/keys, default ~/.hamod/keys) is used, and created on first use. Prints the bundle path.';
  static override examples = [
    { command: '<%= config.bin %> build modules/mirror --out /tmp', description: 'Build the generic mirror module into /tmp/mirror-1.0.0.hamod.' },
    { command: '<%= config.bin %> build --key ~/.hamod/keys/release.key --json', description: 'Build the module in the current directory with a release key; print path, digest and size as JSON.' },
  ];
  static override enableJsonFlag = true;
  static override args = { dir: Args.directory({ description: 'Module directory (default: current directory).', default: '.' }) };
  static override flags = {
    out: Flags.string({ description: 'Directory to write the bundle into (default: current directory).' }),
    key: Flags.string({ description: 'ed25519 private key file (PEM, mode 0600) to sign with.' }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(Build);
    const [{ buildModule }, { HAMOD_VERSION }] = await Promise.all([import('../../compiler/build.js'), import('../version.js')]);
    const opts: Parameters<typeof buildModule>[0] = { dir: args.dir, compilerVersion: HAMOD_VERSION };
    if (flags.out !== undefined) opts.outDir = flags.out;
    if (flags.key !== undefined) opts.keyFile = flags.key;
    const r = await buildModule(opts);
    if (!this.jsonEnabled()) {
      if (r.diagnostics.length) await this.printDiagnostics(r.diagnostics, args.dir);
      if (r.generatedKey) process.stderr.write(`created signing key "${r.generatedKey.name}" (${r.generatedKey.keyId}) in ${r.generatedKey.privateKey}\n`);
      this.log(r.path);
    }
    return { path: r.path, digest: `sha256:${r.digest}`, size: r.size, name: r.name, version: r.version, keyId: r.keyId, warnings: r.diagnostics };
  }
}
