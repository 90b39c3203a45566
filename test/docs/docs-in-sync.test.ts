// The error-code table and the module reference are generated; these tests fail when code and docs
// drift, when a code is used but not listed, or listed but never used (fastify's errors test).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CODE_LIST, CODES } from '../../compiler/codes.js';
import { errorsMarkdown } from '../../compiler/docs/errors-doc.js';
import { referenceMarkdown } from '../../compiler/docs/reference-doc.js';
import { moduleSchema, PACKAGE_ROOT } from '../../compiler/validate/schema-file.js';

const read = (p: string) => readFileSync(join(PACKAGE_ROOT, p), 'utf8');

test('docs/errors.md is generated from the code list (run `npm run docs`)', () => {
  assert.equal(read('docs/errors.md'), errorsMarkdown());
});

test('docs/module-reference.md is generated from the schema (run `npm run docs`)', () => {
  assert.equal(read('docs/module-reference.md'), referenceMarkdown(moduleSchema()));
});

test('every code has an anchor and a description in docs/errors.md', () => {
  const doc = read('docs/errors.md');
  for (const code of CODE_LIST) {
    assert.ok(doc.includes(`<a id="${code.toLowerCase()}"></a>${code}`), code);
    assert.ok(CODES[code].doc.length > 20, `${code} is explained`);
  }
});

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

test('the code list is closed: every code used in the source is listed, every listed code is used', () => {
  const used = new Set<string>();
  for (const dir of ['compiler', 'cli', 'catalog', 'runtime']) {
    let files: string[] = [];
    try { files = sources(join(PACKAGE_ROOT, dir)); } catch { continue; }
    for (const f of files) {
      if (f.endsWith('codes.ts')) continue;
      for (const m of readFileSync(f, 'utf8').matchAll(/'(HM\d{3})'/g)) used.add(m[1]!);
    }
  }
  for (const c of used) assert.ok(c in CODES, `${c} is used but not in codes.ts`);
  for (const c of CODE_LIST) assert.ok(used.has(c), `${c} is listed but never used`);
});

test('every field of the schema has a description or is self-explanatory in the reference', () => {
  const ref = read('docs/module-reference.md');
  for (const section of ['### services[]', '### checkers[]', '### replication', '### loadBalancing', '### parameters.*']) {
    assert.ok(ref.includes(section), section);
  }
});
