// Golden files: the compiled plan of each library module, byte for byte. A change to the compiler's
// output shows up here as a diff to review; regenerate with UPDATE_GOLDEN=1 npm test.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { canonicalJson } from '../../compiler/bundle/canonical-json.js';
import { compileModule } from '../../compiler/compile-module.js';
import { PACKAGE_ROOT } from '../../compiler/validate/schema-file.js';

for (const m of ['mirror', 'farm', 'postgresql']) {
  test(`compiled plan of modules/${m} matches test/golden/${m}.plan.json`, () => {
    const r = compileModule(join(PACKAGE_ROOT, 'modules', m), '0.0.0-golden');
    assert.ok(r.module);
    const text = JSON.stringify(JSON.parse(canonicalJson(r.module.plan)), null, 2) + '\n';
    const file = join(PACKAGE_ROOT, 'test/golden', `${m}.plan.json`);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, text);
    assert.equal(text, readFileSync(file, 'utf8'));
  });
}
