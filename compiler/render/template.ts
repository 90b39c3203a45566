// Renders a module script template at build time.
//
// Scripts are Handlebars templates, but only a tiny subset of Handlebars is accepted: text,
// comments and simple references `{{params.<declared name>}}` / `{{module.name|version|mode}}`
// (double or triple stash, whitespace control allowed). Parameters are supplied at install time,
// so a parameter reference never inlines a value: it renders to `"${HAMOD_PARAM_<NAME>}"`, a
// double-quoted expansion of the environment variable the runtime sets from the validated value.
// Module constants render as single-quoted literals (shQuote). No value can become shell code.
//
// The AST from Handlebars.parse is checked node by node (every problem is reported, located), and
// the output is produced by substituting the references in that same AST, so no helper, partial,
// decorator or property lookup of Handlebars' runtime ever runs. Text is taken from the parsed
// content nodes, so whitespace control (`{{~x~}}`, standalone comment lines) behaves exactly as in
// Handlebars.compile(source, { strict: true, knownHelpersOnly: true, noEscape: true }).
import Handlebars from 'handlebars';
import { compareDiagnostics, diagnostic, type Diagnostic, type DiagnosticInit, type Position } from '../diagnostics.js';
import { ShellLineScanner } from './shell-context.js';
import { PARAM_NAME_RE, paramReference, shQuote } from './shell-quote.js';
import { closest } from '../util/suggest.js';

export interface TemplateParam {
  name: string;
  type: string;
}

export interface TemplateModule {
  name: string;
  version: string;
  mode: 'mirror' | 'farm';
}

export interface RenderTemplateOptions {
  /** Path of the template, relative to the module directory; used in diagnostics. */
  file: string;
  /** Declared parameters. Names that do not match `^[a-z][a-z0-9_]*$` are not referenceable. */
  params: ReadonlyArray<TemplateParam>;
  module: TemplateModule;
}

export interface RenderTemplateResult {
  /** The rendered script; empty when a diagnostic is an error. */
  output: string;
  /** Sorted by position. */
  diagnostics: Diagnostic[];
  /** Declared parameters referenced by the template, sorted, without duplicates. */
  usedParams: string[];
}

/** The build-time constants a template may reference as `module.<key>`. */
export const MODULE_KEYS = ['name', 'version', 'mode'] as const;
export type ModuleKey = (typeof MODULE_KEYS)[number];

const ALLOWED = '`{{params.<name>}}` or `{{module.name}}`, `{{module.version}}`, `{{module.mode}}`';
const SIMPLE_SEGMENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const SNIPPET_MAX = 80;
/** Deepest block nesting handed to the Handlebars parser (see checkNesting). */
export const MAX_NESTING = 100;

// An isolated environment: nothing registered globally on Handlebars is visible here. It is only
// used to parse; rendering never goes through Handlebars' runtime.
const hb = Handlebars.create();

// ---------------------------------------------------------------------------------------------
// The parts of the Handlebars AST that are inspected (see handlebars/types/index.d.ts, hbs.AST).

interface HbsPosition {
  line: number;
  column: number;
}
interface HbsNode {
  type: string;
  loc?: { start: HbsPosition; end: HbsPosition } | null;
}
interface HbsProgram extends HbsNode {
  body: HbsNode[];
}
interface HbsContent extends HbsNode {
  value: string;
}
interface HbsPath extends HbsNode {
  original: string;
  parts: string[];
  depth: number;
  data: boolean;
}
interface HbsHash extends HbsNode {
  pairs: Array<{ key: string; value: HbsNode }>;
}
/** MustacheStatement, Decorator, SubExpression, BlockStatement, DecoratorBlock, partials. */
interface HbsCall extends HbsNode {
  path?: HbsNode;
  name?: HbsNode;
  params?: HbsNode[];
  hash?: HbsHash | null;
  program?: HbsProgram | null;
  inverse?: HbsProgram | null;
}

// ---------------------------------------------------------------------------------------------

type Reference = { kind: 'param'; name: string } | { kind: 'module'; key: ModuleKey };

