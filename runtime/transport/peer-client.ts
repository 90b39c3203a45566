// The peer API client: one per peer node, keeping TLS connections alive between calls. It presents
// this node's certificate, trusts only the cluster CA, and accepts the server only if its verified
// certificate's CN is the node it means to talk to (a certificate of another member of the same
// cluster is refused, whatever address it answers on). Every call has a deadline.
import { Agent, request } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { PeerCertificate } from 'node:tls';
import { PeerCallError, type PeerErrorBody } from './peer-error.js';
import { DEFAULT_BODY_LIMIT_BYTES } from './peer-server.js';
import { certificateNodeName, tlsOptions, type TlsCredentials } from './tls-credentials.js';

export interface PeerClientOptions {
  credentials: TlsCredentials;
  host: string;
  port: number;
  /** The CN the server's certificate must carry. */
  expectedNodeName: string;
  /** Default time limit of a call (connection, request and whole answer); default 5 s. */
  timeoutMs?: number;
  /** Largest answer accepted; default 1 MiB. */
  responseLimitBytes?: number;
  /** Idle connections are closed after this; default 15 s (shorter than the server's keep-alive). */
  idleTimeoutMs?: number;
  /** Concurrent connections to the peer; default 8. */
  maxSockets?: number;
}

export interface CallOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  timeoutMs?: number;
  signal?: AbortSignal;
}

const IDENTITY_ERROR = 'ERR_HAMOD_PEER_IDENTITY';

export class PeerClient {
  readonly node: string;
  readonly #host: string;
  readonly #port: number;
  readonly #agent: Agent;
  readonly #timeoutMs: number;
  readonly #responseLimit: number;

  constructor(options: PeerClientOptions) {
    const expected = options.expectedNodeName;
    this.node = expected;
    this.#host = options.host;
    this.#port = options.port;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#responseLimit = options.responseLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
    this.#agent = new Agent({
      ...tlsOptions(options.credentials),
      keepAlive: true,
      maxSockets: options.maxSockets ?? 8,
      timeout: options.idleTimeoutMs ?? 15_000,
      rejectUnauthorized: true,
      // SNI carries the node name (an IP address is not allowed there).
      servername: expected,
      // Replaces the host name check: the chain is already verified against the cluster CA only.
      checkServerIdentity: (_host: string, cert: PeerCertificate): Error | undefined => {
        const cn = certificateNodeName(cert);
        if (cn === expected) return undefined;
        const err: NodeJS.ErrnoException = new Error(`server certificate names ${cn === undefined ? 'no node' : JSON.stringify(cn)}, expected ${JSON.stringify(expected)}`);
        err.code = IDENTITY_ERROR;
        return err;
      },
    });
  }

  /** POSTs `body` (JSON) to `path` and returns the JSON answer; PeerCallError on any failure. */
  async call<T = unknown>(path: string, body?: unknown, options: CallOptions = {}): Promise<T> {
    const method = options.method ?? 'POST';
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const json: unknown = body === undefined ? undefined : JSON.stringify(body); // TypeError for BigInt, cycles
    if (body !== undefined && typeof json !== 'string') throw new TypeError(`${method} ${path}: the body is not JSON-serialisable`);
    const payload = typeof json === 'string' ? Buffer.from(json, 'utf8') : null;
    const raw = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      let settled = false;
      let res: IncomingMessage | undefined;
      const settle = (err: PeerCallError | null, value?: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (err !== null) {
          req.destroy();
          res?.destroy();
          reject(err);
        } else {
          resolve(value as { status: number; text: string });
        }
      };
      const timer = setTimeout(() => settle(new PeerCallError('TIMEOUT', this.node, `${method} ${path}: no answer within ${timeoutMs} ms`)), timeoutMs);
      const onAbort = (): void => settle(new PeerCallError('ABORTED', this.node, `${method} ${path}: aborted`, { cause: options.signal?.reason }));

      const headers: Record<string, string | number> = { accept: 'application/json' };
      if (payload !== null) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = payload.length;
      }
      const req = request({ host: this.#host, port: this.#port, method, path, agent: this.#agent, headers });
      req.on('error', (err: NodeJS.ErrnoException) => {
        const error = classify(err, this.node, `${method} ${path}`);
        // Node's server checks a client certificate after the TLS 1.3 handshake and, refusing it,
        // resets the connection: all this side sees is a reset on a new connection.
        if (err.code === 'ECONNRESET' && res === undefined && !req.reusedSocket) {
          error.message += ' (reset on a new connection before any answer: the peer may have refused this node\'s certificate)';
        }
        settle(error);
      });
      req.on('response', (response) => {
        res = response;
        readLimited(response, this.#responseLimit, this.node).then(
          (raw) => settle(null, raw),
          (err: Error) => settle(err instanceof PeerCallError ? err : new PeerCallError('UNREACHABLE', this.node, `${method} ${path}: connection lost while reading the answer`, { cause: err })),
        );
      });
      if (options.signal?.aborted === true) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      req.end(payload ?? undefined);
    });
    return this.#decode(raw, method, path) as T;
  }

  /** Closes the pooled connections; calls in progress fail. */
  close(): void {
    this.#agent.destroy();
  }

  #decode(raw: { status: number; text: string }, method: string, path: string): unknown {
    let value: unknown;
    try {
      value = raw.text === '' ? null : (JSON.parse(raw.text) as unknown);
    } catch {
      throw new PeerCallError('PROTOCOL', this.node, `${method} ${path}: answer (status ${raw.status}) is not JSON`, { status: raw.status });
    }
    if (raw.status >= 200 && raw.status < 300) return value;
    const e = isErrorBody(value) ? value : { error: `status ${raw.status}`, code: 'HTTP_ERROR' };
    throw new PeerCallError('REMOTE', this.node, `${method} ${path}: ${e.code}: ${e.error}`, { status: raw.status, remoteCode: e.code });
  }
}

function isErrorBody(v: unknown): v is PeerErrorBody {
  return typeof v === 'object' && v !== null && typeof (v as PeerErrorBody).error === 'string' && typeof (v as PeerErrorBody).code === 'string';
}

function readLimited(res: IncomingMessage, limit: number, node: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        res.destroy();
        reject(new PeerCallError('PROTOCOL', node, `answer exceeds ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks, size).toString('utf8') }));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('aborted')));
  });
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'ETIMEDOUT', 'EPIPE', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);

function classify(err: NodeJS.ErrnoException, node: string, what: string): PeerCallError {
  const code = err.code ?? '';
  if (code === IDENTITY_ERROR) return new PeerCallError('IDENTITY', node, `${what}: ${err.message}`, { cause: err });
  if (UNREACHABLE.has(code)) return new PeerCallError('UNREACHABLE', node, `${what}: ${code}`, { cause: err });
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || /CERT|SIGNATURE|ISSUER|PURPOSE/.test(code)) {
    return new PeerCallError('TLS', node, `${what}: TLS handshake failed (${code})`, { cause: err });
  }
  return new PeerCallError('UNREACHABLE', node, `${what}: ${code !== '' ? code : err.message}`, { cause: err });
}
