import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileModule } from '../../compiler/compile-module.js';
import { PACKAGE_ROOT } from '../../compiler/validate/schema-file.js';

const modules = readdirSync(join(PACKAGE_ROOT, 'modules'));

test('the module library is not empty and holds the generic mirror and farm modules', () => {
  assert.ok(modules.includes('mirror'));
  assert.ok(modules.includes('farm'));
  assert.ok(modules.length >= 3, 'and at least one real application');
});

for (const m of modules) {
  test(`modules/${m} compiles with no diagnostic at all`, () => {
    const r = compileModule(join(PACKAGE_ROOT, 'modules', m), '0.0.0-test');
    assert.deepEqual(r.diagnostics, []);
    assert.ok(r.module);
    assert.equal(r.module.plan.module.name, m);
    // Every script the plan runs is in the bundle payload, rendered, with the plan's digest.
    for (const s of r.module.plan.services) {
      for (const k of ['run', 'start', 'stop'] as const) {
        const ref = s[k];
        if (!ref) continue;
        const f = r.module.files.find((x) => x.path === ref.path);
        assert.ok(f, `${ref.path} is in the bundle`);
        assert.ok(f.executable);
        assert.doesNotMatch(f.data.toString(), /\{\{/, 'no template syntax is left');
      }
    }
  });
}
