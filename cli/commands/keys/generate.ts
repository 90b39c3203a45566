import { Args } from '@oclif/core';
import { HamodCommand } from '../../base.js';

export default class KeysGenerate extends HamodCommand {
  static override summary = 'Create an ed25519 signing key pair in the key store.';
  static override description = 'Writes $HAMOD_HOME/keys/NAME.key (private, mode 0600, never printed) and NAME.pub. HAMOD_HOME defaults to ~/.hamod.';
  static override examples = [
    { command: '<%= config.bin %> keys generate release', description: 'Create the key "release".' },
    { command: '<%= config.bin %> keys generate --json', description: 'Create the key "default"; print its id and paths as JSON.' },
  ];
  static override enableJsonFlag = true;
  static override args = { name: Args.string({ description: 'Key name (a-z 0-9 . _ -).', default: 'default' }) };

  async run(): Promise<unknown> {
    const { args } = await this.parse(KeysGenerate);
    const { generateKey, keyStoreFromEnv } = await import('../../../compiler/keys/index.js');
    const k = await generateKey(keyStoreFromEnv(), args.name);
    this.log(`created key "${k.name}" (${k.keyId})\n  private: ${k.privateKey} (0600, keep it secret)\n  public:  ${k.publicKey}`);
    return { name: k.name, keyId: k.keyId, privateKey: k.privateKey, publicKey: k.publicKey };
  }
}
