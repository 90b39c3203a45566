// Jepsen-style campaign on a real 2-node mirror cluster with synchronous replication (issue 4).
// A client on the client host writes uniquely numbered, checksummed records to the VIP all along
// (each acknowledged only once fdatasync'ed: test/modules/records) while a seeded sequence of
// faults hits the cluster: host crash of the primary (revived later) or of the secondary,
// partition between the nodes (witness reachable by both), freeze of the primary's whole host
// (SIGSTOP) then resume, operator swap, crash of the application. Between faults the cluster is
// healed and either left to re-form completely or, sometimes, hit again as soon as a primary runs
// (compound faults). At the end, once one PRIM and one SECOND are back:
//  - every acknowledged record is present, intact and unique on the primary (disk, and the
//    application's own view through the VIP),
//  - both replicas are equal byte for byte (excluding the module's excluded paths, which each node
//    keeps for itself),
//  - never two primaries (the nodes' reports) and never the application on both nodes (/proc).
// The seed is printed (HAMOD_JEPSEN_SEED replays the same fault sequence; timing still varies).
// HAMOD_JEPSEN_FAULTS sets the number of faults (default 20, the CI-sized run).
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { netnsSkipReason } from '../harness/index.js';
import { APP_PORT, PRIMARY_LIKE, startedPair, until } from './fixture.js';
import { MODULE, RECORDS_MODULE_DIR, compareReplicas, describeNode, getVip, monitorHistory, other, primaryOf, recordsOnDisk, replicasEqual, tailLogs, type NodeName } from '../workload/cluster-util.js';
import { DEFAULT_MAX_PAYLOAD, startRecordsClient, summarizeIds, verifyRecords } from '../workload/records.js';
import { rng } from '../workload/rng.js';

const SEED = process.env.HAMOD_JEPSEN_SEED ? Number(process.env.HAMOD_JEPSEN_SEED) : randomInt(1, 2 ** 31 - 1);
const FAULTS = Number(process.env.HAMOD_JEPSEN_FAULTS ?? 20);
/** A whole host resumed after a freeze runs its application for the few ms before its fence's kill (freeze.test.ts). */
const FENCE_WINDOW_MS = 150;

type FaultKind = 'crash-primary' | 'crash-secondary' | 'partition' | 'freeze-primary' | 'swap' | 'kill-app';
const WEIGHTS: Array<[FaultKind, number]> = [
  ['crash-primary', 3],
  ['partition', 2],
  ['freeze-primary', 2],
  ['swap', 2],
  ['crash-secondary', 1],
  ['kill-app', 1],
];