interface PlacedReference {
  /** Offset of the replacement in the output. */
  offset: number;
  start: Position;
  end: Position;
  text: string;
}

interface Range {
  start: Position;
  end: Position;
}

export function renderTemplate(source: string, opts: RenderTemplateOptions): RenderTemplateResult {
  return new TemplateRenderer(source, opts).run();
}

class TemplateRenderer {
  private readonly diagnostics: Diagnostic[] = [];
  private readonly pieces: string[] = [];
  private length = 0;
  private readonly placed: PlacedReference[] = [];
  private readonly used = new Set<string>();
  /** Valid declared names, in declaration order. */
  private readonly declared: string[] = [];
  private readonly invalidDeclared = new Set<string>();
  private readonly lineStarts: number[];

  constructor(
    private readonly source: string,
    private readonly opts: RenderTemplateOptions,
  ) {
    const seen = new Set<string>();
    for (const p of opts.params) {
      if (!PARAM_NAME_RE.test(p.name)) this.invalidDeclared.add(p.name);
      else if (!seen.has(p.name)) {
        seen.add(p.name);
        this.declared.push(p.name);
      }
    }
    this.lineStarts = lineStarts(source);
  }

  run(): RenderTemplateResult {
    if (!this.checkNesting()) return this.result('');
    let ast: HbsProgram;
    try {
      ast = hb.parse(this.source) as unknown as HbsProgram;
    } catch (err) {
      this.parseError(err);
      return this.result('');
    }
    this.program(ast, true);
    if (this.diagnostics.some((d) => d.severity === 'error')) return this.result('');
    const output = this.pieces.join('');
    this.checkQuoting(output);
    return this.result(output);
  }

  private result(output: string): RenderTemplateResult {
    return {
      output,
      diagnostics: this.diagnostics.sort(compareDiagnostics),
      usedParams: [...this.used].sort(),
    };
  }

  private emit(s: string): void {
    this.pieces.push(s);
    this.length += s.length;
  }

  private report(code: 'HM304' | 'HM314' | 'HM319', node: HbsNode | Range, init: Omit<DiagnosticInit, 'file'>): void {
    const range = 'type' in node ? this.range(node) : node;
    this.diagnostics.push(diagnostic(code, { ...init, file: this.opts.file, start: range.start, end: range.end }));
  }

  // --- walking -------------------------------------------------------------------------------

  /** Walks a program; `emit` is false inside constructs that are already refused. */
  private program(program: HbsProgram | null | undefined, emit: boolean): void {
    if (!program) return;
    for (const node of program.body) this.statement(node, emit);
  }

  private statement(node: HbsNode, emit: boolean): void {
    switch (node.type) {
      case 'ContentStatement':
        if (emit) this.emit((node as HbsContent).value);
        return;
      case 'CommentStatement':
        return;
      case 'MustacheStatement':
        this.mustache(node as HbsCall, emit);
        return;
      case 'BlockStatement':
      case 'DecoratorBlock':
      case 'PartialBlockStatement':
      case 'Decorator':
      case 'PartialStatement': {
        const call = node as HbsCall;
        this.refuse(call);
        this.expressions(call);
        this.program(call.program, false);
        this.program(call.inverse, false);
        return;
      }
      default:
        this.report('HM314', node, {
          message: `Unsupported template construct (${node.type}).`,
          expected: ALLOWED,
          actual: this.snippet(node),
        });
    }
  }

  /** HM314 for a block, partial or decorator. */
  private refuse(call: HbsCall): void {
    const name = describe(call.path ?? call.name);
    const what: Record<string, string> = {
      BlockStatement: `Block \`${name}\` is not allowed: templates have no conditionals or loops; write the logic in the script itself.`,
      DecoratorBlock: `Decorator block \`${name}\` is not allowed.`,
      Decorator: `Decorator \`${name}\` is not allowed.`,
      PartialStatement: `Partial \`${name}\` is not allowed: partials would include other files.`,
      PartialBlockStatement: `Partial block \`${name}\` is not allowed: partials would include other files.`,
    };
    this.report('HM314', call, {
      message: what[call.type] ?? `\`${name}\` is not allowed.`,
      expected: ALLOWED,
      actual: this.snippet(call),
    });
  }

