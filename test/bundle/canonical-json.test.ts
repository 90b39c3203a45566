import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CanonicalJsonError, MAX_DEPTH, canonicalJson, canonicalJsonBytes, parseCanonicalJson } from '../../compiler/bundle/canonical-json.js';

describe('canonicalJson', () => {
  it('sorts keys recursively and writes no whitespace', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [3, { z: null, y: true }], c: 'x' } }), '{"a":{"c":"x","d":[3,{"y":true,"z":null}]},"b":1}');
  });

  it('sorts keys by UTF-16 code units, not by locale', () => {
    assert.equal(canonicalJson({ é: 1, z: 2, Z: 3, '\u{1F600}': 4, '\uFB01': 5 }), '{"Z":3,"z":2,"é":1,"\u{1F600}":4,"\uFB01":5}');
  });

  it('writes numbers and strings the way JSON.stringify does', () => {
    assert.equal(canonicalJson([1e21, 0.1, -0, 1.5e-7, 'a"\\\n\u0001é']), '[1e+21,0.1,0,1.5e-7,"a\\"\\\\\\n\\u0001é"]');
  });

  it('refuses values JSON cannot represent exactly', () => {
    const bad: unknown[] = [
      NaN,
      Infinity,
      -Infinity,
      undefined,
      { a: undefined },
      [undefined],
      () => 1,
      Symbol('s'),
      10n,
      new Date(0),
      new Map(),
      '\ud800',
      { '\udc00': 1 },
      // eslint-disable-next-line no-sparse-arrays
      [1, , 2],
    ];
    for (const v of bad) assert.throws(() => canonicalJson(v), CanonicalJsonError, String(typeof v));
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    assert.throws(() => canonicalJson(cyclic), /circular/);
    let deep: unknown = 1;
    for (let i = 0; i < MAX_DEPTH + 1; i++) deep = [deep];
    assert.throws(() => canonicalJson(deep), /deeper than/);
  });

  it('accepts a repeated (non-circular) reference and null-prototype objects', () => {
    const shared = { x: 1 };
    const bare = Object.create(null) as Record<string, unknown>;
    bare['k'] = shared;
    assert.equal(canonicalJson({ a: shared, b: shared, c: bare }), '{"a":{"x":1},"b":{"x":1},"c":{"k":{"x":1}}}');
  });

  it('keeps "__proto__" as an ordinary key', () => {
    const v = JSON.parse('{"__proto__":{"polluted":true},"a":1}') as unknown;
    const bytes = canonicalJsonBytes(v);
    assert.equal(bytes.toString(), '{"__proto__":{"polluted":true},"a":1}');
    assert.deepEqual(parseCanonicalJson(bytes), v);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });
});

describe('parseCanonicalJson', () => {
  const ok = (s: string): unknown => parseCanonicalJson(Buffer.from(s));

  it('parses canonical bytes', () => {
    assert.deepEqual(ok('{"a":[1,"x",null],"b":false}'), { a: [1, 'x', null], b: false });
  });

  it('refuses anything that is not exactly canonical', () => {
    const notCanonical = [
      '{"b":1,"a":2}', // unsorted
      '{"a": 1}', // whitespace
      '{"a":1}\n', // trailing newline
      '{"a":1,"a":1}', // duplicate key
      '{"a":1.0}', // non-shortest number
      '{"a":1E3}',
      '{"a":"\\u0041"}', // unnecessary escape
      '{"a":"\\/"}',
    ];
    for (const s of notCanonical) assert.throws(() => ok(s), /canonical form/, s);
    assert.throws(() => ok('{"a":'), /not valid JSON/);
    assert.throws(() => parseCanonicalJson(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{}')])), CanonicalJsonError);
    assert.throws(() => parseCanonicalJson(Buffer.from([0x22, 0xff, 0x22])), /not valid UTF-8/);
    assert.throws(() => ok('['.repeat(100000) + ']'.repeat(100000)), CanonicalJsonError);
  });

  it('round-trips any JSON value and is idempotent (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const bytes = canonicalJsonBytes(v);
        const parsed = parseCanonicalJson(bytes);
        assert.ok(canonicalJsonBytes(parsed).equals(bytes));
        // JSON cannot tell -0 from 0: compare through a second encoding.
        assert.deepEqual(parsed, JSON.parse(bytes.toString()));
      }),
      { numRuns: 300 },
    );
  });

  it('never throws anything but CanonicalJsonError on arbitrary bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          parseCanonicalJson(bytes);
        } catch (err) {
          assert.ok(err instanceof CanonicalJsonError);
        }
      }),
    );
  });
});
