import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createBundle, openBundle } from '../../compiler/bundle/bundle.js';
import {
  KeyError,
  exportPublicKey,
  generateKey,
  keyId,
  keyStoreAt,
  keyStoreFromEnv,
  listKeys,
  loadPrivateKey,
  loadPublicKey,
  loadStoreKey,
  rawPublicKey,
  resolveHamodHome,
  trustedPublicKeys,
  type KeyStore,
} from '../../compiler/keys/index.js';
import type { DiagnosticCode } from '../../compiler/codes.js';

const root = mkdtempSync(join(tmpdir(), 'hamod-keys-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function freshStore(): KeyStore {
  return keyStoreAt(join(root, `home${n++}`));
}

async function expectKeyError(fn: () => Promise<unknown>, code: DiagnosticCode, pattern?: RegExp): Promise<KeyError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof KeyError, `expected a KeyError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected ${code}, nothing thrown`);
}

const mode = (file: string): number => statSync(file).mode & 0o777;

describe('resolveHamodHome', () => {
  it('uses HAMOD_HOME, else ~/.hamod', () => {
    assert.equal(resolveHamodHome({ HAMOD_HOME: '/srv/hamod' }, '/home/u'), '/srv/hamod');
    assert.equal(resolveHamodHome({}, '/home/u'), '/home/u/.hamod');
    assert.equal(resolveHamodHome({ HAMOD_HOME: '' }, '/home/u'), '/home/u/.hamod');
    assert.equal(resolveHamodHome({ HAMOD_HOME: 'rel' }, '/home/u'), join(process.cwd(), 'rel'));
    assert.deepEqual(keyStoreFromEnv({ HAMOD_HOME: '/h' }), { home: '/h', keysDir: '/h/keys', trustedDir: '/h/trusted' });
  });
});

