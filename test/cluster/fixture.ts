// A real two-node mirror cluster on test hosts (n1, n2, and w as witness and client): cluster init,
// agents and witness started as real processes in their hosts' network and mount namespaces, the
// example mirror module built and installed. Everything is removed after the test.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { control } from '../../cli/control-client.js';
import type { NodeStatus } from '../../runtime/agent/agent.js';
import { PACKAGE_ROOT } from '../../compiler/validate/schema-file.js';
import { createTestNet, type TestHost, type TestNet } from '../harness/index.js';

export const BIN = join(PACKAGE_ROOT, 'bin/hamod.js');
export const APP_PORT = 8080;
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
}

export class Monitor {
  readonly violations: string[] = [];
  samples = 0;
  #timer: NodeJS.Timeout | null = null;
  constructor(readonly phases: () => Promise<Record<'n1' | 'n2', string | null>>) {}
  start(): void {
    const loop = async () => {
      const p = await this.phases();
      this.samples++;
      if (p.n1 !== null && p.n2 !== null && PRIMARY_LIKE.has(p.n1) && PRIMARY_LIKE.has(p.n2)) this.violations.push(`two primaries: n1=${p.n1} n2=${p.n2} at ${new Date().toISOString()}`);
      if (this.#timer !== null) this.#timer = setTimeout(() => void loop(), 50);
    };
    this.#timer = setTimeout(() => void loop(), 0);
  }
  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}

export async function startMirrorCluster(t: TestContext, opts: { networks?: 1 | 2; witness?: boolean } = {}): Promise<Cluster> {
  const net = await createTestNet({ hosts: ['n1', 'n2', 'w'], networks: opts.networks ?? 1, mountNamespace: true, t });
  const [n1, n2, w] = net.hosts as [TestHost, TestHost, TestHost];
  const root = mkdtempSync(join(tmpdir(), 'hamod-cluster-'));
  const agents = new Map<string, ReturnType<typeof spawn>>();
  t.after(() => {
    for (const c of agents.values()) try { if (c.pid) process.kill(-c.pid, 'SIGKILL'); } catch { /* gone */ }
    rmSync(root, { recursive: true, force: true });
  });
  const env = { ...process.env, HAMOD_HOME: join(root, 'home'), NO_COLOR: '1' };
  const cli = (args: string[]) => runCli(args, env);
  const addrs = (h: TestHost) => h.addresses.join(',');
  const init = await cli(['cluster', 'init', '--name', 'test', '--node', `n1=${addrs(n1)}`, '--node', `n2=${addrs(n2)}`, ...(opts.witness === false ? [] : ['--witness', w.address]), '--out', root]);
  if (init.code !== 0) throw new Error(`cluster init failed: ${init.stderr}`);
  const dataDir = (node: 'n1' | 'n2') => join(root, node);
  const appData = `/var/lib/hamod-test-${net.runId}`;
  for (const h of [n1, n2]) await h.mountTmpfs(appData, '16m');
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
  const build = await cli(['build', join(PACKAGE_ROOT, 'modules/mirror'), '--out', join(root, 'bundles'), '--json']);
  if (build.code !== 0) throw new Error(`build failed: ${build.stderr}`);
  const vip = net.spareAddress(0);
  const add = await cli(['module', 'add', JSON.parse(build.stdout).path, '--set', `vip=${vip}`, '--set', `port=${APP_PORT}`, '--set', `data_dir=${appData}`, '--data-dir', dataDir('n1')]);
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
  const cluster: Cluster = { net, root, vip, hosts: { n1, n2, w }, dataDir, startAgent, status, cli, phases, waitFor, askVip, monitor: new Monitor(phases) };
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
