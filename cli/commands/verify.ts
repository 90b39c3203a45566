import { Args, Flags } from '@oclif/core';
import { HamodCommand } from '../base.js';

export default class Verify extends HamodCommand {
  static override summary = 'Check a bundle\'s integrity, signature and signer.';
  static override description = 'Fails (exit 1, with the reason and a stable code) on any tampering: a changed byte, an added or removed file, a swapped manifest, a truncated archive, an unsafe entry, or a signer that is not trusted. Trusted signers are the --key given, else the keys of the key store and $HAMOD_HOME/trusted/*.pub.';
  static override examples = [
    { command: '<%= config.bin %> verify mirror-1.0.0.hamod', description: 'Verify against the keys you trust.' },
    { command: '<%= config.bin %> verify mirror-1.0.0.hamod --key vendor.pub --json', description: 'Verify against one public key; print the result as JSON.' },
  ];
  static override enableJsonFlag = true;
  static override args = { file: Args.file({ description: 'Bundle file (.hamod).', required: true }) };
  static override flags = { key: Flags.string({ description: 'Public key file (PEM) the bundle must be signed with.' }) };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(Verify);
    const { verifyBundle } = await import('../../compiler/build.js');
    const r = await verifyBundle(args.file, flags.key !== undefined ? { keyFile: flags.key } : {});
    this.log(`${args.file}: OK — ${r.name} ${r.version}, ${r.files} files, signed by ${r.keyId} (trusted), sha256:${r.digest}`);
    return r;
  }
}