  /** Reports every sub-expression among the arguments of a refused construct. */
  private expressions(call: HbsCall): void {
    const args: HbsNode[] = [...(call.params ?? []), ...(call.hash?.pairs.map((p) => p.value) ?? [])];
    if (call.type === 'PartialStatement' || call.type === 'PartialBlockStatement') {
      if (call.name) args.unshift(call.name);
    }
    for (const arg of args) {
      if (arg.type !== 'SubExpression') continue;
      const sub = arg as HbsCall;
      this.report('HM314', sub, {
        message: `Sub-expression \`(${describe(sub.path)} ...)\` is not allowed: templates call no helpers.`,
        expected: ALLOWED,
        actual: this.snippet(sub),
      });
      this.expressions(sub);
    }
  }

  private mustache(node: HbsCall, emit: boolean): void {
    const hasArgs = (node.params?.length ?? 0) > 0 || (node.hash?.pairs.length ?? 0) > 0;
    if (hasArgs) {
      const name = describe(node.path);
      this.report('HM314', node, {
        message: `Helper call \`${name}\` with arguments is not allowed: a reference takes no arguments and templates call no helpers.`,
        expected: ALLOWED,
        actual: this.snippet(node),
      });
      this.expressions(node);
      return;
    }
    const ref = this.reference(node);
    if (!ref) return;
    const replacement = ref.kind === 'param' ? paramReference(ref.name) : shQuote(this.opts.module[ref.key]);
    if (ref.kind === 'param') this.used.add(ref.name);
    if (!emit) return;
    const { start, end } = this.range(node);
    this.placed.push({ offset: this.length, start, end, text: this.snippet(node) });
    this.emit(replacement);
  }

  /** Classifies the path of an argument-less mustache; reports and returns undefined if refused. */
  private reference(node: HbsCall): Reference | undefined {
    const path = node.path;
    const actual = this.snippet(node);
    const refuse = (message: string, hint?: string): undefined => {
      this.report('HM314', node, { message, expected: ALLOWED, actual, hint });
      return undefined;
    };
    if (!path || path.type !== 'PathExpression') {
      return refuse(`Literal \`${describe(path)}\` is not allowed in a reference: write the text in the script directly.`);
    }
    const p = path as HbsPath;
    if (p.data) return refuse(`Data variable \`${p.original}\` is not allowed.`);
    if (p.depth > 0 || p.original.startsWith('../') || p.original.includes('/../')) {
      return refuse(`Parent-scope reference \`${p.original}\` is not allowed.`);
    }
    if (p.parts.length === 0 || /^(this|\.)([./]|$)/.test(p.original)) {
      const rest = p.parts.join('.');
      return refuse(
        `Context reference \`${p.original}\` is not allowed.`,
        this.isKnown(p.parts) ? `Write \`{{${rest}}}\`.` : undefined,
      );
    }
    if (p.original !== p.parts.join('.')) {
      const dotted = p.parts.join('.');
      return refuse(
        `Path \`${p.original}\` is not allowed: separate segments with dots.`,
        p.parts.every((s) => SIMPLE_SEGMENT.test(s)) ? `Write \`{{${dotted}}}\`.` : undefined,
      );
    }
    if (!p.parts.every((s) => SIMPLE_SEGMENT.test(s))) {
      return refuse(`Path \`${p.original}\` is not allowed: use plain names, without \`[...]\` segments.`);
    }
    const [head, second] = p.parts;
    if (head === 'params' && p.parts.length === 2 && second !== undefined && this.declared.includes(second)) {
      return { kind: 'param', name: second };
    }
    if (head === 'module' && p.parts.length === 2 && isModuleKey(second)) {
      return { kind: 'module', key: second };
    }
    this.undeclared(node, p);
    return undefined;
  }

  private isKnown(parts: string[]): boolean {
    const [head, second] = parts;
    if (parts.length !== 2 || second === undefined) return false;
    return (head === 'params' && this.declared.includes(second)) || (head === 'module' && isModuleKey(second));
  }

