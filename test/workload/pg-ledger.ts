// PostgreSQL workloads run from a test host (psql and pgbench of Debian's postgresql-client-15 /
// postgresql-15): a ledger client that commits uniquely numbered rows one transaction at a time and
// records which commits were acknowledged, and pgbench runs with their per-transaction logs.
//
// The ledger client is one long-running psql reading statements from a pipe: an INSERT (autocommit:
// one transaction), then `\echo ack N`, which psql prints only once the INSERT's COMMIT has been
// answered. The next row is sent after that acknowledgement. When the connection is lost (psql
// exits: ON_ERROR_STOP), the row in flight is "uncertain" (committed or not) and a new psql is
// started until it connects again (the first row goes once psql has echoed `connected`).
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestHost } from '../harness/index.js';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

/** Why the PostgreSQL tests cannot run on this machine, or undefined. */
export function pgSkipReason(): string | undefined {
  for (const f of [`${PG_BIN}/postgres`, `${PG_BIN}/initdb`, `${PG_BIN}/pg_isready`, `${PG_BIN}/pgbench`, `${PG_BIN}/psql`]) {
    try {
      accessSync(f, constants.X_OK);
    } catch {
      return `${f} missing (Debian packages postgresql-15 and postgresql-client-15)`;
    }
  }
  return undefined;
}

/** libpq connection string to the server; keepalives and a user timeout so that a connection to a
 * crashed host fails in seconds instead of waiting for TCP's defaults (hours). */
export function conninfo(host: string, port: number, extra = ''): string {
  return `host=${host} port=${port} user=postgres dbname=postgres connect_timeout=2 keepalives=1 keepalives_idle=1 keepalives_interval=1 keepalives_count=3 tcp_user_timeout=3000 ${extra}`.trim();
}

/** libpq's messages for a connection that was never made: nothing was sent, a retry is safe. */
const NOT_CONNECTED = /timeout expired|Connection refused|could not connect to server|No route to host/;

/** Connections `sql()` had to make again, with why (a test reports them). */
export const sqlRetries: string[] = [];

/** One SQL command through psql on `host`; rejects on failure. A connection that could not be made
 * (the server or the machine busy past connect_timeout, say) is tried again until `timeoutMs`, and
 * recorded in `sqlRetries`; any other failure rejects at once. */
