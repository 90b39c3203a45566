import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { createBundle, openBundle, type Manifest } from '../../compiler/bundle/bundle.js';
import { parseCanonicalJson } from '../../compiler/bundle/canonical-json.js';
import { readTar } from '../../compiler/bundle/tar.js';
import { keyId } from '../../compiler/keys/key-id.js';
import { KeyError } from '../../compiler/keys/key-error.js';
import { SAMPLE_MANIFEST, SIGNER, expectBundleError, newKey, sampleBundle, sampleFiles } from './helpers.js';

describe('createBundle', () => {
  it('is byte-identical for the same input, in any file order', () => {
    const a = sampleBundle();
    const b = sampleBundle();
    const c = createBundle({ manifest: { ...SAMPLE_MANIFEST }, files: sampleFiles().reverse(), privateKey: SIGNER.privateKey });
    assert.ok(a.equals(b));
    assert.ok(a.equals(c));
    // Manifest keys in another order make the same canonical manifest too.
    const reordered = Object.fromEntries(Object.entries(SAMPLE_MANIFEST).reverse());
    assert.ok(a.equals(createBundle({ manifest: reordered, files: sampleFiles(), privateKey: SIGNER.privateKey })));
  });

  it('changes when any input changes', () => {
    const a = sampleBundle();
    const files = sampleFiles();
    (files[0] as { data: Buffer }).data = Buffer.from('# web!\n');
    assert.ok(!a.equals(createBundle({ manifest: SAMPLE_MANIFEST, files, privateKey: SIGNER.privateKey })));
    assert.ok(!a.equals(createBundle({ manifest: { ...SAMPLE_MANIFEST, version: '1.2.1' }, files: sampleFiles(), privateKey: SIGNER.privateKey })));
    assert.ok(!a.equals(sampleBundle(newKey().privateKey)));
  });

  it('lays out manifest.json, manifest.sig and the payload in a sorted archive', () => {
    const entries = readTar(gunzipSync(sampleBundle()));
    assert.deepEqual(
      entries.map((e) => `${e.type === 'directory' ? 'd' : 'f'} ${e.mode.toString(8)} ${e.path}`),
      [
        'f 644 README.md',
        'f 644 empty.txt',
        'f 644 manifest.json',
        'f 644 manifest.sig',
        'f 644 plan.json',
        'd 755 scripts',
        'f 755 scripts/start.sh',
        'f 755 scripts/stop.sh',
        'd 755 templates',
        'd 755 templates/conf',
        'f 644 templates/conf/web.conf',
      ],
    );
    const sig = parseCanonicalJson(entries.find((e) => e.path === 'manifest.sig')?.data ?? Buffer.alloc(0)) as Record<string, string>;
    assert.deepEqual(Object.keys(sig), ['algorithm', 'keyId', 'publicKey', 'signature']);
    assert.equal(sig['algorithm'], 'ed25519');
    assert.equal(sig['keyId'], keyId(SIGNER.publicKey));
    assert.equal(Buffer.from(sig['publicKey'] ?? '', 'base64').length, 32);
    assert.equal(Buffer.from(sig['signature'] ?? '', 'base64').length, 64);
  });

  it('refuses bad manifests, reserved or unsafe payload names, and non-ed25519 keys', () => {
    const privateKey = SIGNER.privateKey;
    expectBundleError(() => createBundle({ manifest: { name: 'x' }, files: [], privateKey }), 'HM403', /formatVersion 1/);
    expectBundleError(() => createBundle({ manifest: { formatVersion: 2 }, files: [], privateKey }), 'HM403');
    expectBundleError(() => createBundle({ manifest: { formatVersion: 1, files: {} }, files: [], privateKey }), 'HM403', /computed/);
    expectBundleError(() => createBundle({ manifest: { formatVersion: 1, n: NaN }, files: [], privateKey }), 'HM403', /canonical JSON/);
    expectBundleError(() => createBundle({ manifest: { formatVersion: 1 }, files: [{ path: 'manifest.json', data: Buffer.alloc(0) }], privateKey }), 'HM402', /reserved/);
    expectBundleError(() => createBundle({ manifest: { formatVersion: 1 }, files: [{ path: 'Manifest.SIG', data: Buffer.alloc(0) }], privateKey }), 'HM402', /reserved/);
    expectBundleError(() => createBundle({ manifest: { formatVersion: 1 }, files: [{ path: '../x', data: Buffer.alloc(0) }], privateKey }), 'HM402');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    assert.throws(() => createBundle({ manifest: { formatVersion: 1 }, files: [], privateKey: rsa }), (e: unknown) => e instanceof KeyError && e.code === 'HM502');
    assert.throws(() => createBundle({ manifest: { formatVersion: 1 }, files: [], privateKey: SIGNER.publicKey }), (e: unknown) => e instanceof KeyError && e.code === 'HM502');
  });
});

