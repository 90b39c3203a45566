// Jepsen-style records workload (issue 4): a client on the client host sends uniquely numbered,
// checksummed records to the VIP (test/workload/records-client.ts) and reports each acknowledged
// id; the verifier parses a records file written by test/modules/records and checks every line.
//
// A record line is `ID LEN SHA256 PAYLOAD\n` (LEN = payload bytes, SHA256 = hex of the payload).
// The payload of id N is a function of (seed, N) only, so the verifier knows what every line must
// hold: a line with the right checksum but someone else's payload is caught too.
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../compiler/validate/schema-file.js';
import type { TestHost } from '../harness/index.js';
import { rng } from './rng.js';

export const DEFAULT_MAX_PAYLOAD = 2048;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';


/** The payload of record `id` in a run seeded with `seed`: 16..maxSize characters of [A-Za-z0-9_-]. */
export function recordPayload(seed: number, id: number, maxSize = DEFAULT_MAX_PAYLOAD): string {
  const h = createHash('sha256').update(`${seed}:${id}`).digest();
  const r = rng(h.readUInt32BE(0));
  const size = 16 + Math.floor(r() * (Math.max(maxSize, 16) - 15));
  let s = '';
  for (let i = 0; i < size; i++) s += ALPHABET[Math.floor(r() * 64)];
  return s;
}

export function sha256hex(s: string | Buffer): string {
  return createHash('sha256').update(s).digest('hex');
}

/** The line the application writes for a record (what the verifier expects). */
export function recordLine(id: number, payload: string): string {
  return `${id} ${payload.length} ${sha256hex(payload)} ${payload}\n`;
}

export interface VerifyOptions {
  /** Ids the application acknowledged (HTTP 200): each must be present, intact, exactly once. */
  acked: ReadonlySet<number>;
  /** When given, every payload must be `recordPayload(seed, id, maxPayload)`. */
  seed?: number;
  maxPayload?: number;
  /** Ids the client ever sent: a line with an id outside this set is a failure. */
  attempted?: ReadonlySet<number>;
}

export interface VerifyResult {
  ok: boolean;
  /** Failures, each a sentence with the line number / offset. */
  problems: string[];
  /** Tolerated oddities (an unacknowledged torn or corrupt last line). */
  notes: string[];
  /** Ids of the valid lines. */
  present: Set<number>;
  /** Acknowledged ids not found (sorted). */
  missingAcked: number[];
  /** Number of complete, valid lines. */
  valid: number;
}

const LINE = /^(\d+) (\d+) ([0-9a-f]{64}) ([^\n]*)$/;

/**
 * Checks a records file. Every complete line must parse, have the right length and checksum (and
 * payload, with `seed`) and appear once; the only tolerated damage is the last line (complete or
 * torn) when its record was not acknowledged — a write in flight when a node died. Every
 * acknowledged id must be present.
 */
export function verifyRecords(content: Buffer | string, o: VerifyOptions): VerifyResult {
  const text = typeof content === 'string' ? content : content.toString('latin1');
  const problems: string[] = [];
  const notes: string[] = [];
  const present = new Set<number>();
  const firstLine = new Map<number, number>();
  const pieces = text.split('\n');
  // The piece after the last newline: '' for a file ending with a newline, else a torn tail.
  const tail = pieces.pop() ?? '';
  const idOf = (line: string): number | null => {
    const m = /^(\d+) /.exec(line);
    return m ? Number(m[1]) : null;
  };
  const describe = (line: string) => (line.length > 80 ? `${JSON.stringify(line.slice(0, 80))}... (${line.length} bytes)` : JSON.stringify(line));
  let offset = 0;
  let valid = 0;
  pieces.forEach((line, i) => {
    const lineNo = i + 1;
    const at = offset;
    offset += Buffer.byteLength(line, 'latin1') + 1;
    const m = LINE.exec(line);
    let why: string | null = null;
    if (!m) why = 'malformed line';
    else if (Number(m[2]) !== m[4]!.length) why = `length field ${m[2]} but payload of ${m[4]!.length} bytes`;
    else if (sha256hex(Buffer.from(m[4]!, 'latin1')) !== m[3]) why = 'checksum mismatch';
    else if (o.seed !== undefined && m[4] !== recordPayload(o.seed, Number(m[1]), o.maxPayload)) why = `payload is not the one sent for id ${m[1]}`;
    if (why !== null) {
      const id = idOf(line);
      const isLast = i === pieces.length - 1 && tail === '';
      if (isLast && (id === null || !o.acked.has(id))) notes.push(`last line ${lineNo} (offset ${at}) is damaged (${why}) but its record (id ${id ?? '?'}) was never acknowledged: ${describe(line)}`);
      else problems.push(`line ${lineNo} (offset ${at}): ${why}${id !== null ? ` (id ${id}${o.acked.has(id) ? ', acknowledged' : ''})` : ''}: ${describe(line)}`);
      return;
    }
    const id = Number(m![1]);
    if (o.attempted && !o.attempted.has(id)) problems.push(`line ${lineNo} (offset ${at}): id ${id} was never sent by the client`);
    const prev = firstLine.get(id);
    if (prev !== undefined) problems.push(`line ${lineNo} (offset ${at}): id ${id} duplicated (first at line ${prev})`);
    else firstLine.set(id, lineNo);
    present.add(id);
    valid++;
  });
  if (tail !== '') {
    const id = idOf(tail);
    if (id !== null && o.acked.has(id) && !present.has(id)) problems.push(`torn last line (offset ${offset}, no newline) holds acknowledged id ${id}: ${describe(tail)}`);
    else notes.push(`torn last line (offset ${offset}, no newline), record ${id ?? '?'} never acknowledged: ${describe(tail)}`);
  }
  const missingAcked = [...o.acked].filter((id) => !present.has(id)).sort((a, b) => a - b);
  if (missingAcked.length > 0) problems.push(`${missingAcked.length} acknowledged record(s) missing: ${summarizeIds(missingAcked)}`);
  return { ok: problems.length === 0, problems, notes, present, missingAcked, valid };
}