export async function sql(host: TestHost, conn: string, query: string, timeoutMs = 30_000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const left = timeoutMs - (Date.now() - t0);
    const r = await host.exec([`${PG_BIN}/psql`, conn, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', query], { timeoutMs: Math.max(left, 1000) });
    if (r.code === 0) return r.stdout.trim();
    const why = `psql -c ${JSON.stringify(query.slice(0, 120))}: exit ${r.code ?? r.signal}: ${r.stderr.trim()}`;
    if (r.code !== 2 || !NOT_CONNECTED.test(r.stderr) || Date.now() - t0 > timeoutMs - 1000) throw new Error(why);
    sqlRetries.push(`${new Date().toISOString()} after ${Date.now() - t0} ms: ${why}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** The row a ledger client writes for id `n` (checked back on the server). */
export const ledgerAmount = (n: number): number => (n * 7919) % 100_000;
export const ledgerNote = (n: number): string => `entry ${n}`;
export const LEDGER_DDL = 'CREATE TABLE ledger(id bigint PRIMARY KEY, amount int NOT NULL, note text NOT NULL)';

export interface LedgerClient {
  /** Ids whose commit was acknowledged, in order. */
  readonly acked: number[];
  /** Wall-clock ms of each acknowledgement (same index as `acked`). */
  readonly ackedAt: number[];
  /** Ids in flight when a connection was lost: committed or not, both are correct. */
  readonly uncertain: number[];
  /** Connections made (1 + reconnections). */
  readonly connections: number;
  /** Why each psql ended (stderr's last line). */
  readonly ends: string[];
  /** Number of acknowledgements at or after `since` (ms since the epoch). */
  ackedSince(since: number): number;
  stop(): Promise<void>;
}

export function startLedgerClient(host: TestHost, conn: string, opts: { firstId?: number; ackTimeoutMs?: number; retryMs?: number } = {}): LedgerClient {
  const acked: number[] = [];
  const ackedAt: number[] = [];
  const uncertain: number[] = [];
  const ends: string[] = [];
  let connections = 0;
  let next = opts.firstId ?? 1;
  let stopping = false;
  let child: ChildProcess | null = null;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));

  const runOne = () => {
    if (stopping) {
      done();
      return;
    }
    connections++;
    let p: ChildProcess;
    try {
      p = host.spawn([`${PG_BIN}/psql`, conn, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1'], { stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      // The test hosts are gone (a failing test's cleanup): nothing more to do.
      ends.push(`cannot start psql: ${(e as Error).message}`);
      stopping = true;
      done();
      return;
    }
    child = p;
    let inflight: number | null = null;
    let buf = '';
    let err = '';
    let timer: NodeJS.Timeout | null = null;
    const send = () => {
      if (stopping) {
        p.stdin?.end();
        return;
      }
      const id = next++;
      inflight = id;
      p.stdin?.write(`INSERT INTO ledger VALUES (${id}, ${ledgerAmount(id)}, '${ledgerNote(id)}');\n\\echo ack ${id}\n`);
      if (timer) clearTimeout(timer);
      // A connection stuck on a dead server: end it (counts as a lost connection).
      timer = setTimeout(() => { try { if (p.pid) process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } }, opts.ackTimeoutMs ?? 15_000);
    };
    p.stdin?.on('error', () => {});
    p.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    p.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line === 'connected' && inflight === null) {
          send();
          continue;
        }
        const m = /^ack (\d+)$/.exec(line);
        if (m && Number(m[1]) === inflight) {
          acked.push(inflight);
          ackedAt.push(Date.now());
          inflight = null;
          send();
        }
      }
    });
    p.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (inflight !== null) uncertain.push(inflight);
      ends.push(`${code ?? signal}: ${err.trim().split('\n').pop() ?? ''}`);
      child = null;
      if (stopping) done();
      else setTimeout(runOne, opts.retryMs ?? 200);
    });
    // psql connects before it reads its input: this line comes back once the connection is made
    // (a failed connection attempt sends no row).
    p.stdin?.write('\\echo connected\n');
  };
  runOne();

  return {
    acked, ackedAt, uncertain, ends,
    get connections() { return connections; },
    ackedSince: (since) => ackedAt.filter((t) => t >= since).length,
    stop: async () => {
      stopping = true;
      const c = child;
      if (c) {
        c.stdin?.end();
        const kill = setTimeout(() => { try { if (c.pid) process.kill(-c.pid, 'SIGKILL'); } catch { /* gone */ } }, 5_000);
        await finished;
        clearTimeout(kill);
      } else await finished;
    },
  };
}

export interface PgbenchRun {
  readonly child: ChildProcess;
  /** Resolves when pgbench exits: its code and output. */
  readonly result: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  /** Transactions pgbench saw committed (a line in its per-transaction logs without a failure mark). */
  committed(): number;
  kill(): void;
}

/**
 * pgbench (builtin TPC-B-like script) from `host` with a per-transaction log (`-l`) written under
 * `logDir` (a directory of this machine, also visible in the host) with prefix `prefix`.
 */
export function startPgbench(host: TestHost, conn: string, args: string[], logDir: string, prefix: string): PgbenchRun {
  const child = host.spawn([`${PG_BIN}/pgbench`, '-n', '-l', `--log-prefix=${join(logDir, prefix)}`, ...args, conn], { cwd: logDir });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const result = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    child,
    result,
    committed: () => {
      let n = 0;
      for (const f of readdirSync(logDir).filter((x) => x.startsWith(`${prefix}.`))) {
        for (const line of readFileSync(join(logDir, f), 'utf8').split('\n')) {
          // client_id transaction_no time script_no time_epoch time_us [...]: time is the latency in
          // µs, or `failed` / `skipped` for a transaction that did not commit.
          const f3 = line.split(' ')[2];
          if (f3 !== undefined && /^\d+$/.test(f3)) n++;
        }
      }
      return n;
    },
    kill: () => { try { if (child.pid) process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } },
  };
}
