import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import Handlebars from 'handlebars';
import type { Diagnostic } from '../../compiler/diagnostics.js';
import { paramReference, shQuote } from '../../compiler/render/shell-quote.js';
import { MAX_NESTING, renderTemplate, type RenderTemplateOptions } from '../../compiler/render/template.js';

const FILE = 'scripts/start.sh.hbs';
const OPTS: RenderTemplateOptions = {
  file: FILE,
  params: [
    { name: 'port', type: 'port' },
    { name: 'host', type: 'string' },
    { name: 'data_dir', type: 'path' },
  ],
  module: { name: 'web', version: '1.2.3', mode: 'mirror' },
};

const render = (source: string, opts: RenderTemplateOptions = OPTS) => renderTemplate(source, opts);
const at = (d: Diagnostic) => `${d.code}@${d.start.line}:${d.start.column}`;
const errors = (source: string) => render(source).diagnostics.filter((d) => d.severity === 'error');

describe('renderTemplate: rendering', () => {
  it('substitutes parameters and module constants, keeps everything else byte for byte', () => {
    const src = '#!/bin/sh\n# {{! a comment }}\nexec /usr/bin/web --port {{params.port}} --host {{{params.host}}} \\\n  --dir {{params.data_dir}} --name {{module.name}}-{{module.version}} --mode {{module.mode}}\n';
    const r = render(src);
    assert.deepEqual(r.diagnostics, []);
    assert.equal(
      r.output,
      '#!/bin/sh\n# \nexec /usr/bin/web --port "${HAMOD_PARAM_PORT}" --host "${HAMOD_PARAM_HOST}" \\\n' +
        "  --dir \"${HAMOD_PARAM_DATA_DIR}\" --name 'web'-'1.2.3' --mode 'mirror'\n",
    );
    assert.deepEqual(r.usedParams, ['data_dir', 'host', 'port']);
  });

  it('usedParams is sorted and without duplicates; unused parameters are not listed', () => {
    assert.deepEqual(render('{{params.port}} {{params.host}} {{params.port}}').usedParams, ['host', 'port']);
    assert.deepEqual(render('echo hi').usedParams, []);
  });

  it('supports whitespace control, standalone comments, escapes and CRLF like Handlebars', () => {
    assert.equal(render('a   {{~params.port~}}   b').output, `a${paramReference('port')}b`);
    assert.equal(render('a\n  {{! standalone }}  \nb').output, 'a\nb');
    assert.equal(render('\\{{params.port}} {{params.port}}').output, `{{params.port}} ${paramReference('port')}`);
    assert.equal(render('a\r\n{{params.port}}\r\n').output, `a\r\n${paramReference('port')}\r\n`);
    assert.equal(render('').output, '');
  });

  it('is deterministic: identical input gives identical output and diagnostics', () => {
    const srcs = [
      '#!/bin/sh\necho {{params.port}} {{module.name}}\n',
      "{{#if x}}{{params.prot}}{{/if}} '{{params.port}}' {{> p}}",
      '{{#if',
    ];
    for (const src of srcs) {
      const a = render(src);
      const b = render(src);
      assert.deepEqual(b, a);
      assert.equal(JSON.stringify(b), JSON.stringify(a));
    }
  });

  it('property: output equals an isolated Handlebars.compile (strict, knownHelpersOnly, noEscape)', () => {
    const env = Handlebars.create();
    const context = {
      params: Object.fromEntries(OPTS.params.map((p) => [p.name, paramReference(p.name)])),
      module: { name: shQuote(OPTS.module.name), version: shQuote(OPTS.module.version), mode: shQuote(OPTS.module.mode) },
    };
    const fragment = fc.constantFrom(
      '{{params.port}}', '{{{params.host}}}', '{{ params.data_dir }}', '{{~params.port}}', '{{params.port~}}',
      '{{~module.name~}}', '{{&module.version}}', '{{module.mode}}', '{{! comment }}', '{{!-- long }} comment --}}',
      '{{~! strip comment ~}}', '\\{{params.port}}', 'text', ' ', '  ', '\t', '\n', '\r\n', 'echo "$x" ', "'q' ",
      '$(', ')', '#', '\\', '}', 'é🙂',
    );
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 25 }), (parts) => {
        const src = parts.join('');
        const r = render(src);
        fc.pre(!r.diagnostics.some((d) => d.severity === 'error'));
        const expected = env.compile(src, { strict: true, knownHelpersOnly: true, noEscape: true })(context);
        assert.equal(r.output, expected, JSON.stringify(src));
      }),
      { numRuns: 500 },
    );
  });
});