/** `1-5, 9, 12-14` (at most `max` ranges, then `... (N more)`). */
export function summarizeIds(ids: readonly number[], max = 20): string {
  const sorted = [...ids].sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    ranges.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return ranges.length > max ? `${ranges.slice(0, max).join(', ')}, ... (${ranges.length - max} more ranges)` : ranges.join(', ');
}

// ---------------------------------------------------------------------------------------------
// The client, run on the client host

export const CLIENT_JS = join(PACKAGE_ROOT, 'dist/test/workload/records-client.js');

export interface ClientOptions {
  seed: number;
  /** Concurrent requests in flight (default 4). */
  concurrency?: number;
  /** Upper bound on requests per second, all workers together (default 40). */
  rate?: number;
  /** First id (default 1); ids are unique and never reused, even after a failed request. */
  startId?: number;
  maxPayload?: number;
  /** Per-request timeout (ms, default 3000): past it the record is indeterminate. */
  timeoutMs?: number;
}

export interface RecordsClient {
  readonly acked: Set<number>;
  readonly attempted: Set<number>;
  /** Requests that got an error or a non-200 answer (indeterminate: may or may not be written). */
  readonly failed: Map<number, string>;
  /** Acknowledgements by wall-clock time (ms), for the timeline. */
  readonly ackTimes: number[];
  /** Asks the client to stop sending, waits for the requests in flight, resolves when it exited. */
  stop: () => Promise<void>;
  /** Lines the client wrote on stderr (errors of the program itself). */
  readonly stderr: string[];
  readonly child: ChildProcess;
}

/** Starts the records client on `host` (the client host) against `vip:port`. */
export function startRecordsClient(host: TestHost, vip: string, port: number, o: ClientOptions): RecordsClient {
  const args = [
    CLIENT_JS, '--host', vip, '--port', String(port), '--seed', String(o.seed), '--concurrency', String(o.concurrency ?? 4),
    '--rate', String(o.rate ?? 40), '--start-id', String(o.startId ?? 1), '--max-payload', String(o.maxPayload ?? DEFAULT_MAX_PAYLOAD),
    '--timeout-ms', String(o.timeoutMs ?? 3000),
  ];
  const child = host.spawn([process.execPath, ...args]);
  const acked = new Set<number>();
  const attempted = new Set<number>();
  const failed = new Map<number, string>();
  const ackTimes: number[] = [];
  const stderr: string[] = [];
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const [kind, idText, ...rest] = line.split(' ');
      const id = Number(idText);
      if (kind === 'S') attempted.add(id);
      else if (kind === 'A') { acked.add(id); failed.delete(id); ackTimes.push(Date.now()); }
      else if (kind === 'F') failed.set(id, rest.join(' '));
    }
  });
  child.stderr?.on('data', (d: Buffer) => { if (stderr.length < 200) stderr.push(d.toString()); });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
      const timer = setTimeout(() => { try { if (child.pid) process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, (o.timeoutMs ?? 3000) + 5000);
      await exited;
      clearTimeout(timer);
    }
  };
  return { acked, attempted, failed, ackTimes, stop, stderr, child };
}
