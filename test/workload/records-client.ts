// The records client (run on the client host by startRecordsClient in ./records.ts): sends
// `POST /record?id=N` with the payload of id N to HOST:PORT, ids unique and never reused, from
// CONCURRENCY workers together at most RATE requests per second, each on a new connection (so a
// failover is seen at once). stdout, one line per event: `S id` (about to send), `A id`
// (acknowledged: HTTP 200), `F id reason` (error or other status: indeterminate). SIGTERM: stop
// sending, wait for the requests in flight, print `DONE sent acked`, exit 0.
import { request } from 'node:http';
import { parseArgs } from 'node:util';
import { recordPayload } from './records.js';

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    port: { type: 'string', default: '8080' },
    seed: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '4' },
    rate: { type: 'string', default: '40' },
    'start-id': { type: 'string', default: '1' },
    'max-payload': { type: 'string', default: '2048' },
    'timeout-ms': { type: 'string', default: '3000' },
    count: { type: 'string' },
  },
});
const host = values.host;
if (!host) throw new Error('--host is required');
const port = Number(values.port);
const seed = Number(values.seed);
const concurrency = Number(values.concurrency);
const rate = Number(values.rate);
const maxPayload = Number(values['max-payload']);
const timeoutMs = Number(values['timeout-ms']);
const limit = values.count === undefined ? Infinity : Number(values.count);
let nextId = Number(values['start-id']);
const lastId = nextId + limit - 1;
let stopping = false;
let sent = 0;
let acked = 0;
const out = (s: string) => process.stdout.write(`${s}\n`);

function send(id: number): Promise<void> {
  const payload = recordPayload(seed, id, maxPayload);
  out(`S ${id}`);
  sent++;
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok: boolean, why: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (ok) { acked++; out(`A ${id}`); } else out(`F ${id} ${why}`);
      resolve();
    };
    const req = request({ host, port, method: 'POST', path: `/record?id=${id}`, agent: false, headers: { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => finish(res.statusCode === 200 && body === 'ok\n', `status ${res.statusCode} ${body.trim().slice(0, 60)}`));
      res.on('error', (e) => finish(false, e.message));
    });
    const timer = setTimeout(() => { req.destroy(new Error('timeout')); finish(false, 'timeout'); }, timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => finish(false, e.code ?? e.message));
    req.end(payload);
  });
}

async function worker(): Promise<void> {
  const every = (concurrency * 1000) / rate;
  while (!stopping && nextId <= lastId) {
    const started = Date.now();
    await send(nextId++);
    const wait = every - (Date.now() - started);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

process.on('SIGTERM', () => { stopping = true; });
process.on('SIGINT', () => { stopping = true; });
await Promise.all(Array.from({ length: concurrency }, (_, i) => new Promise((r) => setTimeout(r, (i * 1000) / rate)).then(worker)));
out(`DONE ${sent} ${acked}`);
