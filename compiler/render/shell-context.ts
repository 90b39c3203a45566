// A small, deliberately simple model of POSIX shell quoting, used to warn (HM319) when a template
// reference is written inside quotes. It looks at one line at a time (the rendered text of the
// line before a reference) and does not know about here-documents or multi-line strings.

export type ShellQuoting =
  /** Outside any quotes (possibly inside `$(...)`, backquotes or `${...}`): the intended place. */
  | 'unquoted'
  /** Inside '...' (or $'...'): the replacement would be literal text, or re-quoted. */
  | 'single'
  /** Inside "...": the replacement's own quotes close and reopen the string. */
  | 'double'
  /** Right after an unescaped backslash: the replacement's opening quote would be escaped. */
  | 'escaped'
  /** After a `#` comment start: the shell ignores the reference. */
  | 'comment';

type FrameKind = 'code' | 'single' | 'ansi' | 'double' | 'backquote' | 'command' | 'param';
interface Frame {
  kind: FrameKind;
  /** Open parentheses inside a `$(...)` frame. */
  depth: number;
}

const COMMENT_AFTER = /[\s;&|()<>]/;

/**
 * Incremental scanner: feed the output text in order; a newline starts a fresh line. Linear in the
 * text fed, so a template with many references on one long line stays cheap.
 */
export class ShellLineScanner {
  private stack: Frame[] = [{ kind: 'code', depth: 0 }];
  private escape = false;
  private dollar = false;
  private comment = false;
  private prev = '';

  feed(text: string): void {
    for (const c of text) this.push(c);
  }

  get state(): ShellQuoting {
    const kind = this.top().kind;
    if (this.comment) return 'comment';
    if (kind === 'single' || kind === 'ansi') return 'single';
    if (this.escape) return 'escaped';
    if (kind === 'double') return 'double';
    return 'unquoted';
  }

  private top(): Frame {
    return this.stack[this.stack.length - 1] ?? { kind: 'code', depth: 0 };
  }

  private open(kind: FrameKind): void {
    this.stack.push({ kind, depth: 0 });
  }

  private close(): void {
    if (this.stack.length > 1) this.stack.pop();
  }

  private push(c: string): void {
    if (c === '\n') {
      this.stack = [{ kind: 'code', depth: 0 }];
      this.escape = this.dollar = this.comment = false;
      this.prev = '';
      return;
    }
    const prev = this.prev;
    this.prev = c;
    if (this.comment) return;
    const top = this.top();
    if (top.kind === 'single') {
      if (c === "'") this.close();
      return;
    }
    if (top.kind === 'ansi') {
      if (this.escape) this.escape = false;
      else if (c === '\\') this.escape = true;
      else if (c === "'") this.close();
      return;
    }
    if (this.escape) {
      this.escape = false;
      this.dollar = false;
      return;
    }
    const afterDollar = this.dollar;
    this.dollar = false;
    if (afterDollar) {
      if (c === '(') return this.open('command');
      if (c === '{') return this.open('param');
      if (c === "'" && top.kind !== 'double') return this.open('ansi');
    }
    if (c === '\\') {
      this.escape = true;
      return;
    }
    if (c === '$') {
      this.dollar = true;
      return;
    }
    if (top.kind === 'double') {
      if (c === '"') this.close();
      else if (c === '`') this.open('backquote');
      return;
    }
    // code, backquote, command, param: quotes nest here.
    if (c === "'") this.open('single');
    else if (c === '"') this.open('double');
    else if (c === '`') {
      if (top.kind === 'backquote') this.close();
      else this.open('backquote');
    } else if (top.kind === 'command' && c === '(') top.depth += 1;
    else if (top.kind === 'command' && c === ')') {
      if (top.depth === 0) this.close();
      else top.depth -= 1;
    } else if (top.kind === 'param' && c === '}') this.close();
    else if (c === '#' && top.kind !== 'param' && (prev === '' || COMMENT_AFTER.test(prev))) this.comment = true;
  }
}

/** Quoting state of the shell at the end of `prefix` (the line's text before a reference). */
export function quotingAt(prefix: string): ShellQuoting {
  const s = new ShellLineScanner();
  s.feed(prefix);
  return s.state;
}
