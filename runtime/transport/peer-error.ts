// Errors of the peer API. A route handler throws PeerError to answer with a given status and code;
// the client throws PeerCallError, which says whether trying again later may help.

/** Codes the server itself answers with (handlers add their own). */
export type PeerServerErrorCode =
  | 'BAD_IDENTITY'
  | 'UNKNOWN_NODE'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'BODY_TOO_LARGE'
  | 'BAD_JSON'
  | 'HANDLER_TIMEOUT'
  | 'SHUTTING_DOWN'
  | 'INTERNAL';

/** The JSON body of every error response. */
export interface PeerErrorBody {
  error: string;
  code: string;
}

export class PeerError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: PeerServerErrorCode | (string & {}), message: string) {
    super(message);
    this.name = 'PeerError';
    this.status = status;
    this.code = code;
  }
}

/**
 * - TIMEOUT: no complete answer within the call's time limit (the request may have been handled).
 * - ABORTED: the caller's signal aborted the call.
 * - UNREACHABLE: no connection (refused, no route, reset before an answer).
 * - TLS: the TLS handshake failed (certificate not from the cluster CA, refused by the server, …).
 * - IDENTITY: the server's certificate is from the cluster but names another node.
 * - PROTOCOL: the answer is not what the peer API sends (not JSON, too large).
 * - REMOTE: the server answered with an error; `status` and `remoteCode` say which.
 */
export type PeerCallErrorCode = 'TIMEOUT' | 'ABORTED' | 'UNREACHABLE' | 'TLS' | 'IDENTITY' | 'PROTOCOL' | 'REMOTE';

export class PeerCallError extends Error {
  readonly code: PeerCallErrorCode;
  /** The node called. */
  readonly node: string;
  readonly status: number | undefined;
  readonly remoteCode: string | undefined;
  /** True when the same call may succeed later (network trouble, timeouts, 5xx but 500). */
  readonly retryable: boolean;

  constructor(code: PeerCallErrorCode, node: string, message: string, init: { status?: number; remoteCode?: string; cause?: unknown } = {}) {
    super(`peer ${node}: ${message}`, init.cause !== undefined ? { cause: init.cause } : undefined);
    this.name = 'PeerCallError';
    this.code = code;
    this.node = node;
    this.status = init.status;
    this.remoteCode = init.remoteCode;
    this.retryable =
      code === 'TIMEOUT' || code === 'UNREACHABLE' || (code === 'REMOTE' && init.status !== undefined && (init.status === 408 || init.status === 429 || init.status >= 502));
  }
}
