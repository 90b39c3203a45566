import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { paramEnvName, paramReference, shQuote } from '../../compiler/render/shell-quote.js';
import { quotingAt } from '../../compiler/render/shell-context.js';
import { closest, levenshtein } from '../../compiler/util/suggest.js';
import { SHELLS } from './shell-harness.js';

describe('shQuote', () => {
  it('quotes with single quotes', () => {
    assert.equal(shQuote(''), "''");
    assert.equal(shQuote('abc'), "'abc'");
    assert.equal(shQuote("'"), `''\\'''`);
    assert.equal(shQuote("it's"), `'it'\\''s'`);
    assert.equal(shQuote('a b\n$x`y`"z"\\'), `'a b\n$x\`y\`"z"\\'`);
  });

  it('rejects NUL', () => {
    assert.throws(() => shQuote('a\0b'), /NUL/);
    assert.throws(() => shQuote('\0'), /NUL/);
  });

  it('property: the result is one shell word expanding to exactly the input (sh -c and bash -c)', () => {
    const str = fc
      .oneof(
        fc.string({ unit: 'binary', maxLength: 60 }),
        fc.string({ unit: fc.constantFrom("'", '"', '\\', '$', '`', ';', '\n', ' ', '\t', '*', '?', '~', '#', '!', '-n', 'a', '$(touch CANARY)', "'\\''"), maxLength: 30 }),
      )
      .filter((s) => !s.includes('\0'));
    fc.assert(
      fc.property(str, fc.constantFrom(...SHELLS), (s, shell) => {
        // printf %s 'word' prints the word; $# proves it stayed one word.
        const cmd = `set -- ${shQuote(s)}; printf '%s|' "$#"; printf %s ${shQuote(s)}`;
        const r = spawnSync(shell, ['-c', cmd], { env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' }, cwd: '/' });
        assert.equal(r.status, 0, r.stderr.toString());
        assert.ok(r.stdout.equals(Buffer.concat([Buffer.from('1|'), Buffer.from(s, 'utf8')])), `round trip of ${JSON.stringify(s)}`);
      }),
      { numRuns: 200 },
    );
  });
});

describe('paramEnvName / paramReference', () => {
  it('maps names to HAMOD_PARAM_<NAME>', () => {
    assert.equal(paramEnvName('port'), 'HAMOD_PARAM_PORT');
    assert.equal(paramEnvName('db_host2'), 'HAMOD_PARAM_DB_HOST2');
    assert.equal(paramReference('port'), '"${HAMOD_PARAM_PORT}"');
  });

  it('rejects names outside ^[a-z][a-z0-9_]*$', () => {
    for (const bad of ['', 'Port', '1a', '_a', 'a-b', 'a b', 'a.b', 'a$', 'é', 'a\n', '__proto__']) {
      assert.throws(() => paramEnvName(bad), /invalid parameter name/, JSON.stringify(bad));
    }
  });

  it('property: valid names give distinct, valid variable names', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z][a-z0-9_]{0,20}$/), fc.stringMatching(/^[a-z][a-z0-9_]{0,20}$/), (a, b) => {
        assert.match(paramEnvName(a), /^HAMOD_PARAM_[A-Z][A-Z0-9_]*$/);
        assert.equal(paramEnvName(a) === paramEnvName(b), a === b);
      }),
    );
  });
});

describe('quotingAt (HM319 heuristic)', () => {
  const cases: Array<[string, ReturnType<typeof quotingAt>]> = [
    ['echo ', 'unquoted'],
    ["echo '", 'single'],
    ["echo 'a' ", 'unquoted'],
    ['echo "', 'double'],
    ['echo "a" ', 'unquoted'],
    [`echo "it's `, 'double'],
    [`echo 'say "`, 'single'],
    ["echo \\' ", 'unquoted'],
    ['echo \\', 'escaped'],
    ['echo \\\\', 'unquoted'],
    ['x="$(cmd ', 'unquoted'],
    ['x="$(cmd ")" "', 'double'],
    ['x=`cmd ', 'unquoted'],
    ['x="`cmd ', 'unquoted'],
    ['${A:-', 'unquoted'],
    ["$'a\\'", 'single'],
    ["$'a\\'' ", 'unquoted'],
    ["# don't ", 'comment'],
    ["echo a # it's ", 'comment'],
    ['echo a#b ', 'unquoted'],
    ['echo $# ', 'unquoted'],
  ];
  for (const [prefix, expected] of cases) {
    it(`${JSON.stringify(prefix)} -> ${expected}`, () => {
      assert.equal(quotingAt(prefix), expected);
    });
  }
});

describe('suggestions', () => {
  it('levenshtein', () => {
    assert.equal(levenshtein('', 'abc'), 3);
    assert.equal(levenshtein('prot', 'port'), 2);
    assert.equal(levenshtein('kitten', 'sitting'), 3);
  });
  it('closest', () => {
    assert.equal(closest('prot', ['host', 'port']), 'port');
    assert.equal(closest('Port', ['host', 'port']), 'port');
    assert.equal(closest('zzzzzz', ['host', 'port']), undefined);
    assert.equal(closest('a', ['b']), undefined);
  });
});
