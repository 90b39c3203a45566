// The peer API server: HTTPS with mutual TLS 1.3, the cluster CA as the only trust anchor, JSON in
// and out. A client is admitted only with a certificate issued by the cluster CA (checked during the
// handshake, before any byte of HTTP is read); its node name is the certificate's CN, and when a
// `knownNodes` callback is given, a CN it does not know is refused (403) on every request, so
// removing a node from the configuration shuts it out at once, without revocation lists.
//
// Routes are registered by the agent: `server.route('POST', '/v1/…', async (body, peer, ctx) => result)`.
// Errors are JSON `{error, code}` with a status: PeerError thrown by a handler chooses them; anything
// else is a 500 INTERNAL whose details go to the log, not to the peer.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Socket, type AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { readJsonBody } from './json-body.js';
import { LogThrottle, silentLog, type TransportLog } from './log.js';
import { PeerError, type PeerErrorBody } from './peer-error.js';
import { certificateNodeName, tlsOptions, type TlsCredentials } from './tls-credentials.js';

export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface PeerIdentity {
  /** CN of the client's verified certificate. */
  readonly nodeName: string;
  /** Remote IP address of the connection (informational: identity comes from the certificate). */
  readonly address: string;
}

export interface RouteContext {
  /** Aborted when the handler's time is up or the client went away. */
  readonly signal: AbortSignal;
}

/** Receives the parsed JSON body (null without one); returns what is sent back as JSON. */
export type RouteHandler = (body: unknown, peer: PeerIdentity, ctx: RouteContext) => unknown;

export interface PeerServerOptions {
  credentials: TlsCredentials;
  /** Returns false for a node name that may not use the API (not in the cluster configuration). */
  knownNodes?: (nodeName: string) => boolean;
  /** Largest request body accepted; default 1 MiB. */
  bodyLimitBytes?: number;
  /** Time to receive a whole request (headers and body); default 10 s. */
  requestTimeoutMs?: number;
  /** Time a handler has to answer before a 503 HANDLER_TIMEOUT; default 10 s. */
  handlerTimeoutMs?: number;
  /** Time for a TLS handshake to complete; default 5 s. */
  handshakeTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this; default 30 s (longer than the client's 15 s). */
  keepAliveTimeoutMs?: number;
  log?: TransportLog;
}

export interface PeerServerStats {
  /** TLS connections established (with a verified client certificate). */
  connections: number;
  requests: number;
  /** TLS handshakes that failed (no certificate, another CA, wrong protocol version, timeouts). */
  handshakeFailures: number;
  /** Requests refused because of the client's identity (bad CN, unknown node). */
  refusedIdentity: number;
  /** Responses with status >= 400, by code. */
  errors: Record<string, number>;
}

interface Route {
  readonly method: HttpMethod;
  readonly handler: RouteHandler;
}

export class PeerServer {
  readonly #opts: Required<Omit<PeerServerOptions, 'knownNodes' | 'credentials'>> & { knownNodes: ((n: string) => boolean) | undefined };
  readonly #server: Server;
  readonly #routes = new Map<string, Map<HttpMethod, Route>>();
  readonly #throttle = new LogThrottle();
  readonly #tcpAddresses = new WeakMap<Socket, string>();
  readonly #stats: PeerServerStats = { connections: 0, requests: 0, handshakeFailures: 0, refusedIdentity: 0, errors: {} };
  #closing = false;

