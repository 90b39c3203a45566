// Runs rendered scripts with /bin/sh and /bin/bash and proves that parameter values (supplied at
// install time through HAMOD_PARAM_* variables) and module constants (inlined with shQuote) stay
// inert data: the script sees exactly the value, byte for byte, and nothing else happens.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { renderTemplate, type RenderTemplateOptions } from '../../compiler/render/template.js';
import { CANARY_DIR, CANARY_FILE, makeSandbox, runScript, SHELLS, type Sandbox } from './shell-harness.js';

const MODULE = { name: 'web', version: '1.2.3', mode: 'farm' } as const;
const OPTS: RenderTemplateOptions = {
  file: 'scripts/probe.sh.hbs',
  params: [{ name: 'value', type: 'string' }],
  module: MODULE,
};

function render(source: string, opts: RenderTemplateOptions = OPTS): string {
  const r = renderTemplate(source, opts);
  assert.deepEqual(
    r.diagnostics.filter((d) => d.severity === 'error'),
    [],
    `unexpected errors for ${JSON.stringify(source)}`,
  );
  return r.output;
}

/** The script variants: each writes what it received to its own output file. */
const VARIANTS: Record<string, string> = {
  // the value as a command argument
  argument: "printf '%s' {{params.value}} > out.arg\n",
  // assigned to a variable, then used (double-quoted, as scripts should)
  assignment: "v={{params.value}}\nprintf '%s' \"$v\" > out.var\n",
  // as positional parameters: must stay exactly one word (no splitting, no globbing)
  words: 'set -- {{params.value}}\nprintf \'%s\' "$#" > out.count\nprintf \'%s\' "$1" > out.word\n',
};
const OUTPUTS = ['out.arg', 'out.var', 'out.count', 'out.word'];
const EXPECTED_ENTRIES = [CANARY_DIR, ...OUTPUTS].sort();

const SCRIPT_SOURCE = `#!/bin/sh\nset -eu\n${Object.values(VARIANTS).join('')}`;

let sb: Sandbox;
let script: string;

before(() => {
  sb = makeSandbox();
  script = render(SCRIPT_SOURCE);
});
after(() => sb.cleanup());

function assertInert(value: string, shell: (typeof SHELLS)[number], label: string): void {
  const r = runScript(sb, shell, script, { HAMOD_PARAM_VALUE: value }, OUTPUTS);
  const what = `${label} with ${shell}`;
  assert.equal(r.status, 0, `${what}: exit status (stderr: ${r.stderr})`);
  assert.equal(r.stderr, '', `${what}: stderr`);
  const expected = Buffer.from(value, 'utf8');
  assert.ok(r.outputs['out.arg']?.equals(expected), `${what}: argument differs`);
  assert.ok(r.outputs['out.var']?.equals(expected), `${what}: assignment differs`);
  assert.equal(r.outputs['out.count']?.toString('utf8'), '1', `${what}: not exactly one word`);
  assert.ok(r.outputs['out.word']?.equals(expected), `${what}: positional parameter differs`);
  assert.ok(r.canaryIntact, `${what}: canary directory was removed`);
  assert.deepEqual(r.entries, EXPECTED_ENTRIES, `${what}: unexpected files (e.g. ${CANARY_FILE}) in the working directory`);
}