test(`jepsen: ${FAULTS} seeded faults (seed ${SEED}) with a client writing throughout: every acknowledged record kept, replicas equal, never two primaries`, {
  skip: netnsSkipReason(),
  timeout: 240_000 + FAULTS * 30_000,
}, async (t) => {
  process.stderr.write(`jepsen: seed ${SEED}, ${FAULTS} faults (replay: HAMOD_JEPSEN_SEED=${SEED} HAMOD_JEPSEN_FAULTS=${FAULTS})\n`);
  t.diagnostic(`seed ${SEED} (replay with HAMOD_JEPSEN_SEED=${SEED}), ${FAULTS} faults`);
  const { c, prim: firstPrim } = await startedPair(t, { moduleDir: RECORDS_MODULE_DIR });
  const r = rng(SEED);
  const t0 = Date.now();
  const timeline: string[] = [];
  const note = (s: string) => {
    const line = `+${((Date.now() - t0) / 1000).toFixed(1)}s ${s}`;
    timeline.push(line);
    if (process.env.HAMOD_JEPSEN_VERBOSE) process.stderr.write(`jepsen ${line}\n`);
  };
  const everPrimary = new Set<NodeName>([firstPrim]);
  const thaws: number[] = [];
  const crashed = new Set<NodeName>();
  const frozen = new Set<NodeName>();
  let partitioned = false;
  // Whatever happens, heal before the cluster is destroyed (a frozen host would hang nothing, but
  // the post-mortem logs of HAMOD_TEST_KEEP are more useful from a thawed host).
  t.after(() => { for (const n of frozen) try { c.net.thawHost(c.hosts[n]); } catch { /* gone */ } });

  const client = startRecordsClient(c.hosts.w, c.vip, APP_PORT, { seed: SEED, concurrency: 4, rate: 40, maxPayload: DEFAULT_MAX_PAYLOAD, timeoutMs: 3000 });
  t.after(() => client.stop());
  const context = async (): Promise<string> => {
    const nodes = await Promise.all((['n1', 'n2'] as const).map((n) => describeNode(c, n)));
    return [
      `seed ${SEED} (replay: HAMOD_JEPSEN_SEED=${SEED} HAMOD_JEPSEN_FAULTS=${FAULTS})`,
      `client: ${client.attempted.size} sent, ${client.acked.size} acknowledged, ${client.failed.size} failed/indeterminate${client.stderr.length ? `; client stderr: ${client.stderr.join('').slice(0, 2000)}` : ''}`,
      ...nodes,
      'fault timeline:', ...timeline,
      'states (monitor):', ...monitorHistory(c, t0).slice(-80),
      tailLogs(c, 40),
    ].join('\n');
  };
  const fail = async (msg: string) => new Error(`${msg}\n${await context()}`);

  // Seen primaries, for the excluded-path check (each node keeps its own cache/).
  const watchPrimaries = setInterval(() => {
    const last = c.monitor.timeline[c.monitor.timeline.length - 1];
    if (last) for (const n of ['n1', 'n2'] as const) if (last[n] === 'PRIM' || last[n] === 'ALONE') everPrimary.add(n);
  }, 100);
  t.after(() => clearInterval(watchPrimaries));

  const settle = async (full: boolean, what: string) => {
    try {
      if (full) await c.waitFor(`${what}: a PRIM and a SECOND`, (x) => (x.n1 === 'PRIM' && x.n2 === 'SECOND') || (x.n2 === 'PRIM' && x.n1 === 'SECOND'), 90_000);
      else await c.waitFor(`${what}: a running primary`, (x) => x.n1 !== null && x.n2 !== null && primaryOf(x) !== null && ['PRIM', 'ALONE'].includes(x[primaryOf(x)!] ?? ''), 60_000);
    } catch (e) {
      throw await fail(`the cluster did not recover: ${(e as Error).message.split('\n')[0]}`);
    }
  };
  const pick = (kinds: FaultKind[]): FaultKind => {
    const w = WEIGHTS.filter(([k]) => kinds.includes(k));
    let x = r() * w.reduce((s, [, n]) => s + n, 0);
    for (const [k, n] of w) if ((x -= n) < 0) return k;
    return w[w.length - 1]![0];
  };
  const count = new Map<FaultKind, number>();
  const early: string[] = [];

  let applied = 0;
  for (let attempt = 0; applied < FAULTS && attempt < FAULTS * 3; attempt++) {
    const p = await c.phases();
    const prim = primaryOf(p);
    const pair = prim !== null && p[prim] === 'PRIM' && p[other(prim)] === 'SECOND';
    const kinds: FaultKind[] = ['partition'];
    if (prim !== null) kinds.push('crash-primary', 'freeze-primary', 'kill-app');
    if (prim !== null && p[other(prim)] !== null) kinds.push('crash-secondary');
    if (pair) kinds.push('swap');
    const kind = pick(kinds);
    const hold = 1000 + Math.floor(r() * 3000);
    const full = r() < 0.7;
    const before = `n1=${p.n1} n2=${p.n2}`;
    const acksBefore = client.acked.size;
    switch (kind) {
      case 'crash-primary':
      case 'crash-secondary': {
        const victim = kind === 'crash-primary' ? prim! : other(prim!);
        note(`#${applied + 1} ${kind}: host ${victim} crashes (${before}); revived in ${hold} ms`);
        await c.net.killHost(c.hosts[victim]);
        crashed.add(victim);
        await new Promise((res) => setTimeout(res, hold));
        await c.reviveNode(victim);
        crashed.delete(victim);
        note(`   ${victim} revived`);
        break;
      }
      case 'partition':
        note(`#${applied + 1} partition n1 | n2 (witness reachable by both) (${before}); healed in ${hold} ms`);
        await c.net.partition(c.hosts.n1, c.hosts.n2);
        partitioned = true;
        await new Promise((res) => setTimeout(res, hold));
        await c.net.heal(c.hosts.n1, c.hosts.n2);
        partitioned = false;
        note('   healed');
        break;
      case 'freeze-primary':
        note(`#${applied + 1} freeze-primary: every process of ${prim} stopped (${before}); resumed in ${hold} ms`);
        c.net.freezeHost(c.hosts[prim!]);
        frozen.add(prim!);
        await new Promise((res) => setTimeout(res, hold));
        thaws.push(Date.now());
        c.net.thawHost(c.hosts[prim!]);
        frozen.delete(prim!);
        note(`   ${prim} resumed`);
        break;
      case 'swap': {
        const res = await c.cli(['swap', MODULE, '--data-dir', c.dataDir(prim!)]);
        note(`#${applied + 1} swap on ${prim} (${before}): ${res.code === 0 ? 'accepted' : 'refused'}: ${(res.stdout + res.stderr).trim().split('\n')[0]}`);
        if (res.code !== 0) {
          // Refused (the pair changed meanwhile): not a fault; try another one.
          continue;
        }
        await new Promise((res2) => setTimeout(res2, hold));
        break;
      }
      case 'kill-app': {
        const pids = c.appPids(prim!);
        note(`#${applied + 1} kill-app: SIGKILL of the application on ${prim} (pids ${pids.join(',') || 'none'}) (${before})`);
        for (const pid of pids) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        await new Promise((res) => setTimeout(res, hold));
        break;
      }
    }
    applied++;
    count.set(kind, (count.get(kind) ?? 0) + 1);
    await settle(full, `after fault #${applied} (${kind})`);
    const now = await c.phases();
    note(`   ${full ? 'settled' : 'running'}: n1=${now.n1} n2=${now.n2}; ${client.acked.size - acksBefore} records acknowledged during the fault and recovery`);
    if (full) {
      // Early checks while the client goes on writing (so the fault that lost something is known):
      // every record acknowledged so far is on the primary's disk, and the secondary's records
      // file and the primary's are one a prefix of the other (the last write may be in flight).
      const pr = primaryOf(now);
      if (pr !== null) {
        const ackedSoFar = new Set(client.acked);
        const sec = recordsOnDisk(c, other(pr)) ?? Buffer.alloc(0);
        const pri = recordsOnDisk(c, pr) ?? Buffer.alloc(0);
        const v = verifyRecords(pri, { acked: ackedSoFar, seed: SEED, maxPayload: DEFAULT_MAX_PAYLOAD });
        for (const pb of v.problems.slice(0, 3)) early.push(`after fault #${applied} (${kind}), on the primary ${pr}: ${pb}`);
        const n = Math.min(sec.length, pri.length);
        if (!sec.subarray(0, n).equals(pri.subarray(0, n))) {
          let at = 0;
          while (at < n && sec[at] === pri[at]) at++;
          early.push(`after fault #${applied} (${kind}): the records files of ${pr} (${pri.length} bytes) and ${other(pr)} (${sec.length} bytes) differ at byte ${at}, not only by a tail in flight`);
        }
        if (early.length) note(`   early check: ${early.length} problem(s) so far`);
      }
    }
  }
  if (applied < FAULTS) throw await fail(`only ${applied} faults could be applied`);

  // ---- heal everything, let the pair re-form, stop the client
  for (const n of frozen) c.net.thawHost(c.hosts[n]);
  if (partitioned) await c.net.healAll();
  for (const n of crashed) await c.reviveNode(n);
  await settle(true, 'final');
  const settledAt = Date.now();
  const acksAtSettle = client.acked.size;
  try {
    await until(() => client.acked.size > acksAtSettle + 10, 30_000, 'the client to get acknowledgements from the re-formed pair');
  } catch (e) {
    throw await fail((e as Error).message);
  }
  await client.stop();
  note(`client stopped: ${client.attempted.size} sent, ${client.acked.size} acknowledged, ${client.failed.size} failed/indeterminate`);
  const { prim, second } = await (async () => {
    const p = await c.waitFor('the pair, still', (x) => (x.n1 === 'PRIM' && x.n2 === 'SECOND') || (x.n2 === 'PRIM' && x.n1 === 'SECOND'), 30_000);
    const pr: NodeName = p.n1 === 'PRIM' ? 'n1' : 'n2';
    return { prim: pr, second: other(pr) };
  })();
  c.monitor.stop();

  // ---- checks (all collected, then one assertion with the whole story)
  const problems: string[] = [...early];
  const onDisk = recordsOnDisk(c, prim);
  if (onDisk === null) problems.push(`no records file on the primary ${prim}`);
  const v = verifyRecords(onDisk ?? '', { acked: client.acked, attempted: client.attempted, seed: SEED, maxPayload: DEFAULT_MAX_PAYLOAD });
  for (const pr of v.problems) problems.push(`records on ${prim} (disk): ${pr}`);
  // The application's own view (through the replication mount), via the VIP.
  const viaApp = await getVip(c, '/records', 60);
  if (viaApp === null) problems.push('GET /records through the VIP failed');
  else if (onDisk !== null && viaApp !== onDisk.toString('latin1')) problems.push(`GET /records (${viaApp.length} bytes) differs from ${prim}'s disk (${onDisk.length} bytes)`);
  // Replicas equal byte for byte.
  const diff = await replicasEqual(c, 10_000);
  if (diff.length) problems.push(`replicas differ (${diff.length}): ${diff.slice(0, 20).join('; ')}`);
  const onSecond = recordsOnDisk(c, second);
  if (onSecond !== null && diff.length) {
    const vs = verifyRecords(onSecond, { acked: client.acked, attempted: client.attempted, seed: SEED });
    problems.push(`records on the secondary ${second}: ${vs.valid} valid lines, ${vs.problems.length} problem(s): ${vs.problems.slice(0, 5).join('; ')}`);
  }
  // Excluded paths stay node-local: each node that ran the application keeps its own cache/started.
  for (const n of everPrimary) {
    const f = join(c.diskOf(n), 'cache', 'started');
    const who = existsSync(f) ? readFileSync(f, 'utf8').split(' ')[0] : null;
    if (who !== n) problems.push(`${n}'s cache/started (excluded from replication) says ${who ?? 'nothing'} instead of ${n}`);
  }
  // Never two primaries; never the application on both nodes (except the fence window after a thaw).
  // A node stepping down next to the new primary is not a second primary (Monitor.outgoing); the
  // /proc check below bounds how long its application may still run.
  const outgoing = c.monitor.outgoing;
  if (outgoing.length) t.diagnostic(`${outgoing.length} sample(s) with a fenced node still stopping (STOPPING_PRIM, role none, VIP off) next to the primary, e.g. ${outgoing[0]}`);
  if (c.monitor.violations.length) problems.push(`two primaries: ${c.monitor.violations.slice(0, 5).join('; ')}`);
  const overlaps = c.monitor.appOverlaps.filter((o) => {
    const at = Date.parse(/ at (\S+)$/.exec(o)?.[1] ?? '');
    return !thaws.some((th) => at >= th && at <= th + FENCE_WINDOW_MS);
  });
  if (overlaps.length) problems.push(`application on both nodes: ${overlaps.slice(0, 5).join('; ')}`);
  if (c.monitor.samples < 100) problems.push(`the monitor sampled only ${c.monitor.samples} times`);

  // What the application's recovery cut at its starts (torn tails of unacknowledged batches).
  const recovery = join(c.diskOf(prim), 'recovery.log');
  const recLines = existsSync(recovery) ? readFileSync(recovery, 'utf8').trim().split('\n') : [];
  for (const l of recLines) t.diagnostic(`recovery: ${l}`);
  const droppedAcked: number[] = [];
  try {
    for (const f of readdirSync(join(c.diskOf(prim), 'recovery'))) {
      for (const line of readFileSync(join(c.diskOf(prim), 'recovery', f), 'latin1').split('\n')) {
        const id = Number(/^(\d+) /.exec(line)?.[1] ?? NaN);
        if (client.acked.has(id)) droppedAcked.push(id);
      }
    }
  } catch { /* no recovery directory */ }
  if (droppedAcked.length) problems.push(`the application's recovery cut acknowledged records (found damaged on disk at a start): ${summarizeIds(droppedAcked)}`);

  for (const line of timeline) t.diagnostic(line);
  const kinds = [...count].map(([k, n]) => `${k} x${n}`).join(', ');
  t.diagnostic(`faults: ${kinds}; ${((settledAt - t0) / 1000).toFixed(0)} s of campaign`);
  t.diagnostic(`client: ${client.attempted.size} records sent, ${client.acked.size} acknowledged, ${client.failed.size} failed or indeterminate; ${v.valid} valid lines on ${prim}, ${v.present.size - [...v.present].filter((id) => client.acked.has(id)).length} of them unacknowledged (allowed)`);
  for (const n of v.notes) t.diagnostic(`note: ${n}`);
  if (problems.length) throw await fail(`${problems.length} problem(s):\n- ${problems.join('\n- ')}`);
  assert.ok(client.acked.size > 0);
  assert.deepEqual(compareReplicas(c), []);
  assert.ok(!PRIMARY_LIKE.has((await c.phases())[second] ?? ''));
});
