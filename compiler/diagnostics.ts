// One diagnostic type shared by the compiler, the catalog and the CLI (modelled on vfile-message):
// every problem carries a file, a start/end position, a stable code, a severity, and where useful
// the field, expected vs actual, and a hint. Codes form a closed list (codes.ts) documented in docs/.
import { CODES, type DiagnosticCode } from './codes.js';

export type Severity = 'error' | 'warning' | 'info';

/** 1-based line and column. */
export interface Position {
  line: number;
  column: number;
}

export interface Diagnostic {
  code: DiagnosticCode;
  severity: Severity;
  message: string;
  /** Path of the file, relative to the module directory when inside it. */
  file: string;
  start: Position;
  end: Position;
  /** Dotted path of the field in the module definition, e.g. `services[0].start`. */
  field?: string;
  expected?: string;
  actual?: string;
  hint?: string;
  /** Documentation anchor for the code. */
  url: string;
}

export interface DiagnosticInit {
  message: string;
  file: string;
  start?: Position;
  end?: Position;
  field?: string | undefined;
  expected?: string | undefined;
  actual?: string | undefined;
  hint?: string | undefined;
  severity?: Severity;
}

export const DOCS_BASE = 'docs/errors.md';

export const FILE_START: Position = { line: 1, column: 1 };

export function diagnostic(code: DiagnosticCode, init: DiagnosticInit): Diagnostic {
  const entry = CODES[code];
  const start = init.start ?? FILE_START;
  const d: Diagnostic = {
    code,
    severity: init.severity ?? entry.severity,
    message: init.message,
    file: init.file,
    start,
    end: init.end ?? start,
    url: `${DOCS_BASE}#${code.toLowerCase()}`,
  };
  if (init.field !== undefined) d.field = init.field;
  if (init.expected !== undefined) d.expected = init.expected;
  if (init.actual !== undefined) d.actual = init.actual;
  if (init.hint !== undefined) d.hint = init.hint;
  return d;
}

/** Collects diagnostics for one compilation unit; only errors stop the pipeline. */
export class DiagnosticBag {
  readonly items: Diagnostic[] = [];

  add(code: DiagnosticCode, init: DiagnosticInit): Diagnostic {
    const d = diagnostic(code, init);
    this.items.push(d);
    return d;
  }

  push(...ds: Diagnostic[]): void {
    this.items.push(...ds);
  }

  get hasErrors(): boolean {
    return this.items.some((d) => d.severity === 'error');
  }

  sorted(): Diagnostic[] {
    return [...this.items].sort(compareDiagnostics);
  }
}

export function compareDiagnostics(a: Diagnostic, b: Diagnostic): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  if (a.start.line !== b.start.line) return a.start.line - b.start.line;
  if (a.start.column !== b.start.column) return a.start.column - b.start.column;
  return a.code < b.code ? -1 : a.code > b.code ? 1 : 0;
}

/** Error thrown at a boundary (CLI, catalog) carrying diagnostics; its message is one line. */
export class DiagnosticError extends Error {
  constructor(
    readonly diagnostics: Diagnostic[],
    summary?: string,
  ) {
    super(summary ?? oneLine(diagnostics));
    this.name = 'DiagnosticError';
  }
}

function oneLine(ds: Diagnostic[]): string {
  const first = ds.find((d) => d.severity === 'error') ?? ds[0];
  if (!first) return 'failed';
  const more = ds.length > 1 ? ` (and ${ds.length - 1} more)` : '';
  return `${first.file}:${first.start.line}:${first.start.column} ${first.code} ${first.message}${more}`;
}