describe('parameter values stay inert data when the script runs', () => {
  it('renders the parameter as a quoted expansion, never as the value', () => {
    assert.equal(render('printf %s {{params.value}}'), 'printf %s "${HAMOD_PARAM_VALUE}"');
    assert.equal(render('printf %s {{{params.value}}}'), 'printf %s "${HAMOD_PARAM_VALUE}"');
  });

  const hostile: Array<[string, () => string]> = [
    ['command separator + rm -rf', () => `x; rm -rf ${sb.canaryDir}`],
    ['rm -rf of /tmp/CANARYDIR', () => 'x; rm -rf /tmp/CANARYDIR'],
    ['command substitution', () => `$(touch ${CANARY_FILE})`],
    ['backquote substitution', () => `\`touch ${CANARY_FILE}\``],
    ['&& chain', () => `a && touch ${CANARY_FILE}`],
    ['pipe', () => `a | touch ${CANARY_FILE}`],
    ['redirection', () => `> ${CANARY_FILE}`],
    ['newline + command', () => `a\ntouch ${CANARY_FILE}`],
    ['newline', () => 'a\nb'],
    ['CR LF', () => 'a\r\nb\r'],
    ['single quote', () => "'"],
    ["quote breakout '", () => `'; touch ${CANARY_FILE}; '`],
    ['double quote', () => '"'],
    ['quote breakout "', () => `"; touch ${CANARY_FILE}; "`],
    ['backslash', () => '\\'],
    ['trailing backslash', () => 'abc\\'],
    ['$HOME', () => '$HOME'],
    ['${HOME}', () => '${HOME}'],
    ['arithmetic', () => '$((1+1))'],
    ['glob *', () => '*'],
    ['glob ?', () => '?'],
    ['glob [C]*', () => '[C]*'],
    ['brace expansion', () => '{a,b}'],
    ['tilde', () => '~'],
    ['-n', () => '-n'],
    ['-e', () => '-e'],
    ['--', () => '--'],
    ['empty', () => ''],
    ['spaces only', () => '   '],
    ['leading/trailing spaces', () => '  a  b  '],
    ['tabs', () => '\ta\tb\t'],
    ['history !', () => '!!'],
    ['comment #', () => `# ${CANARY_FILE}`],
    ['percent (printf format)', () => '%s%d%n%%'],
    ['unicode', () => 'é ü 日本語 🙂 \u200b \u202e rtl'],
    ['control characters', () => '\x01\x07\x1b[31m\x7f'],
    ['64 KiB', () => 'x'.repeat(64 * 1024)],
    ['64 KiB hostile', () => `$(touch ${CANARY_FILE});'"\\ *\n`.repeat(4096).slice(0, 64 * 1024)],
  ];

  for (const shell of SHELLS) {
    for (const [label, value] of hostile) {
      it(`${shell}: ${label}`, () => {
        assertInert(value(), shell, label);
      });
    }
  }

  it('property: any string without NUL arrives byte for byte and does nothing else (sh and bash)', () => {
    const special = fc.constantFrom(
      '$', '`', "'", '"', '\\', ';', '&', '|', '(', ')', '{', '}', '<', '>', '*', '?', '[', ']',
      '~', '#', '!', ' ', '\t', '\n', '\r', '=', '%', '-', 'touch CANARY', '$(', '${', 'é', '🙂',
    );
    const value = fc
      .oneof(
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.string({ unit: special, maxLength: 30 }),
        fc.string({ unit: fc.oneof(special, fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 3 })), maxLength: 30 }),
      )
      .filter((s) => !s.includes('\0'));
    fc.assert(
      fc.property(value, fc.constantFrom(...SHELLS), (v, shell) => {
        assertInert(v, shell, JSON.stringify(v));
      }),
      { numRuns: 300 },
    );
  });
});

describe('why references inside double quotes get HM319', () => {
  it('"x{{params.value}}" leaves the expansion unquoted: the value is split and globbed', () => {
    const r = renderTemplate('set -- "x{{params.value}}"\nprintf \'%s\' "$#" > out.count\n', OPTS);
    assert.deepEqual(r.diagnostics.map((d) => d.code), ['HM319']);
    const run = runScript(sb, '/bin/sh', r.output, { HAMOD_PARAM_VALUE: 'a b *' }, ['out.count']);
    assert.notEqual(run.outputs['out.count']?.toString(), '1');
    // The documented form is one word whatever the value.
    const ok = render('set -- x{{params.value}}\nprintf \'%s\' "$#" > out.count\n');
    assert.equal(runScript(sb, '/bin/sh', ok, { HAMOD_PARAM_VALUE: 'a b *' }, ['out.count']).outputs['out.count']?.toString(), '1');
  });
});

describe('module constants are inlined as inert literals', () => {
  const src = "printf '%s' {{module.name}} > out.arg\nv={{module.version}}\nprintf '%s' \"$v\" > out.var\n";

  it('renders module constants with shQuote', () => {
    assert.equal(render('{{module.name}} {{module.version}} {{module.mode}}'), "'web' '1.2.3' 'farm'");
    const r = renderTemplate('{{module.name}}', { ...OPTS, module: { name: "it's", version: '1', mode: 'mirror' } });
    assert.equal(r.output, "'it'\\''s'");
  });

  it('property: arbitrary module name/version strings round-trip through sh and bash', () => {
    const str = fc
      .oneof(
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.string({ unit: fc.constantFrom("'", '"', '\\', '$', '`', ';', '\n', ' ', '*', 'a', '$(touch CANARY)'), maxLength: 20 }),
      )
      .filter((s) => !s.includes('\0'));
    fc.assert(
      fc.property(str, str, fc.constantFrom(...SHELLS), (name, version, shell) => {
        const script = render(src, { ...OPTS, module: { name, version, mode: 'mirror' } });
        const r = runScript(sb, shell, script, {}, ['out.arg', 'out.var']);
        assert.equal(r.status, 0, r.stderr);
        assert.ok(r.outputs['out.arg']?.equals(Buffer.from(name, 'utf8')), 'name differs');
        assert.ok(r.outputs['out.var']?.equals(Buffer.from(version, 'utf8')), 'version differs');
        assert.ok(r.canaryIntact);
        assert.deepEqual(r.entries, [CANARY_DIR, 'out.arg', 'out.var']);
      }),
      { numRuns: 100 },
    );
  });
});
