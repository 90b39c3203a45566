// The one error type thrown while writing, reading or verifying a bundle. It is a DiagnosticError
// carrying exactly one diagnostic, so the CLI renders it like any compiler diagnostic.
//
// Where the diagnostic points:
// - `source` names the bundle (its path, or 'bundle' when the caller has none);
// - when the problem concerns one archive entry whose name has already been validated, the
//   diagnostic's file is `<source>/<entry>` (for example `web-1.2.0.hamod/scripts/start.sh`);
// - when the entry name itself is the problem (absolute, `..`, NUL...), the file is the bundle and
//   the message quotes the raw name, so an unsafe name never masquerades as a real path.
import { DiagnosticError, diagnostic, type Diagnostic } from '../diagnostics.js';
import type { DiagnosticCode } from '../codes.js';

export const DEFAULT_SOURCE = 'bundle';

export interface BundleErrorInit {
  /** The bundle path shown to the user; defaults to 'bundle'. */
  source?: string | undefined;
  /** A validated entry name inside the bundle, when the problem concerns one entry. */
  entry?: string | undefined;
  hint?: string | undefined;
  expected?: string | undefined;
  actual?: string | undefined;
  cause?: unknown;
}

export class BundleError extends DiagnosticError {
  readonly code: DiagnosticCode;
  readonly source: string;
  readonly entry: string | undefined;

  constructor(code: DiagnosticCode, message: string, init: BundleErrorInit = {}) {
    const source = init.source ?? DEFAULT_SOURCE;
    const file = init.entry === undefined ? source : `${source}/${init.entry}`;
    super([
      diagnostic(code, {
        message: oneLine(message),
        file,
        hint: init.hint,
        expected: init.expected,
        actual: init.actual,
      }),
    ]);
    this.name = 'BundleError';
    this.code = code;
    this.source = source;
    this.entry = init.entry;
    if (init.cause !== undefined) this.cause = init.cause;
  }

  get diagnostic(): Diagnostic {
    // The constructor always stores exactly one diagnostic.
    return this.diagnostics[0] as Diagnostic;
  }
}

/** Quotes a raw (possibly hostile) entry name for a message: escapes control characters. */
export function quoteName(name: string): string {
  return JSON.stringify(name);
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}
