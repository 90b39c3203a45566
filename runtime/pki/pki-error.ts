// The error thrown by the cluster PKI. Messages name files, node names and what is wrong, never key
// or secret material (nor OpenSSL output that could quote it: only its stderr, which does not).

export type PkiErrorCode =
  /** A name, address or option is not acceptable. */
  | 'INVALID_INPUT'
  /** The file to create already exists (a CA, a node certificate, a secret). */
  | 'EXISTS'
  /** A file needed is missing or cannot be read. */
  | 'NOT_FOUND'
  /** A file holds something else than expected (bad PEM, wrong size, key not matching its cert). */
  | 'INVALID_FILE'
  /** A private file (key, secret) can be read by group or others. */
  | 'INSECURE_MODE'
  /** The node certificate was not issued by the cluster CA beside it. */
  | 'CA_MISMATCH'
  /** A certificate is not valid yet or no longer valid. */
  | 'EXPIRED'
  /** The openssl command is not installed. */
  | 'OPENSSL_MISSING'
  /** The openssl command failed. */
  | 'OPENSSL_FAILED';

export class PkiError extends Error {
  readonly code: PkiErrorCode;
  /** The file the problem is about, when there is one. */
  readonly file: string | undefined;
  readonly hint: string | undefined;

  constructor(code: PkiErrorCode, message: string, init: { file?: string | undefined; hint?: string | undefined } = {}) {
    super(init.file !== undefined ? `${init.file}: ${message}` : message);
    this.name = 'PkiError';
    this.code = code;
    this.file = init.file;
    this.hint = init.hint;
  }
}