describe('renderTemplate: disallowed constructs give located HM314 diagnostics', () => {
  // [template, expected code@line:column of each diagnostic, in order]
  const cases: Array<[string, string[]]> = [
    ['{{#if params.port}}x{{/if}}', ['HM314@1:1']],
    ['a\n  {{#each items}}{{this}}{{/each}}', ['HM314@2:3', 'HM314@2:18']],
    ['{{^params.port}}none{{/params.port}}', ['HM314@1:1']],
    ['{{#with module}}{{name}}{{/with}}', ['HM314@1:1', 'HM304@1:17']],
    ['x {{#if a}}1{{else if b}}2{{else}}3{{/if}}', ['HM314@1:3', 'HM314@1:13']],
    ['{{{{raw}}}} {{params.port}} {{{{/raw}}}}', ['HM314@1:1']],
    ['\n\n    {{> other}}', ['HM314@3:5']],
    ['{{> (lookup . "x")}}', ['HM314@1:1', 'HM314@1:5']],
    ['{{#> layout}}body{{/layout}}', ['HM314@1:1']],
    ['{{* decorator}}', ['HM314@1:1']],
    ['{{#* inline "p"}}x{{/inline}}', ['HM314@1:1']],
    ['echo {{lookup params "port"}}', ['HM314@1:6']],
    ['echo {{params.port x=1}}', ['HM314@1:6']],
    ['{{foo (bar (baz 1)) k=(q)}}', ['HM314@1:1', 'HM314@1:7', 'HM314@1:12', 'HM314@1:23']],
    ['{{this}}', ['HM314@1:1']],
    ['{{.}}', ['HM314@1:1']],
    ['{{this.params.port}}', ['HM314@1:1']],
    ['{{./params.port}}', ['HM314@1:1']],
    ['{{../params.port}}', ['HM314@1:1']],
    ['{{@root.params.port}}', ['HM314@1:1']],
    ['{{@index}}', ['HM314@1:1']],
    ['{{params/port}}', ['HM314@1:1']],
    ['{{[params.port]}}', ['HM314@1:1']],
    ['{{"literal"}} {{1}} {{true}} {{null}} {{undefined}}', ['HM314@1:1', 'HM314@1:15', 'HM314@1:21', 'HM314@1:30', 'HM314@1:39']],
    ['é🙂 {{> p}}', ['HM314@1:5']], // columns count UTF-16 code units, like Handlebars
    ['a\r\nb\r\n  {{> p}}', ['HM314@3:3']],
  ];
  for (const [src, expected] of cases) {
    it(JSON.stringify(src), () => {
      const r = render(src);
      assert.deepEqual(r.diagnostics.map(at), expected);
      assert.equal(r.output, '', 'no output when there are errors');
      for (const d of r.diagnostics) {
        assert.equal(d.file, FILE);
        assert.equal(d.severity, 'error');
        assert.ok(d.end.line > d.start.line || (d.end.line === d.start.line && d.end.column > d.start.column), 'non-empty range');
        assert.ok(d.message.length > 0);
        assert.ok(d.actual !== undefined && d.expected !== undefined);
      }
    });
  }

  it('collects every occurrence, across lines, in source order', () => {
    const src = [
      '#!/bin/sh',
      '{{#if params.port}}',
      '  echo {{params.prot}}',
      '{{/if}}',
      'echo {{> partial}} {{params.port}} {{lookup . "x"}}',
      '   {{@index}}',
    ].join('\n');
    assert.deepEqual(render(src).diagnostics.map(at), ['HM314@2:1', 'HM304@3:8', 'HM314@5:6', 'HM314@5:36', 'HM314@6:4']);
  });

  it('property: a construct after arbitrary text lines is located at its line and column', () => {
    const construct = fc.constantFrom('{{#if x}}y{{/if}}', '{{> p}}', '{{* d}}', '{{f a}}', '{{this}}', '{{@index}}', '{{../x}}', '{{"s"}}', '{{params.nope}}', '{{port}}');
    const safeLine = fc.string({ unit: fc.constantFrom('a', ' ', '$', "'", '"', 'é', '🙂', '\t', '}', '#'), maxLength: 12 });
    fc.assert(
      fc.property(fc.array(safeLine, { maxLength: 5 }), safeLine, construct, (lines, prefix, c) => {
        const src = [...lines, prefix + c + ' tail'].join('\n');
        const r = render(src);
        assert.equal(r.diagnostics.length, 1, JSON.stringify(src));
        const d = r.diagnostics[0]!;
        assert.equal(d.start.line, lines.length + 1);
        assert.equal(d.start.column, prefix.length + 1);
      }),
      { numRuns: 300 },
    );
  });
});

