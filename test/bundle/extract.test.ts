import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { extractBundleSafely } from '../../compiler/bundle/bundle.js';
import { SIGNER, expectBundleErrorAsync, newKey, sampleBundle, sampleFiles, tamper } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'hamod-extract-'));
after(() => rmSync(root, { recursive: true, force: true }));

function tree(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((d) => (d.isDirectory() ? [`${prefix}${d.name}/`, ...tree(join(dir, d.name), `${prefix}${d.name}/`)] : [`${prefix}${d.name}`]))
    .sort();
}

describe('extractBundleSafely', () => {
  it('creates the destination with exactly the payload, modes 0644/0755', async () => {
    const dest = join(root, 'web');
    const result = await extractBundleSafely(sampleBundle(), dest, { trustedKeys: [SIGNER.publicKey] });
    assert.equal(result.dir, dest);
    assert.equal(result.signer.trusted, true);
    assert.deepEqual(tree(dest), ['README.md', 'empty.txt', 'plan.json', 'scripts/', 'scripts/start.sh', 'scripts/stop.sh', 'templates/', 'templates/conf/', 'templates/conf/web.conf']);
    for (const f of sampleFiles()) {
      assert.ok(readFileSync(join(dest, f.path)).equals(f.data), f.path);
      assert.equal(statSync(join(dest, f.path)).mode & 0o7777, f.executable ? 0o755 : 0o644, f.path);
    }
    for (const d of ['', 'scripts', 'templates', 'templates/conf']) assert.equal(statSync(join(dest, d)).mode & 0o7777, 0o755, d);
    assert.deepEqual(readdirSync(root), ['web']); // no temporary directory left behind
  });

  it('refuses an existing destination (HM506), even an empty directory', async () => {
    const dest = join(root, 'exists');
    mkdirSync(dest);
    await expectBundleErrorAsync(() => extractBundleSafely(sampleBundle(), dest), 'HM506', /already exists/);
    assert.deepEqual(readdirSync(dest), []);
    assert.ok(!readdirSync(root).some((n) => n.includes('.tmp-')));
  });

  it('writes nothing for a bundle that does not verify', async () => {
    const dest = join(root, 'bad');
    const bad = tamper(sampleBundle(), (files) => files.map((f) => (f.path === 'plan.json' ? { ...f, data: Buffer.from('{}') } : f)));
    await expectBundleErrorAsync(() => extractBundleSafely(bad, dest), 'HM404');
    await expectBundleErrorAsync(() => extractBundleSafely(sampleBundle(), dest, { trustedKeys: [newKey().publicKey] }), 'HM407');
    assert.ok(!readdirSync(root).some((n) => n.startsWith('bad') || n.startsWith('.bad')));
  });

  it('reports a destination whose parent does not exist (HM506)', async () => {
    await expectBundleErrorAsync(() => extractBundleSafely(sampleBundle(), join(root, 'missing', 'web')), 'HM506', /temporary directory/);
  });
});
