// A real two-node mirror cluster on test hosts (n1, n2, and w as witness and client): cluster init,
// agents and witness started as real processes in their hosts' network and mount namespaces, the
// example mirror module built and installed. Everything is removed after the test.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { control } from '../../cli/control-client.js';
import type { NodeStatus } from '../../runtime/agent/agent.js';
import { PACKAGE_ROOT } from '../../compiler/validate/schema-file.js';
import { createTestNet, type TestHost, type TestNet } from '../harness/index.js';

export const BIN = join(PACKAGE_ROOT, 'bin/hamod.js');
export const APP_PORT = 8080;

/** n POSTs to the test module's HTTP service through the VIP, from the client host; each must be
 * answered (the service appends a line to visits.log in the replicated directory). */
export async function postVisits(c: Cluster, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await c.hosts.w.exec(['curl', '-sf', '-m', '5', '-X', 'POST', `http://${c.vip}:${APP_PORT}/`], { timeoutMs: 8000 });
    if (r.code !== 0) throw new Error(`POST ${i + 1}/${n} to the VIP not answered (curl ${r.code}): ${r.stderr}`);
  }
}

/** Lines of visits.log on a node's own disk (0 when absent). */
export function visitsOn(c: Cluster, node: 'n1' | 'n2'): number {
  const p = join(c.diskOf(node), 'visits.log');
  return existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter(Boolean).length : 0;
}
export const PRIMARY_LIKE = new Set(['STARTING_PRIM', 'PRIM', 'ALONE', 'STOPPING_PRIM']);