describe('generateKey', () => {
  it('creates NAME.key 0600 and NAME.pub 0644, whatever the umask', async () => {
    const store = freshStore();
    const previous = process.umask(0);
    let key;
    try {
      key = await generateKey(store, 'release-2024.a_b');
    } finally {
      process.umask(previous);
    }
    assert.equal(key.privateKey, join(store.keysDir, 'release-2024.a_b.key'));
    assert.equal(mode(key.privateKey), 0o600);
    assert.equal(mode(key.publicKey), 0o644);
    assert.match(readFileSync(key.privateKey, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(key.publicKeyPem, /^-----BEGIN PUBLIC KEY-----\n/);
    assert.match(key.keyId, /^[0-9a-f]{16}$/);
    const priv = await loadPrivateKey(key.privateKey);
    assert.equal(keyId(priv), key.keyId);
    assert.equal(keyId(await loadPublicKey(key.publicKey)), key.keyId);
  });

  it('refuses an existing name (HM504) and leaves the existing key alone', async () => {
    const store = freshStore();
    const first = await generateKey(store, 'k');
    const before = readFileSync(first.privateKey);
    await expectKeyError(() => generateKey(store, 'k'), 'HM504', /already exists/);
    assert.ok(readFileSync(first.privateKey).equals(before));
    // Only the .pub present (an imported public key): still taken, and no .key is created.
    const other = freshStore();
    mkdirSync(other.keysDir, { recursive: true });
    copyFileSync(first.publicKey, join(other.keysDir, 'k.pub'));
    await expectKeyError(() => generateKey(other, 'k'), 'HM504');
    assert.throws(() => statSync(join(other.keysDir, 'k.key')));
  });

  it('refuses invalid names (HM505)', async () => {
    const store = freshStore();
    for (const name of ['', 'Upper', '-x', '.x', '../x', 'a/b', 'a b', 'x'.repeat(65)]) {
      await expectKeyError(() => generateKey(store, name), 'HM505', /invalid key name/);
    }
    await generateKey(store, 'x'.repeat(64));
  });
});

describe('keyId', () => {
  it('is the first 16 hex digits of sha256 over the raw 32-byte public key', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const raw = rawPublicKey(publicKey);
    assert.equal(raw.length, 32);
    assert.ok(publicKey.export({ type: 'spki', format: 'der' }).subarray(-32).equals(raw));
    assert.equal(keyId(publicKey), createHash('sha256').update(raw).digest('hex').slice(0, 16));
    assert.equal(keyId(privateKey), keyId(publicKey));
  });
});

describe('loadPrivateKey', () => {
  it('refuses a key readable by group or others (HM503)', async () => {
    const store = freshStore();
    const key = await generateKey(store, 'k');
    for (const m of [0o644, 0o640, 0o604, 0o660]) {
      chmodSync(key.privateKey, m);
      await expectKeyError(() => loadPrivateKey(key.privateKey), 'HM503', new RegExp(`mode 0${m.toString(8)}`));
    }
    chmodSync(key.privateKey, 0o400);
    await loadPrivateKey(key.privateKey);
  });

  it('reports a missing file (HM501)', async () => {
    await expectKeyError(() => loadPrivateKey(join(root, 'nope.key')), 'HM501', /not found/);
    await expectKeyError(() => loadPublicKey(join(root, 'nope.pub')), 'HM501', /not found/);
    await expectKeyError(() => loadStoreKey(freshStore(), 'absent'), 'HM501');
  });

  it('refuses keys of another type, and things that are not private keys (HM502)', async () => {
    const dir = mkdtempSync(join(root, 'types-'));
    const write = (name: string, content: string): string => {
      const file = join(dir, name);
      writeFileSync(file, content, { mode: 0o600 });
      return file;
    };
    const pem = (k: KeyObject): string => k.export({ type: 'pkcs8', format: 'pem' }).toString();
    await expectKeyError(() => loadPrivateKey(write('rsa.key', pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey))), 'HM502', /rsa key/);
    await expectKeyError(() => loadPrivateKey(write('ec.key', pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey))), 'HM502', /ec key/);
    await expectKeyError(() => loadPrivateKey(write('x.key', pem(generateKeyPairSync('x25519').privateKey))), 'HM502', /x25519 key/);
    const { publicKey } = generateKeyPairSync('ed25519');
    await expectKeyError(() => loadPrivateKey(write('pub.key', publicKey.export({ type: 'spki', format: 'pem' }).toString())), 'HM502');
    await expectKeyError(() => loadPrivateKey(write('junk.key', 'hello')), 'HM502');
    mkdirSync(join(dir, 'adir'), { mode: 0o700 });
    await expectKeyError(() => loadPrivateKey(join(dir, 'adir')), 'HM502', /not a regular file/);
    await expectKeyError(() => loadPublicKey(write('rsa.pub', generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString())), 'HM502', /rsa key/);
  });
});

