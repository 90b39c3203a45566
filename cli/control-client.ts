// The CLI side of the agent's local control API (HTTP/JSON over the Unix socket in the data dir).
import { request } from 'node:http';
import { join } from 'node:path';

export const DEFAULT_DATA_DIR = process.env.HAMOD_DATA_DIR ?? '/var/lib/hamod';

export async function control<T>(dataDir: string, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 30_000): Promise<T> {
  const socketPath = join(dataDir, 'control.sock');
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise<T>((resolve, reject) => {
    const req = request({ socketPath, path, method, headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let parsed: unknown;
        try { parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { reject(new Error(`the agent sent an invalid answer (HTTP ${res.statusCode})`)); return; }
        if ((res.statusCode ?? 500) >= 400 && (parsed as { ok?: boolean }).ok !== false) {
          reject(new Error((parsed as { error?: string }).error ?? `HTTP ${res.statusCode}`));
          return;
        }
        resolve(parsed as T);
      });
    });
    req.on('timeout', () => req.destroy(new Error(`the agent did not answer within ${timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') reject(new Error(`no agent is running with data directory ${dataDir} (start it with \`hamod agent --data-dir ${dataDir}\`)`));
      else if (e.code === 'EACCES') reject(new Error(`permission denied on ${socketPath}: run as the agent's user (root)`));
      else reject(e);
    });
    if (payload) req.write(payload);
    req.end();
  });
}