export interface Cluster {
  net: TestNet;
  root: string;
  vip: string;
  hosts: { n1: TestHost; n2: TestHost; w: TestHost };
  dataDir: (node: 'n1' | 'n2') => string;
  startAgent: (node: 'n1' | 'n2') => void;
  status: (node: 'n1' | 'n2') => Promise<NodeStatus | null>;
  cli: (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;
  /** Phases by node as seen now (null: agent not answering). */
  phases: () => Promise<Record<'n1' | 'n2', string | null>>;
  waitFor: (what: string, pred: (p: Record<'n1' | 'n2', string | null>) => boolean, timeoutMs?: number) => Promise<Record<'n1' | 'n2', string | null>>;
  /** GET / on the VIP from the client host: the node that answered, or null. */
  askVip: () => Promise<string | null>;
  monitor: Monitor;
  /** The application's data directory (the same path on both nodes; replicated). */
  appData: string;
  /** Where a node's application data really is on the machine's disk (bind-mounted at appData in
   * the node; read it here to see the node's copy without going through the node's mounts). */
  diskOf: (node: 'n1' | 'n2') => string;
  /** Pid of the agent process of a node (or of the witness) as last started, null when not running. */
  agentPid: (node: 'n1' | 'n2' | 'witness') => number | null;
  /** Kills the witness process (SIGKILL): from then on no witness answers. */
  killWitness: () => void;
  /** Waits until a node's agent answers on its control socket. */
  waitAgent: (node: 'n1' | 'n2', timeoutMs?: number) => Promise<void>;
  /** A crashed host boots again: links up, run-time addresses (the VIP) gone, its application data
   * (on disk) bind-mounted again, its agent started (same data dir). */
  reviveNode: (node: 'n1' | 'n2') => Promise<void>;
  /** Pids of the example application's processes running in a node (found by its network namespace). */
  appPids: (node: 'n1' | 'n2') => number[];
  /** The same, only those that can still run (not stopped, not zombies, no SIGKILL pending). */
  liveAppPids: (node: 'n1' | 'n2') => number[];
  /** The VIP is configured on one of the node's interfaces (`ip -j addr` in the host); null if the host is down. */
  vipOn: (node: 'n1' | 'n2') => Promise<boolean | null>;
  /** A client on w sending GET / to the VIP every `everyMs` (each with its own connection), recording who answered. */
  startVipProbe: (everyMs?: number) => VipProbe;
}

export interface VipProbe {
  /** Answers in arrival order: wall-clock ms (same machine clock as the test) and the node that answered. */
  readonly answers: Array<{ at: number; node: string }>;
  /** First answer from `node` at or after `since` (ms since the epoch), or null. */
  firstFrom: (node: string, since: number) => number | null;
  stop: () => void;
}

/** What the monitor reads of one node's report (null: the agent did not answer). */
export interface NodeSample {
  state: string;
  role: string;
  vip: boolean;
  detail: string | null;
}

export class Monitor {
  readonly violations: string[] = [];
  /**
   * Samples where one node was stepping down next to the primary: STOPPING_PRIM but no longer
   * claiming the role (role none, VIP off: fenced, its writes refused, its application being
   * killed; runtime/mirror/README.md). Not two primaries (only known when `sample` gives roles);
   * /proc (`appOverlaps`) bounds how long its application may still run.
   */
  readonly outgoing: string[] = [];
  samples = 0;
  /** Every change of the sampled pair of states, with the wall-clock time of the sample. */
  readonly timeline: Array<{ at: number; n1: string | null; n2: string | null }> = [];
  /**
   * Instants (sampled every 20 ms from /proc, independently of what the agents report) at which the
   * application ran on both nodes at once: a process that is neither stopped, nor a zombie, nor
   * already hit by a SIGKILL. Only filled when `apps` is given.
   */
  readonly appOverlaps: string[] = [];
  appSamples = 0;
  #timer: NodeJS.Timeout | null = null;
  #appTimer: NodeJS.Timeout | null = null;
  /** `sample` (optional) gives each node's role and VIP too, quoted in the violations; `apps` the
   * application processes running on each node. */
  constructor(
    readonly phases: () => Promise<Record<'n1' | 'n2', string | null>>,
    readonly sample?: () => Promise<Record<'n1' | 'n2', NodeSample | null>>,
    readonly apps?: () => Record<'n1' | 'n2', number[]>,
  ) {}
  /** States a node went through (as sampled) since `since`, in order, without repeats. */
  seen(node: 'n1' | 'n2', since = 0): Array<string | null> {
    const out: Array<string | null> = [];
    // Start with the state in force at `since` (the last change before it).
    let first = this.timeline.findIndex((e) => e.at >= since);
    if (first === -1) first = this.timeline.length;
    for (const e of this.timeline.slice(Math.max(0, first - 1))) if (out.length === 0 || out[out.length - 1] !== e[node]) out.push(e[node]);
    return out;
  }
  start(): void {
    const describe = (n: NodeSample | null | undefined, state: string | null) => (n ? `${n.state} (role ${n.role}, vip ${n.vip}${n.detail ? `, ${n.detail}` : ''})` : String(state));
    const loop = async () => {
      const full = this.sample ? await this.sample() : null;
      const p = full ? { n1: full.n1?.state ?? null, n2: full.n2?.state ?? null } : await this.phases();
      this.samples++;
      const last = this.timeline[this.timeline.length - 1];
      if (!last || last.n1 !== p.n1 || last.n2 !== p.n2) this.timeline.push({ at: Date.now(), n1: p.n1, n2: p.n2 });
      if (p.n1 !== null && p.n2 !== null && PRIMARY_LIKE.has(p.n1) && PRIMARY_LIKE.has(p.n2)) {
        const line = `two primaries: n1=${describe(full?.n1, p.n1)} n2=${describe(full?.n2, p.n2)} at ${new Date().toISOString()}`;
        const leaving = (n: NodeSample | null | undefined) => n?.state === 'STOPPING_PRIM' && n.role === 'none' && !n.vip;
        if (leaving(full?.n1) || leaving(full?.n2)) this.outgoing.push(line);
        else this.violations.push(line);
      }
      if (this.#timer !== null) this.#timer = setTimeout(() => void loop(), 50);
    };
    this.#timer = setTimeout(() => void loop(), 0);
    const apps = this.apps;
    if (apps) {
      this.#appTimer = setInterval(() => {
        let a: Record<'n1' | 'n2', number[]>;
        try {
          a = apps();
        } catch {
          return; // the hosts are being destroyed
        }
        this.appSamples++;
        if (a.n1.length > 0 && a.n2.length > 0 && this.appOverlaps.length < 100) {
          this.appOverlaps.push(`application running on both nodes: n1 pids ${a.n1.join(',')}, n2 pids ${a.n2.join(',')} at ${new Date().toISOString()}`);
        }
      }, 20);
    }
  }
  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#appTimer) clearInterval(this.#appTimer);
    this.#appTimer = null;
  }
}

