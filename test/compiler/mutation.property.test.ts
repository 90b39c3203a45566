// Property: any mutation of a valid module yields diagnostics (or a module), never a crash, and
// every diagnostic has a known code and a real position. Seeded by fast-check; the seed is printed
// on failure so the case can be replayed.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { CODES } from '../../compiler/codes.js';
import { compileModule } from '../../compiler/compile-module.js';
import { PACKAGE_ROOT } from '../../compiler/validate/schema-file.js';
import { MINIMAL_MIRROR, moduleDir } from '../helpers/module-fixture.js';

const SOURCES = [MINIMAL_MIRROR, ...['mirror', 'farm', 'postgresql'].map((m) => readFileSync(join(PACKAGE_ROOT, 'modules', m, 'module.yaml'), 'utf8'))];

function check(dir: string, text: string): void {
  writeFileSync(join(dir, 'module.yaml'), text);
  const r = compileModule(dir, '0');
  const lines = text.split('\n').length + 1;
  for (const d of r.diagnostics) {
    assert.ok(d.code in CODES, `known code ${d.code}`);
    assert.ok(d.message.length > 0);
    assert.ok(d.file.length > 0);
    assert.ok(Number.isInteger(d.start.line) && d.start.line >= 1, `line of ${d.code} ${d.message}`);
    assert.ok(Number.isInteger(d.start.column) && d.start.column >= 1, `column of ${d.code}`);
    if (d.file === 'module.yaml') assert.ok(d.start.line <= lines, `line ${d.start.line} within the file (${lines})`);
  }
  if (!r.module) assert.ok(r.diagnostics.some((d) => d.severity === 'error'), 'a failed build says why');
}

const SPECIAL = fc.constantFrom(':', '-', '[', ']', '{', '}', '&a', '*a', '!!', '#', '"', "'", '\t', '\n', '  ', '{{', '}}', '|', '>', '?', '%', '@', '\u0000', '\ufeff', 'é', '💥');

const textMutation = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), s: fc.oneof(SPECIAL, fc.string({ maxLength: 12 })) }),
  fc.record({ kind: fc.constant('dupline' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swaplines' as const), a: fc.nat(), b: fc.nat() }),
);

type TextMutation = { kind: 'delete'; at: number; len: number } | { kind: 'insert'; at: number; s: string } | { kind: 'dupline'; at: number } | { kind: 'swaplines'; a: number; b: number };

function applyText(src: string, m: TextMutation): string {
  switch (m.kind) {
    case 'delete': { const at = m.at % (src.length + 1); return src.slice(0, at) + src.slice(at + m.len); }
    case 'insert': { const at = m.at % (src.length + 1); return src.slice(0, at) + m.s + src.slice(at); }
    case 'dupline': { const ls = src.split('\n'); const i = m.at % ls.length; ls.splice(i, 0, ls[i]!); return ls.join('\n'); }
    case 'swaplines': { const ls = src.split('\n'); const i = m.a % ls.length; const j = m.b % ls.length; [ls[i], ls[j]] = [ls[j]!, ls[i]!]; return ls.join('\n'); }
  }
}

test('text mutations of valid modules never crash and are always located', (t) => {
  const dir = moduleDir(t, {});
  fc.assert(fc.property(fc.nat(SOURCES.length - 1), fc.array(textMutation, { minLength: 1, maxLength: 4 }), (i, ms) => {
    check(dir, ms.reduce(applyText, SOURCES[i]!));
  }), { numRuns: 400 });
});

const value = fc.oneof(
  fc.constant(null), fc.boolean(), fc.integer(), fc.double(), fc.string({ maxLength: 20 }),
  fc.constantFrom('{{params.vip}}', '{{params.nope}}', '1.2.3.4', '999.1.1.1', '10ms', '-1', 'mirror', 'farm', 'restart', '/var/lib/x', '../x', '', 'scripts/run.sh'),
  fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 5 })), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.integer(), fc.string({ maxLength: 5 })), { maxKeys: 3 }),
);

function paths(v: unknown, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...prefix, k], out);
  return out;
}

test('structural mutations (a value replaced, a key removed or added) never crash', (t) => {
  const dir = moduleDir(t, {});
  fc.assert(fc.property(fc.nat(SOURCES.length - 1), fc.nat(), value, fc.constantFrom('set', 'delete', 'addkey'), fc.string({ minLength: 1, maxLength: 10 }), (i, pick, v, op, key) => {
    const obj = parse(SOURCES[i]!) as Record<string, unknown>;
    const all = paths(obj).filter((p) => p.length > 0);
    const p = all[pick % all.length]!;
    const parent = p.slice(0, -1).reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], obj) as Record<string | number, unknown>;
    const last = p[p.length - 1]!;
    if (op === 'set') parent[last] = v;
    else if (op === 'delete') { if (Array.isArray(parent)) parent.splice(Number(last), 1); else delete parent[last]; }
    else if (!Array.isArray(parent)) parent[key] = v;
    check(dir, stringify(obj));
  }), { numRuns: 400 });
});
