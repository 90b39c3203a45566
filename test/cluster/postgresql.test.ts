// The PostgreSQL module (modules/postgresql) on a real two-node mirror cluster with synchronous
// replication of its data directory: crash of the primary's host under load.
//
// From the client host w, through the VIP: a ledger client commits uniquely numbered rows one
// transaction at a time (psql; an id counts as acknowledged once its COMMIT was answered) while
// pgbench runs the builtin TPC-B-like script with 4 clients (per-transaction log). Then the
// primary's host crashes (links cut, every process killed). Checked:
//  - the secondary takes over alone; PostgreSQL recovers from the replicated data directory; the
//    ledger client reconnects through the VIP and commits again; a new pgbench run completes;
//  - every acknowledged ledger id is on the new primary (count and set difference), with its
//    content, and no row that was never sent;
//  - pgbench's tables are consistent: each TPC-B transaction adds the same delta to one account,
//    one teller and one branch and inserts one history row with that delta, atomically, starting
//    from all balances 0 and an empty history, so sum(abalance) = sum(tbalance) = sum(bbalance) =
//    sum(history.delta) holds in every committed state; and history has at least one row per
//    transaction pgbench saw committed (at most one more per client whose connection was cut);
//  - amcheck finds no corruption in the tables and their B-tree indexes;
//  - the crashed host boots again: its node comes back as SECOND (never primary), PostgreSQL does
//    not run there, and once the pair is formed the two replicas are equal byte for byte
//    (postmaster.pid / postmaster.opts excluded: the module does not replicate them);
//  - an operator swap then stops PostgreSQL on the survivor with a fast shutdown (clean: no
//    recovery at the next start) and starts it on the revived node, whose copy serves the same
//    ledger and pgbench tables;
//  - never two primaries (agents' reports) and never a postmaster on both nodes (/proc).
// In this test the hosts share the machine's /run (socket_dir is per run, not per host), and a
// crashed host's processes die a few ms after its links: the new primary's first start may find
// the old postmaster's socket lock still live and fail once; the agent starts it again.
// Needs Debian's postgresql-15 (server, pgbench) and postgresql-client-15 (psql, pg_isready):
// skipped with the reason when they are missing (the fixture installs nothing).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PACKAGE_ROOT } from '../../compiler/validate/schema-file.js';
import { netnsSkipReason } from '../harness/index.js';
import { diffSnapshots, snapshot } from '../replication/fixture.js';
import { APP_PORT, logTail, startMirrorCluster, until, type Cluster } from './fixture.js';
import { LEDGER_DDL, PG_BIN, conninfo, pgSkipReason, sql, sqlRetries, startLedgerClient, startPgbench } from '../workload/pg-ledger.js';