export interface ClusterOptions {
  networks?: 1 | 2;
  witness?: boolean;
  /** Module directory to build and install (default modules/mirror). It must take `vip`, `port` and `data_dir`. */
  moduleDir?: string;
  /** Extra `--set NAME=VALUE` for `module add`. */
  params?: Record<string, string>;
}

export async function startMirrorCluster(t: TestContext, opts: ClusterOptions = {}): Promise<Cluster> {
  const net = await createTestNet({ hosts: ['n1', 'n2', 'w'], networks: opts.networks ?? 1, mountNamespace: true, t });
  const [n1, n2, w] = net.hosts as [TestHost, TestHost, TestHost];
  const root = mkdtempSync(join(tmpdir(), 'hamod-cluster-'));
  const agents = new Map<string, ReturnType<typeof spawn>>();
  const appData = `/var/lib/hamod-test-${net.runId}`;
  t.after(() => {
    for (const c of agents.values()) try { if (c.pid) process.kill(-c.pid, 'SIGKILL'); } catch { /* gone */ }
    // HAMOD_TEST_KEEP=1 keeps the agents' data directories and logs for a post-mortem.
    if (process.env.HAMOD_TEST_KEEP) process.stderr.write(`cluster files kept in ${root}\n`);
    else rmSync(root, { recursive: true, force: true });
    // The mount point the hosts created on the machine's /var/lib (empty once the hosts are gone).
    try { rmdirSync(appData); } catch { /* still mounted somewhere, or not created */ }
  });
  const env = { ...process.env, HAMOD_HOME: join(root, 'home'), NO_COLOR: '1' };
  const cli = (args: string[]) => runCli(args, env);
  const addrs = (h: TestHost) => h.addresses.join(',');
  const init = await cli(['cluster', 'init', '--name', 'test', '--node', `n1=${addrs(n1)}`, '--node', `n2=${addrs(n2)}`, ...(opts.witness === false ? [] : ['--witness', w.address]), '--out', root]);
  if (init.code !== 0) throw new Error(`cluster init failed: ${init.stderr}`);
  const dataDir = (node: 'n1' | 'n2') => join(root, node);
  // Each node's application data lives on the machine's disk (root/nX-app), bind-mounted at the same
  // path in the node's mount namespace: it survives a host crash, as a disk would.
  const diskOf = (node: 'n1' | 'n2') => join(root, `${node}-app`);
  const mountData = async (node: 'n1' | 'n2') => {
    const h = node === 'n1' ? n1 : n2;
    mkdirSync(diskOf(node), { recursive: true, mode: 0o755 });
    await h.execOk(['mkdir', '-p', appData]);
    await h.execOk(['mount', '--bind', diskOf(node), appData]);
  };
  for (const n of ['n1', 'n2'] as const) await mountData(n);
  const startProc = (host: TestHost, name: string, args: string[]) => {
    const child = host.spawn([process.execPath, BIN, ...args], { env });
    const out = createWriteStream(join(root, `${name}.log`), { flags: 'a' });
    child.stdout?.pipe(out);
    child.stderr?.pipe(out);
    agents.set(name, child);
  };
  if (opts.witness !== false) startProc(w, 'witness', ['witness', '--data-dir', join(root, 'witness')]);
  const startAgent = (node: 'n1' | 'n2') => startProc(node === 'n1' ? n1 : n2, node, ['agent', '--data-dir', dataDir(node)]);
  startAgent('n1');
  startAgent('n2');
  for (const n of ['n1', 'n2'] as const) await until(() => existsSync(join(dataDir(n), 'control.sock')), 15_000, `agent ${n} to start`);
  const build = await cli(['build', opts.moduleDir ?? join(PACKAGE_ROOT, 'modules/mirror'), '--out', join(root, 'bundles'), '--json']);
  if (build.code !== 0) throw new Error(`build failed: ${build.stderr}`);
  const vip = net.spareAddress(0);
  const add = await cli(['module', 'add', JSON.parse(build.stdout).path, '--set', `vip=${vip}`, '--set', `port=${APP_PORT}`, '--set', `data_dir=${appData}`, ...Object.entries(opts.params ?? {}).flatMap(([k, v]) => ['--set', `${k}=${v}`]), '--data-dir', dataDir('n1')]);
  if (add.code !== 0) throw new Error(`module add failed: ${add.stderr}`);
  const status = async (node: 'n1' | 'n2') => {
    try {
      return (await control<{ local: NodeStatus }>(dataDir(node), 'GET', '/v1/status?peer=0', undefined, 1000)).local;
    } catch {
      return null;
    }
  };
  const phases = async () => {
    const [a, b] = await Promise.all([status('n1'), status('n2')]);
    return { n1: a?.modules[0]?.state ?? null, n2: b?.modules[0]?.state ?? null };
  };
  const waitFor = async (what: string, pred: (p: Record<'n1' | 'n2', string | null>) => boolean, timeoutMs = 20_000) => {
    let last: Record<'n1' | 'n2', string | null> = { n1: null, n2: null };
    try {
      await until(async () => pred((last = await phases())), timeoutMs, `${what}`);
    } catch (e) {
      throw new Error(`${(e as Error).message} (last seen: n1=${last.n1} n2=${last.n2})\n${logTail(root)}`);
    }
    return last;
  };
  const askVip = async () => {
    const r = await w.exec(['curl', '-s', '-m', '1', `http://${vip}:${APP_PORT}/`], { timeoutMs: 3000 });
    const m = /on (n[12]):/.exec(r.stdout);
    return r.code === 0 && m ? m[1]! : null;
  };
  const sample = async (): Promise<Record<'n1' | 'n2', NodeSample | null>> => {
    const one = (st: NodeStatus | null): NodeSample | null => {
      const m = st?.modules[0];
      return m ? { state: m.state, role: m.role, vip: m.vip, detail: m.detail } : null;
    };
    const [a, b] = await Promise.all([status('n1'), status('n2')]);
    return { n1: one(a), n2: one(b) };
  };
  const hostOf = (node: 'n1' | 'n2') => (node === 'n1' ? n1 : n2);
  const agentPid = (node: 'n1' | 'n2' | 'witness') => {
    const c = agents.get(node);
    return c && c.pid !== undefined && c.exitCode === null && c.signalCode === null ? c.pid : null;
  };
  const killWitness = () => {
    const pid = agentPid('witness');
    if (pid !== null) process.kill(-pid, 'SIGKILL');
  };
  const waitAgent = (node: 'n1' | 'n2', timeoutMs = 15_000) => until(async () => (await status(node)) !== null, timeoutMs, `agent ${node} to answer`);
  const reviveNode = async (node: 'n1' | 'n2') => {
    const h = hostOf(node);
    // The VIP the dead agent had added is gone, as after a reboot (the harness removes it before
    // the links come up).
    await net.reviveHost(h);
    await mountData(node);
    startAgent(node);
    await waitAgent(node);
  };
  const appPids = (node: 'n1' | 'n2') =>
    hostOf(node).processes().filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--input-type=module');
      } catch {
        return false;
      }
    });
  /** Application processes that can still run: not stopped (SIGSTOP), not zombies, no SIGKILL pending. */
  const liveAppPids = (node: 'n1' | 'n2') =>
    appPids(node).filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        if ('TtZXx'.includes(state)) return false;
        const st = readFileSync(`/proc/${pid}/status`, 'utf8');
        const pending = [...st.matchAll(/^(?:SigPnd|ShdPnd):\s*([0-9a-f]+)$/gm)].some((m) => (BigInt(`0x${m[1]}`) & 0x100n) !== 0n);
        return !pending;
      } catch {
        return false;
      }
    });
  const vipOn = async (node: 'n1' | 'n2') => {
    const h = hostOf(node);
    if (h.crashed) return null;
    const r = await h.exec(['ip', '-j', 'addr', 'show'], { timeoutMs: 3000 });
    if (r.code !== 0) return null;
    const links = JSON.parse(r.stdout) as Array<{ addr_info?: Array<{ local?: string }> }>;
    return links.some((l) => (l.addr_info ?? []).some((a) => a.local === vip));
  };
  const startVipProbe = (everyMs = 10): VipProbe => {
    const script = `
      const http = require('node:http');
      const [host, port, every] = process.argv.slice(1);
      setInterval(() => {
        const req = http.get({ host, port: Number(port), path: '/', agent: false, timeout: 300 }, (res) => {
          let b = '';
          res.on('data', (d) => (b += d));
          res.on('end', () => { const m = /on (n[12]):/.exec(b); if (m) process.stdout.write(Date.now() + ' ' + m[1] + '\\n'); });
          res.on('error', () => {});
        });
        req.on('timeout', () => req.destroy());
        req.on('error', () => {});
      }, Number(every));`;
    const child = w.spawn([process.execPath, '-e', script, vip, String(APP_PORT), String(everyMs)], { env });
    const answers: Array<{ at: number; node: string }> = [];
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const [at, node] = buf.slice(0, i).split(' ');
        buf = buf.slice(i + 1);
        answers.push({ at: Number(at), node: node! });
      }
    });
    child.stderr?.resume();
    return {
      answers,
      firstFrom: (node, since) => answers.find((a) => a.node === node && a.at >= since)?.at ?? null,
      stop: () => { try { if (child.pid) process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } },
    };
  };
  const cluster: Cluster = {
    net, root, vip, hosts: { n1, n2, w }, dataDir, startAgent, status, cli, phases, waitFor, askVip, monitor: new Monitor(phases, sample, () => ({ n1: liveAppPids('n1'), n2: liveAppPids('n2') })),
    appData, diskOf, agentPid, killWitness, waitAgent, reviveNode, appPids, liveAppPids, vipOn, startVipProbe,
  };
  return cluster;
}