describe('openBundle', () => {
  it('round-trips manifest and files', () => {
    const opened = openBundle(sampleBundle());
    const expected = new Map(sampleFiles().map((f) => [f.path, f.data]));
    assert.deepEqual([...opened.files.keys()].sort(), [...expected.keys()].sort());
    for (const [path, data] of expected) assert.ok(opened.files.get(path)?.equals(data), path);
    const m: Manifest = opened.manifest;
    assert.equal(m.formatVersion, 1);
    assert.equal(m['name'], 'web');
    const start = sampleFiles().find((f) => f.path === 'scripts/start.sh')?.data ?? Buffer.alloc(0);
    assert.deepEqual(m.files['scripts/start.sh'], {
      sha256: createHash('sha256').update(start).digest('hex'),
      size: start.length,
      mode: 0o755,
    });
    assert.equal(m.files['README.md']?.mode, 0o644);
    assert.equal(opened.signer.keyId, keyId(SIGNER.publicKey));
    assert.ok(opened.signer.publicKey.equals(SIGNER.publicKey));
    assert.equal(opened.signer.trusted, false);
  });

  it('handles an empty payload', () => {
    const opened = openBundle(createBundle({ manifest: { formatVersion: 1 }, files: [], privateKey: SIGNER.privateKey }));
    assert.equal(opened.files.size, 0);
    assert.deepEqual(opened.manifest, { formatVersion: 1, files: {} });
  });

  it('marks the signer trusted when its key is among the trusted keys', () => {
    const other = newKey();
    const opened = openBundle(sampleBundle(), { trustedKeys: [other.publicKey, SIGNER.publicKey] });
    assert.equal(opened.signer.trusted, true);
    // A private key object or a re-imported public key identifies the same signer.
    assert.equal(openBundle(sampleBundle(), { trustedKeys: [SIGNER.privateKey] }).signer.trusted, true);
    const pem = SIGNER.publicKey.export({ type: 'spki', format: 'pem' });
    assert.equal(openBundle(sampleBundle(), { trustedKeys: [createPublicKey(pem)] }).signer.trusted, true);
  });

  it('refuses an untrusted signer (HM407) unless told only to report it', () => {
    const other = newKey();
    const err = expectBundleError(() => openBundle(sampleBundle(), { trustedKeys: [other.publicKey], requireTrusted: true }), 'HM407');
    assert.match(err.message, new RegExp(keyId(SIGNER.publicKey)));
    // trustedKeys given: enforced by default.
    expectBundleError(() => openBundle(sampleBundle(), { trustedKeys: [other.publicKey] }), 'HM407');
    expectBundleError(() => openBundle(sampleBundle(), { trustedKeys: [] }), 'HM407');
    // requireTrusted without any trusted key: fail closed.
    expectBundleError(() => openBundle(sampleBundle(), { requireTrusted: true }), 'HM407');
    const reported = openBundle(sampleBundle(), { trustedKeys: [other.publicKey], requireTrusted: false });
    assert.equal(reported.signer.trusted, false);
  });

  it('names the bundle in diagnostics', () => {
    const err = expectBundleError(() => openBundle(Buffer.from('nope'), { source: 'dist/web-1.2.0.hamod' }), 'HM401');
    assert.equal(err.diagnostic.file, 'dist/web-1.2.0.hamod');
    assert.equal(err.diagnostic.url, 'docs/errors.md#hm401');
    assert.equal(err.message, 'dist/web-1.2.0.hamod:1:1 HM401 the bundle is not gzip data');
    const def = expectBundleError(() => openBundle(Buffer.alloc(0)), 'HM401');
    assert.equal(def.diagnostic.file, 'bundle');
  });
});