describe('renderTemplate: parse errors give located HM314 diagnostics', () => {
  const cases: Array<[string, string]> = [
    ['a\n  {{#if x}}\nb', 'HM314@3:2'], // unclosed block: at the end of the template
    ['ab\n  {{foo', 'HM314@2:5'],
    ['x {{foo (}} y', 'HM314@1:10'],
    ['abc\n  {{foo bar=}}', 'HM314@2:13'],
    ['x\n\n   {{#a}}{{/b}}', 'HM314@3:7'], // mismatched close: at the block name
    ['{{a}\nb', 'HM314@1:4'],
    ['{{else}}', 'HM314@1:1'],
    ['echo ${A:-{{params.port}}}', 'HM314@1:24'], // `}}}` lexes as the close of a triple stash
  ];
  for (const [src, expected] of cases) {
    it(JSON.stringify(src), () => {
      const r = render(src);
      assert.deepEqual(r.diagnostics.map(at), [expected]);
      const d = r.diagnostics[0]!;
      assert.match(d.message, /^Template syntax error/);
      assert.equal(d.file, FILE);
      assert.equal(r.output, '');
    });
  }
});

describe('renderTemplate: nesting limits (Handlebars parses deep nesting in superlinear time)', () => {
  it(`blocks nested ${MAX_NESTING} deep are still parsed and every block is reported`, () => {
    const r = render('{{#a}}'.repeat(MAX_NESTING) + 'x' + '{{/a}}'.repeat(MAX_NESTING));
    assert.equal(r.diagnostics.length, MAX_NESTING);
  });

  it('deeper blocks, else-if chains and sub-expressions are refused quickly, located at the excess', () => {
    const t0 = Date.now();
    const blocks = render('x\n' + '{{#a}}'.repeat(20000) + '{{/a}}'.repeat(20000));
    assert.deepEqual(blocks.diagnostics.map(at), [`HM314@2:${MAX_NESTING * 6 + 1}`]);
    assert.match(blocks.diagnostics[0]?.message ?? '', /nested more than/);
    const chain = render('{{#if a}}' + '{{else if b}}'.repeat(20000) + '{{/if}}');
    assert.deepEqual(chain.diagnostics.map(at), [`HM314@1:${9 + (MAX_NESTING - 1) * 13 + 1}`]);
    const sexpr = render('{{a ' + '(b '.repeat(20000) + 'c' + ')'.repeat(20000) + '}}');
    assert.deepEqual(sexpr.diagnostics.map(at), [`HM314@1:${4 + MAX_NESTING * 3 + 1}`]);
    assert.ok(Date.now() - t0 < 2000, 'refused without parsing');
  });

  it('parentheses in text, strings and comments do not count', () => {
    const deep = '('.repeat(500);
    const r = render(`echo "${deep}" {{params.port}} {{! ${deep} }} {{!-- {{#a}} ${deep} --}}`);
    assert.deepEqual(r.diagnostics.filter((d) => d.severity === 'error'), []);
  });
});

