// The local control API: HTTP/JSON on a Unix socket that only the agent's user (root) can open
// (mode 0600 in a 0700-or-stricter data directory). The CLI is its only client.
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readLog } from '../logs/index.js';
import type { Agent } from './agent.js';

const MAX_BODY = 64 * 1024 * 1024;

export class ControlServer {
  readonly #path: string;
  readonly #agent: Agent;
  readonly #server: Server;

  constructor(path: string, agent: Agent) {
    this.#path = path;
    this.#agent = agent;
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  listen(): Promise<void> {
    rmSync(this.#path, { force: true });
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#path, () => {
        chmodSync(this.#path, 0o600);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
      rmSync(this.#path, { force: true });
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      const url = new URL(req.url ?? '/', 'http://local');
      const body = req.method === 'POST' ? await readBody(req) : {};
      const a = this.#agent;
      switch (`${req.method} ${url.pathname}`) {
        case 'GET /v1/status':
          return send(200, { local: a.localStatus(), peer: url.searchParams.get('peer') === '0' ? null : await a.peerStatus() });
        case 'POST /v1/command': {
          const b = body as { module?: string; command?: string; force?: boolean; node?: string };
          if (typeof b.module !== 'string' || typeof b.command !== 'string') return send(400, { error: 'module and command are required' });
          const remote = b.node !== undefined && b.node !== a.name;
          if (remote && b.node !== a.config.nodes.find((n) => n.name !== a.name)?.name) return send(400, { error: `unknown node ${b.node}` });
          const r = remote ? await a.peerCommand(b.module, b.command, b.force === true) : await a.localCommand(b.module, b.command, b.force === true);
          return send(r.ok ? 200 : 409, r);
        }
        case 'POST /v1/modules': {
          const b = body as { bundle?: string; params?: Record<string, string> };
          if (typeof b.bundle !== 'string') return send(400, { error: 'bundle (base64) is required' });
          return send(200, await a.addModule(Buffer.from(b.bundle, 'base64'), b.params ?? {}));
        }
        case 'POST /v1/replication/bandwidth': {
          const b = body as { module?: unknown; bytesPerSec?: unknown };
          const bps = b.bytesPerSec === null ? null : Number(b.bytesPerSec);
          if (typeof b.module !== 'string' || (bps !== null && (!Number.isInteger(bps) || bps <= 0))) return send(400, { error: 'module and bytesPerSec (a positive integer or null) are required' });
          const r = await a.setResyncBandwidth(b.module, bps, true);
          return send(r.ok ? 200 : 409, r);
        }
        case 'GET /v1/logs': {
          const module = url.searchParams.get('module') ?? '';
          if (!/^[a-z][a-z0-9-]{0,62}$/.test(module)) return send(400, { error: 'bad module name' });
          const lines = Math.min(Number(url.searchParams.get('lines') ?? 100) || 100, 100_000);
          const node = url.searchParams.get('node');
          if (node !== null && node !== a.name) return send(200, await a.peerLogs(module, lines));
          return send(200, { lines: await readLog(a.logDir(), module, { lines }) });
        }
        default:
          return send(404, { error: `no route ${req.method} ${url.pathname}` });
      }
    } catch (e) {
      send(400, { error: (e as Error).message });
    }
  }
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) { reject(new Error('request too large')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => {
      try { resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {}); } catch { reject(new Error('invalid JSON')); }
    });
    req.on('error', reject);
  });
}