  /** HM304 with a did-you-mean hint. */
  private undeclared(node: HbsCall, p: HbsPath): void {
    const actual = p.original;
    const [head, second] = p.parts;
    const paramsExpected =
      this.declared.length > 0
        ? `a declared parameter: ${this.declared.map((n) => `params.${n}`).join(', ')}`
        : 'a declared parameter (this module declares none)';
    const moduleExpected = MODULE_KEYS.map((k) => `module.${k}`).join(', ');
    let message: string;
    let expected: string;
    let suggestion: string | undefined;
    if (head === 'params' && second !== undefined) {
      expected = paramsExpected;
      const near = closest(second, this.declared);
      suggestion = near === undefined ? undefined : `params.${near}`;
      if (p.parts.length > 2) {
        message = `\`${actual}\` is not a variable: parameters are referenced as \`params.<name>\`.`;
        if (this.declared.includes(second)) suggestion = `params.${second}`;
      } else if (this.invalidDeclared.has(second)) {
        message = `Parameter \`${second}\` cannot be referenced: its name does not match ${PARAM_NAME_RE.source}.`;
      } else {
        message = `Parameter \`${second}\` is not declared.`;
      }
    } else if (head === 'module' && second !== undefined) {
      expected = `one of ${moduleExpected}`;
      const near = closest(second, MODULE_KEYS);
      suggestion = near === undefined ? undefined : `module.${near}`;
      message = `\`${actual}\` is not a module variable.`;
    } else {
      expected = `params.<name> (${paramsExpected}) or one of ${moduleExpected}`;
      message = `Unknown variable \`${actual}\`: parameters are referenced as \`params.<name>\`.`;
      if (p.parts.length === 1 && head !== undefined) {
        if (this.declared.includes(head)) suggestion = `params.${head}`;
        else if (isModuleKey(head)) suggestion = `module.${head}`;
        else {
          const near = closest(head, [...this.declared, ...MODULE_KEYS]);
          if (near !== undefined) suggestion = isModuleKey(near) && !this.declared.includes(near) ? `module.${near}` : `params.${near}`;
        }
      } else {
        const all = [...this.declared.map((n) => `params.${n}`), ...MODULE_KEYS.map((k) => `module.${k}`)];
        suggestion = closest(actual, all);
      }
    }
    const hint =
      suggestion !== undefined
        ? `Did you mean \`{{${suggestion}}}\`?`
        : head === 'params'
          ? 'Declare the parameter in the module definition, or fix the name.'
          : undefined;
    this.report('HM304', node, { message, expected, actual, hint });
  }