describe('renderTemplate: HM304 undeclared variables', () => {
  it('undeclared parameter: did-you-mean, expected and actual', () => {
    const [d, ...rest] = errors('exec web --port {{params.prot}}');
    assert.equal(rest.length, 0);
    assert.ok(d);
    assert.equal(at(d), 'HM304@1:17');
    assert.deepEqual(d.end, { line: 1, column: 32 });
    assert.equal(d.actual, 'params.prot');
    assert.equal(d.expected, 'a declared parameter: params.port, params.host, params.data_dir');
    assert.equal(d.hint, 'Did you mean `{{params.port}}`?');
    assert.match(d.message, /`prot` is not declared/);
    assert.equal(d.url, 'docs/errors.md#hm304');
  });

  it('hints for other near misses', () => {
    const hint = (src: string) => errors(src)[0]?.hint;
    assert.equal(hint('{{params.Port}}'), 'Did you mean `{{params.port}}`?');
    assert.equal(hint('{{params.datadir}}'), 'Did you mean `{{params.data_dir}}`?');
    assert.equal(hint('{{port}}'), 'Did you mean `{{params.port}}`?');
    assert.equal(hint('{{hots}}'), 'Did you mean `{{params.host}}`?');
    assert.equal(hint('{{name}}'), 'Did you mean `{{module.name}}`?');
    assert.equal(hint('{{module.vresion}}'), 'Did you mean `{{module.version}}`?');
    assert.equal(hint('{{params.port.value}}'), 'Did you mean `{{params.port}}`?');
    assert.equal(hint('{{parms.port}}'), 'Did you mean `{{params.port}}`?');
    assert.equal(hint('{{params.completely_different}}'), 'Declare the parameter in the module definition, or fix the name.');
  });

  it('every undeclared reference is reported, including inside refused blocks', () => {
    const r = render('{{params.a}} {{params.b}}\n{{#if x}}{{params.c}}{{/if}}');
    assert.deepEqual(r.diagnostics.map(at), ['HM304@1:1', 'HM304@1:14', 'HM314@2:1', 'HM304@2:10']);
  });

  it('a module without parameters', () => {
    const [d] = render('{{params.port}}', { ...OPTS, params: [] }).diagnostics;
    assert.equal(d?.code, 'HM304');
    assert.equal(d?.expected, 'a declared parameter (this module declares none)');
  });

  it('declared names that are not valid parameter names cannot be referenced', () => {
    const r = render('{{params.Bad}} {{params.ok}}', { ...OPTS, params: [{ name: 'Bad', type: 'string' }, { name: 'ok', type: 'string' }] });
    assert.deepEqual(r.diagnostics.map(at), ['HM304@1:1']);
    assert.match(r.diagnostics[0]?.message ?? '', /does not match/);
  });

  it('prototype names are never variables', () => {
    for (const src of ['{{params.constructor}}', '{{params.__proto__}}', '{{module.constructor}}', '{{constructor}}', '{{params.hasOwnProperty}}']) {
      assert.equal(render(src).output, '', src);
      assert.equal(errors(src).length, 1, src);
    }
    // ...unless declared: then it is a parameter like any other
    const r = render('{{params.constructor}}', { ...OPTS, params: [{ name: 'constructor', type: 'string' }] });
    assert.deepEqual(r.diagnostics, []);
    assert.equal(r.output, '"${HAMOD_PARAM_CONSTRUCTOR}"');
  });
});

describe('renderTemplate: HM319 references inside quotes', () => {
  it('warns for single quotes, double quotes and a preceding backslash; still renders', () => {
    const src = [
      "echo '{{params.port}}'",
      'echo "port={{params.port}}"',
      'echo \\\\{{module.name}}',
      "echo 'a' {{params.port}} 'b'",
      'x="$(cmd {{params.host}})"',
      "# don't {{params.host}}",
      "echo \"it's\" {{params.port}}",
    ].join('\n');
    const r = render(src);
    assert.deepEqual(r.diagnostics.map(at), ['HM319@1:7', 'HM319@2:12', 'HM319@3:8']);
    for (const d of r.diagnostics) assert.equal(d.severity, 'warning');
    assert.match(r.diagnostics[0]?.message ?? '', /single quotes/);
    assert.match(r.diagnostics[1]?.message ?? '', /double quotes/);
    assert.match(r.diagnostics[2]?.message ?? '', /backslash/);
    assert.notEqual(r.output, '');
  });

  it('uses the rendered line (earlier references and whitespace control included)', () => {
    assert.deepEqual(render("echo {{params.host}} {{params.port}}").diagnostics, []);
    assert.deepEqual(render("echo ' \n{{params.port}}").diagnostics, []); // per-line heuristic
    assert.deepEqual(render("echo '{{~! c ~}}  {{params.port}}'").diagnostics.map(at), ['HM319@1:19']);
  });
});