export function logTail(root: string, lines = 25): string {
  const out: string[] = [];
  for (const name of ['n1', 'n2', 'witness']) {
    try {
      const text = readFileSync(join(root, `${name}.log`), 'utf8').trimEnd().split('\n');
      out.push(`--- ${name}.log`, ...text.slice(-lines));
    } catch { /* not started */ }
    try {
      const text = readFileSync(join(root, name, 'logs', 'mirror.log'), 'utf8').trimEnd().split('\n');
      out.push(`--- ${name}/logs/mirror.log`, ...text.slice(-lines));
    } catch { /* no module log */ }
  }
  return out.join('\n');
}

/** Runs the CLI without blocking the event loop (monitors keep sampling meanwhile). */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code: code ?? -1, stdout, stderr }); });
  });
}

export async function until(pred: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A started cluster with the monitor running, once one node is PRIM, the other SECOND, and the VIP
 * answers from the primary: the common start of every scenario.
 */
export async function startedPair(t: TestContext, opts: ClusterOptions = {}): Promise<{ c: Cluster; prim: 'n1' | 'n2'; second: 'n1' | 'n2' }> {
  const c = await startMirrorCluster(t, opts);
  c.monitor.start();
  t.after(() => c.monitor.stop());
  const p = await c.waitFor('a primary and a secondary', (x) => (x.n1 === 'PRIM' && x.n2 === 'SECOND') || (x.n2 === 'PRIM' && x.n1 === 'SECOND'));
  const prim = p.n1 === 'PRIM' ? 'n1' : 'n2';
  const second = prim === 'n1' ? 'n2' : 'n1';
  await until(async () => (await c.askVip()) === prim, 10_000, `the VIP to answer from ${prim}`);
  // Scenarios compare against the monitor's timeline from here on: it must have seen the pair too.
  await until(() => {
    const l = c.monitor.timeline[c.monitor.timeline.length - 1];
    return l !== undefined && l[prim] === 'PRIM' && l[second] === 'SECOND';
  }, 10_000, 'the monitor to see the primary and the secondary');
  return { c, prim, second };
}
