// tcp checker: a TCP connect to host:port succeeds within the timeout (then the socket is closed).
import { connect } from 'node:net';
import { abortText, deadline, errText, stopwatch, type ProbeCallOptions, type ProbeResult } from './result.js';

export function probeTcp(host: string, port: number, timeoutMs: number, opts: ProbeCallOptions = {}): Promise<ProbeResult> {
  const sw = stopwatch();
  if (!Number.isInteger(port) || port < 1 || port > 65535) return Promise.resolve(sw.result(false, `invalid port ${port}`));
  const signal = deadline(timeoutMs, opts.signal);
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new Promise<ProbeResult>((resolve) => {
    if (signal.aborted) return resolve(sw.result(false, `${where}: ${abortText(signal, timeoutMs)}`));
    let settled = false;
    const socket = connect({ host, port });
    const settle = (ok: boolean, detail: string): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(sw.result(ok, detail));
    };
    const onAbort = (): void => settle(false, `${where}: ${abortText(signal, timeoutMs)}`);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => settle(true, `${where}: connected in ${sw.ms()} ms`));
    socket.once('error', (err) => settle(false, `${where}: ${errText(err)}`));
  });
}