type NodeName = 'n1' | 'n2';
const MODULE = 'postgresql';
/** The module's replication excludes (modules/postgresql/module.yaml), relative to data_dir. */
const EXCLUDED = ['pgdata/postmaster.pid', 'pgdata/postmaster.opts'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Live postmasters of a node (its processes whose command is the server binary itself; the
 * postmaster's children rename themselves "postgres: ..."). */
function postmasters(c: Cluster, node: NodeName): number[] {
  let pids: number[];
  try {
    pids = c.hosts[node].processes();
  } catch {
    return [];
  }
  return pids.filter((pid) => {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith(`${PG_BIN}/postgres\0`)) return false;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return !'ZXx'.includes(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
    } catch {
      return false;
    }
  });
}

function moduleLogs(c: Cluster, lines = 40): string {
  const out = [logTail(c.root, lines)];
  for (const n of ['n1', 'n2'] as const) {
    try {
      out.push(`--- ${n}/logs/${MODULE}.log`, ...readFileSync(join(c.dataDir(n), 'logs', `${MODULE}.log`), 'utf8').trimEnd().split('\n').slice(-lines));
    } catch { /* none */ }
  }
  return out.join('\n');
}

/** The replicas' differences (empty: equal), read from each node's disk, excluded paths left out. */
function compareReplicas(c: Cluster): string[] {
  const snap = (n: NodeName) => {
    const s = snapshot(c.diskOf(n));
    for (const k of [...s.keys()]) if (EXCLUDED.some((e) => k === e || k.startsWith(`${e}/`))) s.delete(k);
    return s;
  };
  return diffSnapshots(snap('n1'), snap('n2'));
}

test('postgresql module: host crash of the primary under a ledger client and pgbench: every acknowledged commit kept, TPC-B sums consistent, the old primary returns as SECOND', {
  skip: netnsSkipReason() ?? pgSkipReason(),
  timeout: 300_000,
}, async (t) => {
  // Unix socket directory of the servers: per run (the test hosts share the machine's /run).
  const sockDir = `/run/hamod-pgtest-${process.pid}-${randomBytes(3).toString('hex')}`;
  t.after(() => rmSync(sockDir, { recursive: true, force: true }));
  const logDir = mkdtempSync(join(tmpdir(), 'hamod-pgbench-'));
  t.after(() => rmSync(logDir, { recursive: true, force: true }));

  const t0 = Date.now();
  const note = (s: string) => t.diagnostic(`+${((Date.now() - t0) / 1000).toFixed(1)}s ${s}`);
  const c = await startMirrorCluster(t, {
    moduleDir: join(PACKAGE_ROOT, 'modules/postgresql'),
    params: { clients: '198.18.0.0/15', client_auth: 'trust', socket_dir: sockDir },
  });
  c.monitor.start();
  t.after(() => c.monitor.stop());
  const fail = (msg: string) => new Error(`${msg}\n${moduleLogs(c)}`);

  // PostgreSQL never runs on both nodes at once (sampled from /proc every 50 ms).
  const overlaps: string[] = [];
  const sampler = setInterval(() => {
    const a = postmasters(c, 'n1');
    const b = postmasters(c, 'n2');
    if (a.length > 0 && b.length > 0 && overlaps.length < 20) overlaps.push(`postmaster on both nodes: n1 ${a.join(',')}, n2 ${b.join(',')} at ${new Date().toISOString()}`);
  }, 50);
  t.after(() => clearInterval(sampler));

  const p = await c.waitFor('a primary and a secondary', (x) => (x.n1 === 'PRIM' && x.n2 === 'SECOND') || (x.n2 === 'PRIM' && x.n1 === 'SECOND'), 90_000);
  const prim: NodeName = p.n1 === 'PRIM' ? 'n1' : 'n2';
  const second: NodeName = prim === 'n1' ? 'n2' : 'n1';
  note(`${prim} PRIM (initdb done, server ready), ${second} SECOND`);
  const w = c.hosts.w;
  const conn = conninfo(c.vip, APP_PORT);
  await until(async () => (await w.exec([`${PG_BIN}/pg_isready`, '-q', '-h', c.vip, '-p', String(APP_PORT)])).code === 0, 20_000, 'the server to answer at the VIP').catch((e: Error) => { throw fail(e.message); });

  // ---- schema: the ledger and pgbench's tables (scale 2: 200,000 accounts), through the VIP
  await sql(w, conn, LEDGER_DDL);
  const init = await w.exec([`${PG_BIN}/pgbench`, '-i', '-s', '2', '-q', conn], { timeoutMs: 120_000 });
  if (init.code !== 0) throw fail(`pgbench -i: ${init.stderr}`);
  await sql(w, conn, 'CREATE EXTENSION amcheck');
  note('schema created: ledger, pgbench tables (scale 2), amcheck');

  // ---- load: ledger client + pgbench (4 clients), then the crash
  const ledger = startLedgerClient(w, conn);
  t.after(() => ledger.stop());
  const benchA = startPgbench(w, conn, ['-c', '4', '-j', '2', '-T', '600'], logDir, 'before');
  t.after(() => benchA.kill());
  await sleep(10_000);
  if (ledger.acked.length < 10) throw fail(`the ledger client got only ${ledger.acked.length} acknowledgements in 10 s (${ledger.ends.join(' | ')})`);
  const ackedBefore = ledger.acked.length;
  const benchBefore = benchA.committed();
  note(`before the crash: ${ackedBefore} ledger commits acknowledged; pgbench running (${benchBefore} transactions logged so far)`);

  await c.net.killHost(c.hosts[prim]);
  // Commits acknowledged while the harness was still cutting the links came from the old primary.
  const crashedAt = Date.now();
  note(`host ${prim} crashed`);
  await c.waitFor(`${second} to run alone`, (x) => x[second] === 'ALONE', 60_000).catch((e: Error) => { throw fail(e.message); });
  note(`${second} ALONE`);
  await until(() => ledger.ackedSince(crashedAt) >= 20, 60_000, 'the ledger client to commit again through the VIP').catch((e: Error) => {
    throw fail(`${e.message}: ${ledger.ends.slice(-5).join(' | ')}`);
  });
  const firstAck = ledger.ackedAt.find((at) => at >= crashedAt)!;
  note(`ledger client committing again ${firstAck - crashedAt} ms after the crash (${ledger.connections} connections so far)`);

  // pgbench's clients lost their connections: it ends by itself (keepalives / RST from the new primary).
  const ra = await Promise.race([benchA.result, sleep(30_000).then(() => null)]);
  if (ra === null) {
    benchA.kill();
    throw fail('pgbench (before the crash) did not end within 30 s of the failover');
  }
  const benchAcked = benchA.committed();
  note(`pgbench before the crash ended (${ra.code ?? ra.signal}): ${benchAcked} transactions committed; ${ra.stderr.split('\n').filter((l) => /client \d+ aborted/.test(l)).length} client(s) aborted`);
  // A fresh pgbench on the new primary.
  const benchB = startPgbench(w, conn, ['-c', '4', '-j', '2', '-T', '8'], logDir, 'after');
  const rb = await benchB.result;
  if (rb.code !== 0) throw fail(`pgbench after the failover: exit ${rb.code ?? rb.signal}: ${rb.stderr}`);
  const benchBcked = benchB.committed();
  note(`pgbench on the new primary: ${benchBcked} transactions committed (${/tps = [\d.]+/.exec(rb.stdout)?.[0] ?? '?'})`);
  await ledger.stop();
  note(`ledger client stopped: ${ledger.acked.length} acknowledged, ${ledger.uncertain.length} uncertain (sent when a connection was lost or could not be made), ${ledger.connections} connections`);
  for (const e of [...new Set(ledger.ends.map((x) => x.replace(/\d+\.\d+\.\d+\.\d+/g, 'ADDR')))]) note(`  psql ended: ${e}`);

  // ---- checks on the new primary, through the VIP
  const present = new Set((await sql(w, conn, 'SELECT id FROM ledger ORDER BY id', 60_000)).split('\n').filter(Boolean).map(Number));
  const missing = ledger.acked.filter((id) => !present.has(id));
  const sent = new Set([...ledger.acked, ...ledger.uncertain]);
  const unexpected = [...present].filter((id) => !sent.has(id));
  const badContent = Number(await sql(w, conn, "SELECT count(*) FROM ledger WHERE amount <> (id * 7919) % 100000 OR note <> 'entry ' || id"));
  note(`ledger: ${present.size} rows; acknowledged ${ledger.acked.length}, missing ${missing.length}, unexpected ${unexpected.length}, wrong content ${badContent}`);
  assert.deepEqual(missing.slice(0, 20), [], `acknowledged ledger ids missing after the failover (${missing.length})`);
  assert.deepEqual(unexpected.slice(0, 20), [], 'ledger rows nobody sent');
  assert.equal(badContent, 0, 'ledger rows with the wrong content');
  assert.ok(present.size >= ledger.acked.length && present.size <= ledger.acked.length + ledger.uncertain.length);

  const [abal, tbal, bbal, hdelta, hcount] = (await sql(w, conn,
    'SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(tbalance) FROM pgbench_tellers), (SELECT sum(bbalance) FROM pgbench_branches), (SELECT coalesce(sum(delta), 0) FROM pgbench_history), (SELECT count(*) FROM pgbench_history)')).split('|').map(Number);
  note(`pgbench: sum(abalance)=${abal} sum(tbalance)=${tbal} sum(bbalance)=${bbal} sum(history.delta)=${hdelta}; history ${hcount} rows for ${benchAcked} + ${benchBcked} committed transactions`);
  assert.equal(abal, hdelta, 'sum(abalance) = sum(history.delta)');
  assert.equal(tbal, hdelta, 'sum(tbalance) = sum(history.delta)');
  assert.equal(bbal, hdelta, 'sum(bbalance) = sum(history.delta)');
  assert.ok(hcount! >= benchAcked + benchBcked, `every transaction pgbench saw committed has its history row (${hcount} < ${benchAcked + benchBcked})`);
  assert.ok(hcount! <= benchAcked + benchBcked + 4 + 4, `history has no transaction pgbench never ran (${hcount})`);

  // bt_index_check raises an error on corruption (sql() then rejects); it returns nothing otherwise.
  const checked = await sql(w, conn, "SELECT count(*) FROM (SELECT bt_index_check(c.oid, true) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace WHERE a.amname = 'btree' AND n.nspname = 'public') x", 120_000);
  const heap = await sql(w, conn, "SELECT count(*) FROM (SELECT * FROM verify_heapam('ledger') UNION ALL SELECT * FROM verify_heapam('pgbench_accounts') UNION ALL SELECT * FROM verify_heapam('pgbench_history') UNION ALL SELECT * FROM verify_heapam('pgbench_tellers') UNION ALL SELECT * FROM verify_heapam('pgbench_branches')) x", 120_000);
  note(`amcheck: ${checked} B-tree indexes checked (heapallindexed), heap problems: ${heap}`);
  assert.equal(heap, '0', 'verify_heapam found problems');

  // ---- the crashed host boots again: back as SECOND, never primary; replicas equal once in sync
  const revivedAt = Date.now();
  await c.reviveNode(prim);
  await c.waitFor(`${prim} back as SECOND and ${second} PRIM`, (x) => x[prim] === 'SECOND' && x[second] === 'PRIM', 120_000).catch((e: Error) => { throw fail(e.message); });
  const secondLog = readFileSync(join(c.dataDir(second), 'logs', `${MODULE}.log`), 'utf8').split('\n');
  const resync = secondLog.filter((l) => / in sync with the peer \(\d+ bytes sent\)/.test(l)).pop();
  const kind = secondLog.filter((l) => /reintegrating the peer: /.test(l)).pop()?.replace(/.*reintegrating the peer: /, '');
  note(`${prim} SECOND again (${Date.now() - revivedAt} ms after it booted), ${second} PRIM; reintegration: ${kind ?? '?'}, ${/\((\d+) bytes sent\)/.exec(resync ?? '')?.[1] ?? '?'} bytes sent`);
  // the crashed primary's activity log bounds what it may have written alone: no full pass
  assert.match(kind ?? '', /^changed zones after a crash/, `reintegration of the crashed primary: ${kind}`);
  assert.ok(!c.monitor.seen(prim, revivedAt).some((s) => s === 'PROMOTING' || s === 'STARTING_PRIM' || s === 'PRIM' || s === 'ALONE'), `${prim} never tried to be primary after its return: ${c.monitor.seen(prim, revivedAt).join(' > ')}`);
  assert.deepEqual(postmasters(c, prim), [], `no PostgreSQL on ${prim}`);
  const queryAt = Date.now();
  assert.equal(Number(await sql(w, conn, 'SELECT count(*) FROM ledger')), present.size, 'the primary still serves the ledger');
  note(`the primary answered a new connection ${Date.now() - queryAt} ms after ${prim} was SECOND`);
  // Idle server, flushed: the replicas must then compare equal (retried: a background write may be in flight).
  await sql(w, conn, 'CHECKPOINT');
  let diff: string[] = [];
  for (const end = Date.now() + 15_000; ;) {
    diff = compareReplicas(c);
    if (diff.length === 0 || Date.now() > end) break;
    await sleep(500);
  }
  assert.deepEqual(diff.slice(0, 20), [], 'replicas equal after the reintegration');
  note('replicas equal (excluded: postmaster.pid, postmaster.opts)');

  // ---- operator swap: fast shutdown on the survivor, the revived node's copy serves everything
  const swapAt = Date.now();
  const sw = await c.cli(['swap', MODULE, '--data-dir', c.dataDir(second)]);
  assert.equal(sw.code, 0, `swap: ${sw.stdout}${sw.stderr}`);
  await c.waitFor(`${prim} PRIM and ${second} SECOND after the swap`, (x) => x[prim] === 'PRIM' && x[second] === 'SECOND', 90_000).catch((e: Error) => { throw fail(e.message); });
  await until(async () => (await w.exec([`${PG_BIN}/pg_isready`, '-q', '-h', c.vip, '-p', String(APP_PORT)])).code === 0, 20_000, 'the server to answer at the VIP after the swap');
  note(`swapped in ${Date.now() - swapAt} ms: ${prim} PRIM, ${second} SECOND`);
  const logOf = (n: NodeName) => readFileSync(join(c.dataDir(n), 'logs', `${MODULE}.log`), 'utf8').split('\n').filter((l) => Date.parse(l.slice(0, 24)) >= swapAt);
  const stopLog = logOf(second).join('\n');
  assert.match(stopLog, /received fast shutdown request/, `${second} stopped PostgreSQL with a fast shutdown`);
  assert.match(stopLog, /database system is shut down/, `${second}'s PostgreSQL shut down cleanly`);
  assert.doesNotMatch(logOf(prim).join('\n'), /automatic recovery in progress/, `${prim} started from a cleanly shut down copy (no recovery)`);
  const after = new Set((await sql(w, conn, 'SELECT id FROM ledger', 60_000)).split('\n').filter(Boolean).map(Number));
  assert.equal(after.size, present.size, `the ledger on ${prim} after the swap`);
  assert.deepEqual(ledger.acked.filter((id) => !after.has(id)).slice(0, 20), [], `acknowledged ids on ${prim} after the swap`);
  const sums = (await sql(w, conn, 'SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(delta) FROM pgbench_history), (SELECT count(*) FROM pgbench_history)')).split('|').map(Number);
  assert.deepEqual(sums, [hdelta, hdelta, hcount], `pgbench's tables on ${prim} after the swap`);
  note(`${prim}'s copy (reintegrated after its crash) serves the same ledger (${after.size} rows) and pgbench tables`);

  c.monitor.stop();
  clearInterval(sampler);
  assert.deepEqual(c.monitor.violations, [], 'never two primaries');
  assert.deepEqual(overlaps, [], 'PostgreSQL never ran on both nodes at once');
  for (const r of sqlRetries) note(`connection made again: ${r}`);
  note(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});
