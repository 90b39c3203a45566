// The error thrown by key operations: a DiagnosticError with one diagnostic whose file is the key
// file (or the key name). Messages name files and key ids, never key material.
import { DiagnosticError, diagnostic, type Diagnostic } from '../diagnostics.js';
import type { DiagnosticCode } from '../codes.js';

export interface KeyErrorInit {
  /** Key file or key name the problem is about; default 'key'. */
  file?: string | undefined;
  hint?: string | undefined;
}

export class KeyError extends DiagnosticError {
  readonly code: DiagnosticCode;

  constructor(code: DiagnosticCode, message: string, init: KeyErrorInit = {}) {
    super([diagnostic(code, { message, file: init.file ?? 'key', hint: init.hint })]);
    this.name = 'KeyError';
    this.code = code;
  }

  get diagnostic(): Diagnostic {
    return this.diagnostics[0] as Diagnostic;
  }
}
