// http checker: one request (node:http / node:https, no keep-alive, redirects NOT followed: a 3xx
// is judged by its status like any other), status in expectStatus (default 200-399), and, when
// expectBody is set, the first 64 KiB of the body contain it. The deadline covers the whole
// exchange, body included.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { abortText, deadline, errText, stopwatch, type ProbeCallOptions, type ProbeResult } from './result.js';

export const HTTP_BODY_CAP = 64 * 1024;

export interface HttpProbeOptions extends ProbeCallOptions {
  url: string;
  method?: 'GET' | 'HEAD';
  /** Accepted statuses; null / absent: 200-399. */
  expectStatus?: readonly number[] | null;
  /** Substring the body (first 64 KiB, UTF-8) must contain; null / absent: no body check. */
  expectBody?: string | null;
  timeoutMs: number;
  /** https only: accept any certificate (a self-signed local service). Default false. */
  insecure?: boolean;
  headers?: Record<string, string>;
}

const statusOk = (s: number, expect: readonly number[] | null | undefined): boolean =>
  expect == null ? s >= 200 && s <= 399 : expect.includes(s);

export function probeHttp(o: HttpProbeOptions): Promise<ProbeResult> {
  const sw = stopwatch();
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    return Promise.resolve(sw.result(false, `invalid URL "${o.url}"`));
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.resolve(sw.result(false, `unsupported URL scheme ${url.protocol}`));
  const method = o.method ?? 'GET';
  const signal = deadline(o.timeoutMs, o.signal);
  const expectText = o.expectStatus == null ? '200-399' : o.expectStatus.join(',');
  return new Promise<ProbeResult>((resolve) => {
    if (signal.aborted) return resolve(sw.result(false, abortText(signal, o.timeoutMs)));
    let settled = false;
    let res: IncomingMessage | undefined;
    const headers = { 'user-agent': 'hamod-checker', connection: 'close', ...o.headers };
    const req =
      url.protocol === 'https:'
        ? httpsRequest(url, { method, agent: false, headers, rejectUnauthorized: o.insecure !== true })
        : httpRequest(url, { method, agent: false, headers });
    const settle = (ok: boolean, detail: string): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      res?.destroy();
      req.destroy();
      resolve(sw.result(ok, detail));
    };
    const onAbort = (): void => settle(false, `${method} ${o.url}: ${abortText(signal, o.timeoutMs)}`);
    signal.addEventListener('abort', onAbort, { once: true });
    req.once('error', (err) => settle(false, `${method} ${o.url}: ${errText(err)}`));
    req.once('response', (r) => {
      res = r;
      const status = r.statusCode ?? 0;
      if (!statusOk(status, o.expectStatus)) return settle(false, `HTTP ${status} (expected ${expectText})`);
      if (o.expectBody == null) return settle(true, `HTTP ${status}`);
      const want = o.expectBody;
      const chunks: Buffer[] = [];
      let size = 0;
      const judge = (): void => {
        const body = Buffer.concat(chunks).subarray(0, HTTP_BODY_CAP).toString('utf8');
        if (body.includes(want)) settle(true, `HTTP ${status}, body contains ${JSON.stringify(want)}`);
        else settle(false, `HTTP ${status}, body (${size} bytes read) does not contain ${JSON.stringify(want)}`);
      };
      r.on('data', (b: Buffer) => {
        chunks.push(b);
        size += b.length;
        // Judged as soon as the text is there (a streaming body need not end) or the cap is hit.
        if (size >= HTTP_BODY_CAP || Buffer.concat(chunks).includes(want)) judge();
      });
      r.once('end', judge);
      r.once('error', (err) => settle(false, `${method} ${o.url}: body: ${errText(err)}`));
    });
    req.end();
  });
}