  /**
   * Handlebars' parser takes time superlinear in the nesting depth of blocks, `{{else if}}` chains
   * and sub-expressions (seconds at a few thousand levels, then a stack overflow), so deep nesting
   * is refused before parsing, by a linear lexical scan. None of these constructs is allowed
   * anyway. The scan over-approximates (it also counts inside raw blocks, after `\{{`, and never
   * closes an `else` chain), which only matters past MAX_NESTING.
   */
  private checkNesting(): boolean {
    const src = this.source;
    let depth = 0;
    let i = 0;
    const refuse = (at: number, length: number, what: string): false => {
      this.report('HM314', { start: this.position(at), end: this.position(at + length) }, {
        message: `${what} are nested more than ${MAX_NESTING} deep; the template is not parsed (they are not allowed in templates).`,
        expected: ALLOWED,
        actual: src.slice(at, at + Math.min(length, SNIPPET_MAX)),
      });
      return false;
    };
    for (;;) {
      const open = src.indexOf('{{', i);
      if (open < 0) return true;
      let j = open + 2;
      let raw = false;
      if (src.startsWith('{{', j)) {
        raw = true;
        j += 2;
      }
      while (src[j] === '{' || src[j] === '~' || src[j] === '&') j += 1;
      while (j < src.length && /\s/.test(src[j] ?? '')) j += 1;
      if (src[j] === '!') {
        // Comment: {{!-- ... --}} or {{! ... }}
        const long = src.startsWith('!--', j);
        const end = long ? src.slice(j + 3).search(/--~?\}\}/) : src.indexOf('}}', j);
        if (end < 0) return true;
        i = long ? j + 3 + end + 2 : end + 2;
        continue;
      }
      const c = src[j];
      if (c === '/') depth = Math.max(0, depth - 1);
      else if (raw || c === '#' || (c === '^' && !/^\^\s*~?\}\}/.test(src.slice(j, j + 40))) || /^else\s+[^\s~}]/.test(src.slice(j, j + 40))) {
        if (++depth > MAX_NESTING) return refuse(open, j + 1 - open, 'Blocks');
      }
      // Up to the end of the mustache: parentheses (outside string literals) nest sub-expressions.
      let parens = 0;
      let quote = '';
      for (; j < src.length; j++) {
        const ch = src[j];
        if (quote) {
          if (ch === '\\') j += 1;
          else if (ch === quote) quote = '';
        } else if (ch === '"' || ch === "'") quote = ch;
        else if (ch === '(') {
          if (++parens > MAX_NESTING) return refuse(j, 1, 'Sub-expressions');
        } else if (ch === ')') parens = Math.max(0, parens - 1);
        else if (ch === '}' && src[j + 1] === '}') break;
      }
      i = j + 2;
    }
  }

  // --- quoting (HM319) -----------------------------------------------------------------------

  private checkQuoting(output: string): void {
    // References are in output order: feed the output once, up to each reference in turn.
    const scanner = new ShellLineScanner();
    let fed = 0;
    for (const ref of this.placed) {
      scanner.feed(output.slice(fed, ref.offset));
      fed = ref.offset;
      const state = scanner.state;
      const range = { start: ref.start, end: ref.end };
      const hint = `Remove the quotes around ${ref.text}: the compiler quotes the value itself.`;
      if (state === 'single') {
        this.report('HM319', range, {
          message: `${ref.text} is inside single quotes: the script would see the quoted reference text, not the value.`,
          hint,
        });
      } else if (state === 'double') {
        this.report('HM319', range, {
          message: `${ref.text} is inside double quotes: its own quotes would end the string, leaving the value unquoted (split on spaces, expanded as a glob pattern).`,
          hint,
        });
      } else if (state === 'escaped') {
        this.report('HM319', range, {
          message: `${ref.text} follows a backslash, which escapes the opening quote of its replacement and leaves the value unquoted.`,
          hint: `Remove the backslash before ${ref.text}.`,
        });
      }
    }
  }

  // --- positions -----------------------------------------------------------------------------

  private parseError(err: unknown): void {
    const e = (typeof err === 'object' && err !== null ? err : {}) as Record<string, unknown>;
    const raw = typeof e['message'] === 'string' ? e['message'] : String(err);
    let range: Range | undefined;
    let message: string;
    let expected: string | undefined;
    let actual: string | undefined;

    const m = /\nExpecting (.*), got '([^']*)'\s*$/.exec(raw);
    if (m) {
      const got = m[2] ?? '';
      expected = m[1];
      actual = got;
      message = got === 'EOF' ? 'Template syntax error: unexpected end of the template.' : `Template syntax error: unexpected ${tokenName(got)}.`;
      if (got === 'EOF') range = this.endOfSource();
    } else {
      // Exceptions raised by Handlebars on a node (for example `{{#a}}...{{/b}}`) end with " - line:col".
      message = `Template syntax error: ${(raw.split('\n')[0] ?? raw).replace(/ - \d+:\d+$/, '')}.`;
    }
    if (!range && typeof e['lineNumber'] === 'number' && typeof e['column'] === 'number') {
      const start = { line: e['lineNumber'], column: e['column'] + 1 };
      const end =
        typeof e['endLineNumber'] === 'number' && typeof e['endColumn'] === 'number'
          ? { line: e['endLineNumber'], column: e['endColumn'] + 1 }
          : start;
      range = { start, end };
    }
    range ??= this.lexerRange() ?? this.lineOnly(raw);
    this.report('HM314', range, { message, expected, actual });
  }

  /** Location of the offending token, read from the state the Handlebars lexer was left in. */
  private lexerRange(): Range | undefined {
    const parser = (hb as unknown as { Parser?: { lexer?: { yylloc?: unknown } } }).Parser;
    const loc = parser?.lexer?.yylloc as Record<string, unknown> | undefined;
    if (!loc) return undefined;
    const { first_line: fl, first_column: fc, last_line: ll, last_column: lc } = loc;
    if (typeof fl !== 'number' || typeof fc !== 'number') return undefined;
    const start = { line: fl, column: fc + 1 };
    const end = typeof ll === 'number' && typeof lc === 'number' ? { line: ll, column: lc + 1 } : start;
    return { start, end };
  }

  private lineOnly(raw: string): Range {
    const line = Number(/on line (\d+)/.exec(raw)?.[1] ?? 1);
    const start = { line: Number.isSafeInteger(line) && line > 0 ? line : 1, column: 1 };
    return { start, end: start };
  }

  private endOfSource(): Range {
    const line = this.lineStarts.length;
    const lastStart = this.lineStarts[line - 1] ?? 0;
    const pos = { line, column: this.source.length - lastStart + 1 };
    return { start: pos, end: pos };
  }

  /** Handlebars locations: 1-based line, 0-based column -> 1-based line and column. */
  private range(node: HbsNode): Range {
    const loc = node.loc;
    if (!loc) return { start: { line: 1, column: 1 }, end: { line: 1, column: 1 } };
    return {
      start: { line: loc.start.line, column: loc.start.column + 1 },
      end: { line: loc.end.line, column: loc.end.column + 1 },
    };
  }

  /** Source text of a node, shortened for messages. */
  private snippet(node: HbsNode): string {
    const { start, end } = this.range(node);
    const from = this.offset(start);
    const to = this.offset(end);
    const text = to > from ? this.source.slice(from, to) : describe(node);
    return text.length > SNIPPET_MAX ? `${text.slice(0, SNIPPET_MAX - 1)}…` : text;
  }

  /** 1-based position of an offset in the source. */
  private position(offset: number): Position {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.lineStarts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (this.lineStarts[lo] ?? 0) + 1 };
  }

  private offset(pos: Position): number {
    const lineStart = this.lineStarts[pos.line - 1] ?? this.source.length;
    return Math.min(lineStart + pos.column - 1, this.source.length);
  }
}