  constructor(options: PeerServerOptions) {
    this.#opts = {
      knownNodes: options.knownNodes,
      bodyLimitBytes: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      handlerTimeoutMs: options.handlerTimeoutMs ?? 10_000,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 5_000,
      keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 30_000,
      log: options.log ?? silentLog,
    };
    const o = this.#opts;
    this.#server = createServer(
      {
        ...tlsOptions(options.credentials),
        requestCert: true,
        rejectUnauthorized: true,
        handshakeTimeout: o.handshakeTimeoutMs,
        requestTimeout: o.requestTimeoutMs,
        headersTimeout: Math.min(o.requestTimeoutMs, 10_000),
        keepAliveTimeout: o.keepAliveTimeoutMs,
        connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(o.requestTimeoutMs / 2))),
        maxHeaderSize: 16 * 1024,
      },
      (req, res) => void this.#handle(req, res),
    );
    this.#server.on('connection', (tcp: Socket) => {
      if (tcp.remoteAddress !== undefined) this.#tcpAddresses.set(tcp, tcp.remoteAddress);
    });
    this.#server.on('secureConnection', () => void this.#stats.connections++);
    this.#server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      this.#stats.handshakeFailures++;
      // A refused certificate surfaces as the socket's authorizationError: Node checks the client
      // chain after the handshake and destroys the socket (so the client only sees a reset). The
      // destroyed socket has lost its address by now: take the one noted on the TCP socket under it
      // (best effort: `_parent` is Node's internal link from a server TLS socket to that socket).
      const parent = (socket as unknown as { _parent?: unknown })._parent;
      const address = socket.remoteAddress ?? (parent instanceof Socket ? this.#tcpAddresses.get(parent) : undefined) ?? 'unknown';
      const reason = typeof socket.authorizationError === 'string' ? socket.authorizationError : (socket.authorizationError?.message ?? err.code ?? err.message);
      if (this.#throttle.allow(`tls ${address} ${reason}`)) {
        o.log('warn', 'peer API: refused a TLS client', { address, reason });
      }
    });
  }

  /** Registers a handler for `method path` (exact path; the query string is ignored). */
  route(method: HttpMethod, path: string, handler: RouteHandler): this {
    if (!path.startsWith('/')) throw new TypeError(`route path must start with '/': ${path}`);
    let byMethod = this.#routes.get(path);
    if (byMethod === undefined) this.#routes.set(path, (byMethod = new Map()));
    if (byMethod.has(method)) throw new TypeError(`route ${method} ${path} is already registered`);
    byMethod.set(method, { method, handler });
    return this;
  }

  /** Starts listening; port 0 picks a free port (see the result). */
  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#server.once('error', onError);
      this.#server.listen({ port, host, exclusive: true }, () => {
        this.#server.off('error', onError);
        this.#server.on('error', (err) => this.#opts.log('error', 'peer API server error', { reason: err.message }));
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  address(): AddressInfo | null {
    const a = this.#server.address();
    return a !== null && typeof a === 'object' ? a : null;
  }

  stats(): PeerServerStats {
    return { ...this.#stats, errors: { ...this.#stats.errors } };
  }

  /** Stops accepting connections and closes the open ones (requests in progress are cut). */
  close(): Promise<void> {
    this.#closing = true;
    return new Promise((resolve) => {
      if (!this.#server.listening) return resolve();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#stats.requests++;
    try {
      if (this.#closing) throw new PeerError(503, 'SHUTTING_DOWN', 'the node is shutting down');
      const peer = this.#identify(req);
      const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
      const byMethod = this.#routes.get(path);
      if (byMethod === undefined) throw new PeerError(404, 'NOT_FOUND', `no route ${path}`);
      const route = byMethod.get(req.method as HttpMethod);
      if (route === undefined) {
        res.setHeader('allow', [...byMethod.keys()].join(', '));
        throw new PeerError(405, 'METHOD_NOT_ALLOWED', `${req.method ?? '?'} is not allowed on ${path}`);
      }
      const body = await readJsonBody(req, this.#opts.bodyLimitBytes);
      const result = await this.#run(route.handler, body, peer, req);
      this.#send(res, 200, result === undefined ? null : result);
    } catch (err) {
      this.#fail(req, res, err);
    }
  }

  #identify(req: IncomingMessage): PeerIdentity {
    const socket = req.socket as TLSSocket;
    // rejectUnauthorized already refused unverified clients during the handshake; check again anyway.
    if (socket.authorized !== true) throw new PeerError(401, 'BAD_IDENTITY', 'client certificate not verified');
    const nodeName = certificateNodeName(socket.getPeerCertificate());
    if (nodeName === undefined) {
      this.#stats.refusedIdentity++;
      throw new PeerError(403, 'BAD_IDENTITY', 'client certificate has no single node name (CN)');
    }
    if (this.#opts.knownNodes !== undefined && !this.#opts.knownNodes(nodeName)) {
      this.#stats.refusedIdentity++;
      throw new PeerError(403, 'UNKNOWN_NODE', `node ${nodeName} is not a member of this cluster`);
    }
    return { nodeName, address: socket.remoteAddress ?? '' };
  }

  async #run(handler: RouteHandler, body: unknown, peer: PeerIdentity, req: IncomingMessage): Promise<unknown> {
    const controller = new AbortController();
    const onClose = (): void => controller.abort(new Error('client went away'));
    req.socket.once('close', onClose);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new PeerError(503, 'HANDLER_TIMEOUT', `no answer within ${this.#opts.handlerTimeoutMs} ms`);
        controller.abort(err);
        reject(err);
      }, this.#opts.handlerTimeoutMs);
    });
    try {
      return await Promise.race([Promise.resolve().then(() => handler(body, peer, { signal: controller.signal })), deadline]);
    } finally {
      clearTimeout(timer);
      req.socket.off('close', onClose);
    }
  }

  #fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    let status = 500;
    let body: PeerErrorBody = { error: 'internal error', code: 'INTERNAL' };
    if (err instanceof PeerError) {
      status = err.status;
      body = { error: err.message, code: err.code };
    } else {
      this.#opts.log('error', 'peer API handler failed', { path: req.url ?? '', reason: err instanceof Error ? err.message : String(err) });
    }
    this.#stats.errors[body.code] = (this.#stats.errors[body.code] ?? 0) + 1;
    if (status === 413 || status === 400 || status === 415) {
      // The rest of the request may still be arriving: let Node discard it, then close.
      res.setHeader('connection', 'close');
      res.once('finish', () => setTimeout(() => req.socket.destroy(), 2_000).unref());
    }
    this.#send(res, status, body);
  }

  #send(res: ServerResponse, status: number, value: unknown): void {
    if (res.headersSent || res.destroyed) return;
    let text: string;
    try {
      text = JSON.stringify(value);
    } catch (err) {
      this.#opts.log('error', 'peer API handler returned a value that is not JSON', { reason: err instanceof Error ? err.message : String(err) });
      status = 500;
      text = JSON.stringify({ error: 'internal error', code: 'INTERNAL' } satisfies PeerErrorBody);
    }
    const data = Buffer.from(text, 'utf8');
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': data.length, 'cache-control': 'no-store' });
    res.end(data);
  }
}