describe('private key material never leaks into errors', () => {
  it('no thrown message, diagnostic or stack quotes the private key', async () => {
    const store = freshStore();
    const key = await generateKey(store, 'secret');
    const pem = readFileSync(key.privateKey, 'utf8');
    const body = pem.split('\n').filter((l) => l && !l.startsWith('-----'));
    const d = (await loadPrivateKey(key.privateKey)).export({ format: 'jwk' }).d ?? '';
    assert.ok(body.length > 0 && d.length > 0);

    const errors: KeyError[] = [];
    const collect = async (fn: () => Promise<unknown>): Promise<void> => {
      const err = await fn().then(
        () => assert.fail('expected an error'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof KeyError, String(err));
      errors.push(err);
    };
    // The private key offered as a public key, as a trusted key, and with bad permissions.
    await collect(() => loadPublicKey(key.privateKey));
    mkdirSync(store.trustedDir, { recursive: true });
    copyFileSync(key.privateKey, join(store.trustedDir, 'oops.pub'));
    await collect(() => trustedPublicKeys(store));
    chmodSync(key.privateKey, 0o644);
    await collect(() => loadPrivateKey(key.privateKey));
    rmSync(key.publicKey);
    await collect(() => exportPublicKey(store, 'secret'));
    // A damaged private key: its base64 body cut short, so OpenSSL fails while holding the text.
    const damaged = join(root, 'damaged.key');
    const line = body[0] ?? '';
    writeFileSync(damaged, pem.replace(line, line.slice(0, line.length - 8)), { mode: 0o600 });
    await collect(() => loadPrivateKey(damaged));

    assert.equal(errors.length, 5);
    for (const err of errors) {
      const text = [err.message, err.stack ?? '', JSON.stringify(err.diagnostics), String(err.cause ?? '')].join('\n');
      for (const line of body) assert.ok(!text.includes(line), `leaked a PEM line in: ${err.message}`);
      assert.ok(!text.includes(d), 'leaked the raw private scalar');
      assert.ok(!text.includes('PRIVATE KEY-----\n'), 'leaked a PEM block');
    }
    assert.deepEqual(errors.map((e) => e.code), ['HM502', 'HM502', 'HM503', 'HM503', 'HM502']);
  });
});

describe('key store listing, export and trust', () => {
  it('lists keys with id, private flag and creation time', async () => {
    const store = freshStore();
    assert.deepEqual(await listKeys(store), []);
    const b = await generateKey(store, 'beta');
    const a = await generateKey(store, 'alpha');
    const imported = generateKeyPairSync('ed25519').publicKey;
    writeFileSync(join(store.keysDir, 'partner.pub'), imported.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(store.keysDir, 'notes.txt'), 'ignored');
    const list = await listKeys(store);
    assert.deepEqual(
      list.map((k) => [k.name, k.keyId, k.hasPrivate]),
      [
        ['alpha', a.keyId, true],
        ['beta', b.keyId, true],
        ['partner', keyId(imported), false],
      ],
    );
    for (const k of list) assert.ok(Math.abs(Date.parse(k.createdAt) - Date.now()) < 60_000, k.createdAt);
  });

  it('exports the public key PEM (from .pub, or derived from .key)', async () => {
    const store = freshStore();
    const k = await generateKey(store, 'k');
    const pem = await exportPublicKey(store, 'k');
    assert.equal(pem, k.publicKeyPem);
    rmSync(k.publicKey);
    assert.equal(await exportPublicKey(store, 'k'), k.publicKeyPem);
    await expectKeyError(() => exportPublicKey(store, 'other'), 'HM501', /no key named "other"/);
  });

  it('trusts the store keys plus $HAMOD_HOME/trusted/*.pub, once each', async () => {
    const store = freshStore();
    assert.deepEqual(await trustedPublicKeys(store), []);
    const own = await generateKey(store, 'own');
    const partner = generateKeyPairSync('ed25519');
    mkdirSync(store.trustedDir, { recursive: true });
    writeFileSync(join(store.trustedDir, 'partner.pub'), partner.publicKey.export({ type: 'spki', format: 'pem' }));
    copyFileSync(own.publicKey, join(store.trustedDir, 'own-copy.pub'));
    writeFileSync(join(store.trustedDir, 'README'), 'not a key');
    const trusted = await trustedPublicKeys(store);
    assert.deepEqual(trusted.map((k) => keyId(k)).sort(), [own.keyId, keyId(partner.publicKey)].sort());

    // End to end: sign with a store key, verify against the store's trust.
    const bundle = createBundle({ manifest: { formatVersion: 1 }, files: [], privateKey: await loadStoreKey(store, 'own') });
    assert.equal(openBundle(bundle, { trustedKeys: trusted, requireTrusted: true }).signer.keyId, own.keyId);
    const stranger = createBundle({ manifest: { formatVersion: 1 }, files: [], privateKey: generateKeyPairSync('ed25519').privateKey });
    assert.throws(() => openBundle(stranger, { trustedKeys: trusted, requireTrusted: true }), /HM407/);
  });
});