function isModuleKey(key: string | undefined): key is ModuleKey {
  return key === 'name' || key === 'version' || key === 'mode';
}

/** Offsets at which lines start, with Handlebars' notion of a line break (\r\n, \r or \n). */
function lineStarts(source: string): number[] {
  const starts = [0];
  const re = /\r\n?|\n/g;
  for (let m = re.exec(source); m; m = re.exec(source)) starts.push(m.index + m[0].length);
  return starts;
}

/** Short name of a path or literal node for messages. */
function describe(node: HbsNode | undefined): string {
  if (!node) return '?';
  const n = node as HbsNode & { original?: unknown; value?: unknown };
  if (node.type === 'SubExpression') return `(${describe((node as HbsCall).path)} ...)`;
  if (node.type === 'StringLiteral') return JSON.stringify(n.value);
  if (node.type === 'UndefinedLiteral') return 'undefined';
  if (node.type === 'NullLiteral') return 'null';
  if (n.original !== undefined) return String(n.original);
  if (n.value !== undefined) return String(n.value);
  return node.type;
}

const TOKEN_NAMES: Record<string, string> = {
  CLOSE: '`}}`',
  CLOSE_UNESCAPED: '`}}}`',
  CLOSE_RAW_BLOCK: '`}}}}`',
  OPEN: '`{{`',
  INVERSE: '`{{else}}`',
  INVALID: 'character',
  EQUALS: '`=`',
  CLOSE_SEXPR: '`)`',
  OPEN_SEXPR: '`(`',
};

function tokenName(token: string): string {
  return TOKEN_NAMES[token] ?? `token ${token}`;
}
