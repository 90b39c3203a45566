import { HamodCommand } from '../../base.js';

export default class KeysList extends HamodCommand {
  static override summary = 'List the keys of the key store.';
  static override examples = [{ command: '<%= config.bin %> keys list', description: 'Names, ids, whether the private key is here, creation dates.' }];
  static override enableJsonFlag = true;

  async run(): Promise<unknown> {
    await this.parse(KeysList);
    const [{ listKeys, keyStoreFromEnv }, { table }] = await Promise.all([import('../../../compiler/keys/index.js'), import('../../format.js')]);
    const store = keyStoreFromEnv();
    const keys = await listKeys(store);
    if (!this.jsonEnabled()) {
      if (keys.length === 0) this.log(`no keys in ${store.keysDir} (create one with \`hamod keys generate\`)`);
      else this.log(table(keys.map((k) => ({ name: k.name, id: k.keyId, private: k.hasPrivate ? 'yes' : 'no', created: k.createdAt })), ['name', 'id', 'private', 'created']));
    }
    return keys;
  }
}
