import { Args } from '@oclif/core';
import { HamodCommand } from '../../base.js';

export default class KeysExport extends HamodCommand {
  static override summary = 'Print a key\'s public half (PEM), to give to those who verify your bundles.';
  static override description = 'Never prints private key material. Others add the file to $HAMOD_HOME/trusted/ or pass it to `hamod verify --key`.';
  static override examples = [{ command: '<%= config.bin %> keys export release > release.pub', description: 'Export the public key "release".' }];
  static override enableJsonFlag = true;
  static override args = { name: Args.string({ description: 'Key name.', default: 'default' }) };

  async run(): Promise<unknown> {
    const { args } = await this.parse(KeysExport);
    const { exportPublicKey, keyStoreFromEnv, keyId, toPublicKey } = await import('../../../compiler/keys/index.js');
    const { createPublicKey } = await import('node:crypto');
    const pem = await exportPublicKey(keyStoreFromEnv(), args.name);
    if (!this.jsonEnabled()) process.stdout.write(pem);
    return { name: args.name, keyId: keyId(toPublicKey(createPublicKey(pem))), publicKey: pem };
  }
}
