/**
 * Test hosts on one Linux machine (ARCHITECTURE.md §7): each host is a network namespace (and,
 * optionally, a private mount namespace) attached by veth pairs to one bridge per network; the
 * bridges live in a dedicated "switch" namespace so the machine's own namespace is never touched.
 * Faults (partition, isolation, link down, freeze, host crash) and a cleanup that runs even when a
 * test fails or the process is interrupted. See test/harness/README.md.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import {
  type ExecResult,
  killNamespaceSync,
  nsInode,
  pidAlive,
  pidsInNamespace,
  pidsWithEnv,
  procStat,
  runCommand,
  runCommandSync,
  signalGroup,
  signalPid,
  sleep,
} from './proc.js';

export type { ExecResult } from './proc.js';

/** Environment variable set on every process the harness starts: the run id (PREFIX-PID-RAND). */
export const RUN_ENV = 'HAMOD_TESTNET_RUN';
/** Environment variable set on every process the harness starts: the host name. */
export const HOST_ENV = 'HAMOD_TESTNET_HOST';
export const DEFAULT_PREFIX = 'hmt';
const NETNS_DIR = '/var/run/netns';
const LOCK_DIR = '/run/hamod-testnet';
/** First octets of network 0 and network 1 (both inside 198.18.0.0/15). */
const NET_BASES = ['198.18', '198.19'] as const;
/** Host addresses use .1 .. .MAX_HOSTS; spare addresses (VIPs) start at SPARE_BASE. */
const MAX_HOSTS = 199;
const SPARE_BASE = 200;

/** Anything with node:test's `after(fn)` (a TestContext, or `{ after }` from node:test's suite API). */
export interface AfterHook {
  after(fn: () => unknown): void;
}

export interface TestNetOptions {
  /** Host names (letters, digits, '.', '_', '-'; up to 32 chars), or a count: h1..hN. */
  hosts: readonly string[] | number;
  /** Name prefix, [a-z][a-z0-9]{0,5}; default 'hmt'. Namespaces are PREFIX-PID-RAND-... */
  prefix?: string;
  /** 1 (default) or 2: a second bridge for a second heartbeat network, 198.19.X.Y/16 on eth1. */
  networks?: 1 | 2;
  /**
   * Give each host its own mount namespace too, held open by a sleeper process, so that a FUSE
   * mount made on one host is seen by that host's processes only (ARCHITECTURE.md §5 and §7).
   * `true`/'private': `unshare --mount --propagation private` (no mount event crosses either
   * way); 'slave': mounts made later in the machine's namespace still appear inside the host,
   * the host's own mounts stay inside. Default false (hosts share the machine's mounts).
   */
  mountNamespace?: boolean | 'private' | 'slave';
  /** Disable IPv6 in every namespace of the run, so no link-local/ND traffic is ever sent. Default true. */
  disableIpv6?: boolean;
  /** Register `destroy()` with this test context's `after` hook (runs even when the test fails). */
  t?: AfterHook;
}

export interface HostExecOptions {
  /** Default 10 000 ms; the command's whole process group is SIGKILLed past it. */
  timeoutMs?: number;
  input?: string | Buffer;
  /** Added to process.env (and the harness's own markers). */
  env?: NodeJS.ProcessEnv;
  /** Working directory, resolved inside the host (so inside its own mounts). */
  cwd?: string;
  maxBuffer?: number;
}

export interface HostSpawnOptions {
  /** Added to process.env (and the harness's own markers). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Default ['ignore', 'pipe', 'pipe']. */
  stdio?: StdioOptions;
}

export interface PartitionOptions {
  /** Which networks to cut (indexes); default all. Cutting only some keeps the others up. */
  networks?: readonly number[];
  /** Drop only frames going from side A to side B (an asymmetric partition). Default false. */
  oneWay?: boolean;
}

export interface IsolateOptions {
  /**
   * 'nft' (default): drop every frame in and out of the host's interfaces (carrier stays up,
   * loopback works). 'link': set the switch side of each of its veths down (carrier lost, like
   * pulled cables).
   */
  mode?: 'nft' | 'link';
}

export type HostRef = TestHost | string;
export type Side = HostRef | readonly HostRef[];
export type ProcessRef = number | ChildProcess;

export interface TestHost {
  readonly name: string;
  /** 0-based position in the net. */
  readonly index: number;
  /** Address on network 0 (eth0), e.g. 198.18.X.Y. */
  readonly address: string;
  /** Address on each network (index = network). */
  readonly addresses: readonly string[];
  /** Interface name inside the host for each network: eth0, eth1. */
  readonly ifnames: readonly string[];
  /** MAC of each of the host's interfaces (fixed, locally administered). */
  readonly macs: readonly string[];
  /** Network namespace name, and its path for `nsenter --net=`. */
  readonly netns: string;
  readonly netnsPath: string;
  /** Pid of the process holding the host's mount namespace, when it has one and is up. */
  readonly mountHolderPid: number | undefined;
  /** True between killHost() and reviveHost(). */
  readonly crashed: boolean;
  /** argv prefix that enters the host (`nsenter --net=... [--mount=...] -- ...`) and changes
   * to `cwd` (default: this process's cwd); append the command's argv. */
  enterArgv(cwd?: string): string[];
  /** Runs argv inside the host; never rejects on a non-zero exit. */
  exec(argv: readonly string[], opts?: HostExecOptions): Promise<ExecResult>;
  /** Like exec() but rejects (with stderr in the message) unless the exit code is 0. */
  execOk(argv: readonly string[], opts?: HostExecOptions): Promise<ExecResult>;
  /** Starts argv inside the host in its own process group; tracked and killed by destroy(). */
  spawn(argv: readonly string[], opts?: HostSpawnOptions): ChildProcess;
  /** Children started with spawn() that have not exited yet. */
  readonly children: readonly ChildProcess[];
  /** Pids of every process in the host (its network namespace), holder excluded. */
  processes(): number[];
  /** Mounts a tmpfs of `size` (e.g. '4m') at `dir` inside the host's mount namespace: a small
   * disk for "disk full" faults. Needs `mountNamespace`. */
  mountTmpfs(dir: string, size: string): Promise<void>;
}

export interface TestNet {
  /** PREFIX-PID-RAND: carried by every name, table and process marker of the run. */
  readonly runId: string;
  readonly prefix: string;
  readonly pid: number;
  /** Third octet shared by all the run's addresses; unique among live runs on the machine. */
  readonly octet: number;
  readonly networks: number;
  readonly hosts: readonly TestHost[];
  /** Name of the switch namespace holding the bridges. */
  readonly switchNetns: string;
  /** Bridge name of each network (inside the switch namespace). */
  readonly bridges: readonly string[];
  /** nftables table (family netdev) installed in every host. */
  readonly nftTable: string;
  readonly destroyed: boolean;
  host(name: string): TestHost;
  /** CIDR of a network, e.g. 198.18.0.0/16. */
  cidr(network?: number): string;
  /** Prefix length of the hosts' addresses (16). */
  readonly prefixLength: number;
  /** A free address of the run for a VIP: 198.18.X.(200+n), n in 0..54. */
  spareAddress(n: number, network?: number): string;
  /** Runs argv inside the switch namespace (e.g. to tweak the bridges). */
  switchExec(argv: readonly string[], opts?: HostExecOptions): Promise<ExecResult>;

  partition(a: Side, b: Side, opts?: PartitionOptions): Promise<void>;
  heal(a: Side, b: Side, opts?: PartitionOptions): Promise<void>;
  /** Removes every partition of the run. */
  healAll(): Promise<void>;
  isolate(host: HostRef, opts?: IsolateOptions): Promise<void>;
  unisolate(host: HostRef): Promise<void>;
  /** Switch side of the host's veth down (all networks, or one). */
  linkDown(host: HostRef, network?: number): Promise<void>;
  linkUp(host: HostRef, network?: number): Promise<void>;
  /** SIGSTOP / SIGCONT of a process's group. */
  freeze(target: ProcessRef): void;
  thaw(target: ProcessRef): void;
  /** SIGSTOP / SIGCONT of every process of a host. */
  freezeHost(host: HostRef): void;
  thawHost(host: HostRef): void;
  /** Host crash: its links cut, then every process in it SIGKILLed (mount namespace included). */
  killHost(host: HostRef): Promise<void>;
  /** The crashed host "boots again": the addresses added at run time gone, links up, a fresh mount
   * namespace. Starts no process. */
  reviveHost(host: HostRef): Promise<void>;
  /** Removes everything of the run. Idempotent; safe to call concurrently. */
  destroy(): Promise<void>;
  /** Synchronous destroy (used by the process exit hooks). */
  destroySync(): void;
}

// ---------------------------------------------------------------------------------------------
// process-wide registry and safety net

const live = new Set<TestNetImpl>();
let hooksInstalled = false;

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const net of [...live]) net.destroySync();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      for (const net of [...live]) net.destroySync();
      process.removeListener(sig, handler);
      // Let the default action (or another listener) see the signal, as if we were not here.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

// ---------------------------------------------------------------------------------------------
// names

const HOST_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
const PREFIX_RE = /^[a-z][a-z0-9]{0,5}$/;

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function parseRunId(prefix: string, s: string): { pid: number; runId: string } | undefined {
  const m = new RegExp(`^(${prefix}-(\\d+)-[0-9a-z]{4})(?:-|$)`).exec(s);
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  return { pid: Number(m[2]), runId: m[1] };
}

/** Takes a free third octet: an O_EXCL lock file per octet; a lock of a dead run is taken over. */
function allocateOctet(runId: string, pid: number): { octet: number; lockPath: string } {
  mkdirSync(LOCK_DIR, { recursive: true, mode: 0o755 });
  const start = (pid + randomBytes(1)[0]!) % 256;
  for (let i = 0; i < 256; i++) {
    const octet = (start + i) % 256;
    const lockPath = `${LOCK_DIR}/octet-${octet}`;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(lockPath, 'wx', 0o644);
        writeSync(fd, `${runId}\n`);
        closeSync(fd);
        return { octet, lockPath };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let owner = '';
      try {
        owner = readFileSync(lockPath, 'utf8').trim();
      } catch {
        continue; // removed meanwhile: retry
      }
      const ownerPid = Number(/^[a-z0-9]+-(\d+)-/.exec(owner)?.[1] ?? NaN);
      if (owner !== '' && Number.isInteger(ownerPid) && pidAlive(ownerPid)) break; // in use
      if (owner === '') break; // being written right now by its creator
      try {
        unlinkSync(lockPath);
      } catch {
        // someone else took it over first
      }
    }
  }
  throw new Error(`no free test-net octet in ${LOCK_DIR} (256 live runs?); try sweepStale()`);
}

// ---------------------------------------------------------------------------------------------

class TestHostImpl implements TestHost {
  readonly netnsPath: string;
  netnsIno: number | undefined;
  mountHolderPid: number | undefined;
  crashed = false;
  readonly childSet = new Set<ChildProcess>();

  constructor(
    readonly net: TestNetImpl,
    readonly name: string,
    readonly index: number,
    readonly netns: string,
    readonly addresses: readonly string[],
    readonly ifnames: readonly string[],
    readonly macs: readonly string[],
    /** switch-side veth name per network */
    readonly ports: readonly string[],
  ) {
    this.netnsPath = `${NETNS_DIR}/${netns}`;
  }

  get address(): string {
    return this.addresses[0]!;
  }

  get children(): readonly ChildProcess[] {
    return [...this.childSet];
  }

  enterArgv(cwd?: string): string[] {
    const argv = ['nsenter', `--net=${this.netnsPath}`];
    if (this.net.mountMode !== false) {
      const holder = this.mountHolderPid;
      if (holder === undefined || !this.holderValid(holder)) {
        throw new Error(
          `test host ${this.name}: its mount namespace is gone (${this.crashed ? 'host crashed; reviveHost() first' : 'holder died'})`,
        );
      }
      // setns() into a mount namespace resets the cwd to its root, and nsenter's --wd opens the
      // directory in the caller's namespace (so under a mount made in the host it would name the
      // directory beneath): change directory from inside instead.
      argv.push(`--mount=/proc/${holder}/ns/mnt`, '--', 'sh', '-c', 'cd -- "$0" && exec "$@"', cwd ?? process.cwd());
      return argv;
    }
    argv.push('--');
    return argv;
  }

  /** cwd for Node's spawn of nsenter: with a mount namespace the directory may exist only inside
   * the host, so the wrapper changes to it there and nsenter itself starts from '/'. */
  private spawnCwd(cwd: string | undefined): { cwd?: string } {
    if (this.net.mountMode !== false) return { cwd: '/' };
    return cwd === undefined ? {} : { cwd };
  }

  holderValid(pid: number): boolean {
    try {
      return readlinkSync(`/proc/${pid}/ns/net`) === `net:[${this.netnsIno}]`;
    } catch {
      return false;
    }
  }

  env(extra: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
    return { ...process.env, ...extra, [RUN_ENV]: this.net.runId, [HOST_ENV]: this.name };
  }

  async exec(argv: readonly string[], opts: HostExecOptions = {}): Promise<ExecResult> {
    this.net.assertAlive();
    if (argv.length === 0) throw new Error('exec: empty argv');
    const prefix = this.enterArgv(opts.cwd);
    return runCommand([...prefix, ...argv], {
      env: this.env(opts.env),
      ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
      ...(opts.input === undefined ? {} : { input: opts.input }),
      ...this.spawnCwd(opts.cwd),
      ...(opts.maxBuffer === undefined ? {} : { maxBuffer: opts.maxBuffer }),
    });
  }

  async execOk(argv: readonly string[], opts: HostExecOptions = {}): Promise<ExecResult> {
    const r = await this.exec(argv, opts);
    if (r.code !== 0) {
      throw new Error(
        `[${this.name}] ${argv.join(' ')}: ${r.timedOut ? 'timed out' : r.signal ?? `exit ${r.code}`}\n${r.stderr}${r.stdout}`.trimEnd(),
      );
    }
    return r;
  }

  spawn(argv: readonly string[], opts: HostSpawnOptions = {}): ChildProcess {
    this.net.assertAlive();
    if (argv.length === 0) throw new Error('spawn: empty argv');
    const [file, ...args] = [...this.enterArgv(opts.cwd), ...argv];
    const child = spawn(file!, args, {
      detached: true,
      stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
      env: this.env(opts.env),
      ...this.spawnCwd(opts.cwd),
    });
    this.childSet.add(child);
    this.net.allChildren.add(child);
    child.once('exit', () => {
      this.childSet.delete(child);
      this.net.allChildren.delete(child);
    });
    child.once('error', () => {
      this.childSet.delete(child);
      this.net.allChildren.delete(child);
    });
    return child;
  }

  processes(): number[] {
    if (this.netnsIno === undefined) return [];
    return pidsInNamespace('net', this.netnsIno).filter((p) => p !== this.mountHolderPid);
  }

  async mountTmpfs(dir: string, size: string): Promise<void> {
    if (this.net.mountMode === false) throw new Error('mountTmpfs needs createTestNet({ mountNamespace })');
    await this.execOk(['mkdir', '-p', dir]);
    await this.execOk(['mount', '-t', 'tmpfs', '-o', `size=${size},mode=0755`, `hamod-${this.net.runId}`, dir]);
  }

  /** Starts the process holding the host's mount namespace and waits until it holds it. */
  async startHolder(): Promise<void> {
    const propagation = this.net.mountMode === 'slave' ? 'slave' : 'private';
    const child = spawn(
      'nsenter',
      [`--net=${this.netnsPath}`, '--', 'unshare', '--mount', '--propagation', propagation, '--', 'sleep', 'infinity'],
      { detached: true, stdio: 'ignore', env: this.env({ HAMOD_TESTNET_ROLE: 'mount-holder' }) },
    );
    child.unref(); // never keeps the test process alive; destroy()/exit hooks kill it
    const pid = child.pid;
    if (pid === undefined) {
      await new Promise((r) => child.once('error', r));
      throw new Error(`test host ${this.name}: cannot start the mount-namespace holder (nsenter/unshare missing?)`);
    }
    this.mountHolderPid = pid;
    let ownMnt = '';
    try {
      ownMnt = readlinkSync('/proc/self/ns/mnt');
    } catch {
      // ignore
    }
    const deadline = Date.now() + 5_000;
    for (;;) {
      let mnt = '';
      let comm = '';
      try {
        mnt = readlinkSync(`/proc/${pid}/ns/mnt`);
        comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      } catch {
        if (child.exitCode !== null || child.signalCode !== null) break;
      }
      // nsenter execs unshare, which unshares then execs sleep: same pid throughout.
      if (comm === 'sleep' && mnt !== '' && mnt !== ownMnt) return;
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) break;
      await sleep(2);
    }
    signalPid(pid, 'SIGKILL');
    this.mountHolderPid = undefined;
    throw new Error(`test host ${this.name}: the mount-namespace holder did not start`);
  }
}

interface PartitionEntry {
  /** host whose ingress drops */
  to: TestHostImpl;
  mac: string;
}

class TestNetImpl implements TestNet {
  readonly pid = process.pid;
  readonly runId: string;
  readonly prefix: string;
  readonly octet: number;
  readonly lockPath: string;
  readonly networks: number;
  readonly prefixLength = 16;
  readonly hosts: TestHostImpl[] = [];
  readonly switchNetns: string;
  readonly switchPath: string;
  switchIno: number | undefined;
  readonly bridges: string[] = [];
  readonly nftTable: string;
  readonly mountMode: false | 'private' | 'slave';
  readonly disableIpv6: boolean;
  readonly allChildren = new Set<ChildProcess>();
  /** ingress drop entries currently installed, keyed `${to.name} ${mac}` */
  private readonly blocked = new Map<string, PartitionEntry>();
  private readonly isolated = new Map<TestHostImpl, 'nft' | 'link'>();
  private destroyPromise: Promise<void> | undefined;
  private destroyedSync = false;
  private opQueue: Promise<unknown> = Promise.resolve();

  constructor(opts: TestNetOptions) {
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    if (!PREFIX_RE.test(this.prefix)) throw new Error(`bad prefix ${JSON.stringify(this.prefix)}: want ${PREFIX_RE}`);
    const names = typeof opts.hosts === 'number' ? Array.from({ length: opts.hosts }, (_, i) => `h${i + 1}`) : [...opts.hosts];
    if (names.length < 1 || names.length > MAX_HOSTS) throw new Error(`hosts: 1..${MAX_HOSTS} wanted, got ${names.length}`);
    for (const n of names) if (!HOST_NAME_RE.test(n)) throw new Error(`bad host name ${JSON.stringify(n)}: want ${HOST_NAME_RE}`);
    if (new Set(names).size !== names.length) throw new Error('host names must be unique');
    this.networks = opts.networks ?? 1;
    if (this.networks !== 1 && this.networks !== 2) throw new Error('networks: 1 or 2');
    const mm = opts.mountNamespace ?? false;
    this.mountMode = mm === true ? 'private' : mm;
    this.disableIpv6 = opts.disableIpv6 ?? true;

    const rand = randomBytes(4).readUInt32BE(0).toString(36).padStart(4, '0').slice(-4);
    this.runId = `${this.prefix}-${this.pid}-${rand}`;
    this.nftTable = `${this.prefix}_${this.pid}_${rand}`;
    this.switchNetns = `${this.runId}-sw`;
    this.switchPath = `${NETNS_DIR}/${this.switchNetns}`;
    const pid36 = this.pid.toString(36);
    for (let n = 0; n < this.networks; n++) {
      const br = `b${n}${pid36}${rand}`; // <= 2 + 6 + 4 chars (pid_max 2^22 is 5 base-36 digits)
      if (br.length > 15) throw new Error(`bridge name too long: ${br}`);
      this.bridges.push(br);
    }
    const { octet, lockPath } = allocateOctet(this.runId, this.pid);
    this.octet = octet;
    this.lockPath = lockPath;

    names.forEach((name, i) => {
      const y = i + 1;
      const addresses: string[] = [];
      const ifnames: string[] = [];
      const macs: string[] = [];
      const ports: string[] = [];
      for (let n = 0; n < this.networks; n++) {
        addresses.push(`${NET_BASES[n]}.${octet}.${y}`);
        ifnames.push(`eth${n}`);
        macs.push(`02:68:${hex2(n)}:${hex2(octet)}:00:${hex2(y)}`);
        ports.push(`p${y}n${n}`);
      }
      this.hosts.push(new TestHostImpl(this, name, i, `${this.runId}-h-${name}`, addresses, ifnames, macs, ports));
    });
    // usable unbound: t.after(net.destroy)
    this.destroy = this.destroy.bind(this);
    this.destroySync = this.destroySync.bind(this);
    installHooks();
    live.add(this);
  }

  get destroyed(): boolean {
    return this.destroyPromise !== undefined || this.destroyedSync;
  }

  assertAlive(): void {
    if (this.destroyed) throw new Error(`test net ${this.runId} is destroyed`);
  }

  host(name: string): TestHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no test host ${JSON.stringify(name)} in ${this.runId}`);
    return h;
  }

  private resolve(ref: HostRef): TestHostImpl {
    if (typeof ref === 'string') return this.host(ref) as TestHostImpl;
    const h = this.hosts.find((x) => x === ref);
    if (!h) throw new Error(`host ${ref.name} does not belong to ${this.runId}`);
    return h;
  }

  private side(s: Side): TestHostImpl[] {
    return (Array.isArray(s) ? (s as readonly HostRef[]) : [s as HostRef]).map((r) => this.resolve(r));
  }

  private checkNetwork(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n >= this.networks) throw new Error(`network ${n}: this net has ${this.networks}`);
  }

  cidr(network = 0): string {
    this.checkNetwork(network);
    return `${NET_BASES[network]}.0.0/16`;
  }

  spareAddress(n: number, network = 0): string {
    this.checkNetwork(network);
    if (!Number.isInteger(n) || n < 0 || SPARE_BASE + n > 254) throw new Error(`spare address index ${n}: 0..${254 - SPARE_BASE}`);
    return `${NET_BASES[network]}.${this.octet}.${SPARE_BASE + n}`;
  }

  async switchExec(argv: readonly string[], opts: HostExecOptions = {}): Promise<ExecResult> {
    this.assertAlive();
    return runCommand(['nsenter', `--net=${this.switchPath}`, '--', ...argv], {
      env: { ...process.env, ...opts.env, [RUN_ENV]: this.runId },
      ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
      ...(opts.input === undefined ? {} : { input: opts.input }),
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
    });
  }

  // ------------------------------------------------------------------ setup

  async setup(): Promise<void> {
    const all = [this.switchNetns, ...this.hosts.map((h) => h.netns)];
    await this.ok(['ip', '-batch', '-'], all.map((n) => `netns add ${n}`).join('\n') + '\n');
    this.switchIno = nsInode(this.switchPath);
    for (const h of this.hosts) h.netnsIno = nsInode(h.netnsPath);

    // Per namespace: IPv6 off (so nothing but our IPv4 is ever sent), loopback up.
    const v6 = this.disableIpv6
      ? 'for f in /proc/sys/net/ipv6/conf/default/disable_ipv6 /proc/sys/net/ipv6/conf/all/disable_ipv6; do [ -w "$f" ] && echo 1 > "$f"; done; '
      : '';
    await Promise.all(
      [this.switchPath, ...this.hosts.map((h) => h.netnsPath)].map((p) =>
        this.ok(['nsenter', `--net=${p}`, '--', 'sh', '-c', `${v6}exec ip link set lo up`]),
      ),
    );

    // The switch: one bridge per network, one veth per host and network; each veth is created
    // in the switch namespace with its peer directly in the host's namespace.
    const sw: string[] = [];
    this.bridges.forEach((br, n) => {
      sw.push(`link add ${br} type bridge stp_state 0 mcast_snooping 0`);
      for (const h of this.hosts) {
        const swMac = `06:68:${hex2(n)}:${hex2(this.octet)}:00:${hex2(h.index + 1)}`;
        sw.push(`link add ${h.ports[n]} address ${swMac} type veth peer name ${h.ifnames[n]} address ${h.macs[n]} netns ${h.netns}`);
        sw.push(`link set ${h.ports[n]} master ${br}`);
        sw.push(`link set ${h.ports[n]} up`);
      }
      sw.push(`link set ${br} up`);
    });
    await this.ok(['ip', '-n', this.switchNetns, '-batch', '-'], sw.join('\n') + '\n');

    await Promise.all(
      this.hosts.map(async (h) => {
        const cmds: string[] = [];
        for (let n = 0; n < this.networks; n++) {
          cmds.push(`addr add ${h.addresses[n]}/${this.prefixLength} dev ${h.ifnames[n]}`);
          cmds.push(`link set ${h.ifnames[n]} up`);
        }
        await this.ok(['ip', '-n', h.netns, '-batch', '-'], cmds.join('\n') + '\n');
        await this.nft(h, this.tableScript(h));
        if (this.mountMode !== false) await h.startHolder();
      }),
    );
  }

  private tableScript(h: TestHostImpl): string {
    const t = this.nftTable;
    const lines = [
      `table netdev ${t} {`,
      '  set blocked_src { type ether_addr; }',
      '  chain isolation { }',
    ];
    h.ifnames.forEach((ifn, n) => {
      lines.push(
        `  chain in${n} { type filter hook ingress device "${ifn}" priority -100; policy accept; jump isolation; ether saddr @blocked_src drop; }`,
        `  chain out${n} { type filter hook egress device "${ifn}" priority -100; policy accept; jump isolation; }`,
      );
    });
    lines.push('}');
    return lines.join('\n') + '\n';
  }

  // ------------------------------------------------------------------ helpers

  private async ok(argv: readonly string[], input?: string): Promise<ExecResult> {
    const r = await runCommand(argv, {
      env: { ...process.env, [RUN_ENV]: this.runId },
      ...(input === undefined ? {} : { input }),
    });
    if (r.code !== 0) {
      throw new Error(`${argv.join(' ')}: ${r.timedOut ? 'timed out' : r.signal ?? `exit ${r.code}`}\n${r.stderr}${r.stdout}${input ? `\ninput:\n${input}` : ''}`.trimEnd());
    }
    return r;
  }

  private nft(h: TestHostImpl, script: string): Promise<ExecResult> {
    return this.ok(['nsenter', `--net=${h.netnsPath}`, '--', 'nft', '-f', '-'], script);
  }

  /** Serialises fault operations so concurrent calls cannot interleave their bookkeeping. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.opQueue.then(() => {
      this.assertAlive();
      return fn();
    });
    this.opQueue = run.catch(() => undefined);
    return run;
  }

  private networksOf(opts: PartitionOptions): number[] {
    const nets = opts.networks ?? Array.from({ length: this.networks }, (_, i) => i);
    for (const n of nets) this.checkNetwork(n);
    return [...nets];
  }

  /** ingress entries (receiver, sender MAC) for a partition between the sides */
  private partitionEntries(a: Side, b: Side, opts: PartitionOptions): PartitionEntry[] {
    const as = this.side(a);
    const bs = this.side(b);
    for (const x of as) if (bs.includes(x)) throw new Error(`host ${x.name} is on both sides of the partition`);
    const nets = this.networksOf(opts);
    const out: PartitionEntry[] = [];
    for (const x of as) {
      for (const y of bs) {
        for (const n of nets) {
          out.push({ to: y, mac: x.macs[n]! }); // x -> y dropped at y
          if (!opts.oneWay) out.push({ to: x, mac: y.macs[n]! }); // y -> x dropped at x
        }
      }
    }
    return out;
  }

  private async applyBlocked(add: PartitionEntry[], del: PartitionEntry[]): Promise<void> {
    const byHost = new Map<TestHostImpl, { add: string[]; del: string[] }>();
    const get = (h: TestHostImpl) => {
      let v = byHost.get(h);
      if (!v) byHost.set(h, (v = { add: [], del: [] }));
      return v;
    };
    for (const e of add) get(e.to).add.push(e.mac);
    for (const e of del) get(e.to).del.push(e.mac);
    await Promise.all(
      [...byHost].map(([h, v]) => {
        const lines: string[] = [];
        if (v.add.length) lines.push(`add element netdev ${this.nftTable} blocked_src { ${v.add.join(', ')} }`);
        if (v.del.length) lines.push(`delete element netdev ${this.nftTable} blocked_src { ${v.del.join(', ')} }`);
        return lines.length ? this.nft(h, lines.join('\n') + '\n') : undefined;
      }),
    );
  }

  // ------------------------------------------------------------------ faults

  partition(a: Side, b: Side, opts: PartitionOptions = {}): Promise<void> {
    return this.serial(async () => {
      const add: PartitionEntry[] = [];
      for (const e of this.partitionEntries(a, b, opts)) {
        const key = `${e.to.name} ${e.mac}`;
        if (this.blocked.has(key)) continue;
        this.blocked.set(key, e);
        add.push(e);
      }
      await this.applyBlocked(add, []);
    });
  }

  heal(a: Side, b: Side, opts: PartitionOptions = {}): Promise<void> {
    return this.serial(async () => {
      const del: PartitionEntry[] = [];
      for (const e of this.partitionEntries(a, b, opts)) {
        const key = `${e.to.name} ${e.mac}`;
        const cur = this.blocked.get(key);
        if (!cur) continue; // healing what is not cut is a no-op
        this.blocked.delete(key);
        del.push(cur);
      }
      await this.applyBlocked([], del);
    });
  }

  healAll(): Promise<void> {
    return this.serial(async () => {
      const del = [...this.blocked.values()];
      this.blocked.clear();
      await this.applyBlocked([], del);
    });
  }

  isolate(ref: HostRef, opts: IsolateOptions = {}): Promise<void> {
    return this.serial(async () => {
      const h = this.resolve(ref);
      const mode = opts.mode ?? 'nft';
      if (this.isolated.has(h)) throw new Error(`host ${h.name} is already isolated`);
      if (mode === 'nft') await this.nft(h, `add rule netdev ${this.nftTable} isolation drop\n`);
      else await this.setPorts(h, undefined, 'down');
      this.isolated.set(h, mode);
    });
  }

  unisolate(ref: HostRef): Promise<void> {
    return this.serial(async () => {
      const h = this.resolve(ref);
      const mode = this.isolated.get(h);
      if (mode === undefined) return;
      if (mode === 'nft') await this.nft(h, `flush chain netdev ${this.nftTable} isolation\n`);
      else await this.setPorts(h, undefined, 'up');
      this.isolated.delete(h);
    });
  }

  private async setPorts(h: TestHostImpl, network: number | undefined, state: 'up' | 'down'): Promise<void> {
    if (network !== undefined) this.checkNetwork(network);
    const ports = network === undefined ? h.ports : [h.ports[network]!];
    await this.ok(['ip', '-n', this.switchNetns, '-batch', '-'], ports.map((p) => `link set ${p} ${state}`).join('\n') + '\n');
  }

  linkDown(ref: HostRef, network?: number): Promise<void> {
    return this.serial(() => this.setPorts(this.resolve(ref), network, 'down'));
  }

  linkUp(ref: HostRef, network?: number): Promise<void> {
    return this.serial(() => this.setPorts(this.resolve(ref), network, 'up'));
  }

  freeze(target: ProcessRef): void {
    freeze(target);
  }

  thaw(target: ProcessRef): void {
    thaw(target);
  }

  freezeHost(ref: HostRef): void {
    for (const pid of this.resolve(ref).processes()) signalPid(pid, 'SIGSTOP');
  }

  thawHost(ref: HostRef): void {
    for (const pid of this.resolve(ref).processes()) signalPid(pid, 'SIGCONT');
  }

  killHost(ref: HostRef): Promise<void> {
    return this.serial(async () => {
      const h = this.resolve(ref);
      await this.setPorts(h, undefined, 'down');
      h.crashed = true;
      // Everything in its network namespace dies at once, the mount-namespace holder included:
      // a crashed machine loses its mounts too.
      for (const c of h.children) if (c.pid !== undefined) signalGroup(c.pid, 'SIGKILL');
      if (h.netnsIno !== undefined) killNamespaceSync('net', h.netnsIno);
      h.mountHolderPid = undefined;
      // let Node reap our own children so their 'exit' events fire before we return
      await Promise.all(
        h.children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))),
      );
    });
  }

  reviveHost(ref: HostRef): Promise<void> {
    return this.serial(async () => {
      const h = this.resolve(ref);
      if (this.mountMode !== false && (h.mountHolderPid === undefined || !h.holderValid(h.mountHolderPid))) await h.startHolder();
      const iso = this.isolated.get(h);
      if (iso === 'link') this.isolated.delete(h);
      await this.forgetRuntimeAddresses(h);
      await this.setPorts(h, undefined, 'up');
      h.crashed = false;
    });
  }

  /** A reboot loses the addresses added at run time (a VIP, for one): the network namespace
   * outlives the crash here, so they are removed, before the links come up again (with the links
   * up, the host would answer ARP for an address it no longer serves, if only for a moment). */
  private async forgetRuntimeAddresses(h: TestHostImpl): Promise<void> {
    const r = await this.ok(['ip', '-n', h.netns, '-j', 'addr', 'show']);
    const own = new Set(h.addresses.map((a) => `${a}/${this.prefixLength}`));
    const cmds: string[] = [];
    for (const l of JSON.parse(r.stdout) as Array<{ ifname: string; addr_info?: Array<{ family?: string; local?: string; prefixlen?: number; scope?: string }> }>) {
      for (const a of l.addr_info ?? []) {
        if (a.local === undefined || a.scope === 'host' || a.scope === 'link') continue;
        const cidr = `${a.local}/${a.prefixlen}`;
        if (!own.has(cidr)) cmds.push(`addr del ${cidr} dev ${l.ifname}`);
      }
    }
    if (cmds.length) await this.ok(['ip', '-n', h.netns, '-batch', '-'], cmds.join('\n') + '\n');
  }

  // ------------------------------------------------------------------ cleanup

  /** Kills every process of the run: tracked groups first, then whatever is in its namespaces. */
  private killEverything(): void {
    for (const c of this.allChildren) if (c.pid !== undefined) signalGroup(c.pid, 'SIGKILL');
    for (const h of this.hosts) {
      if (h.mountHolderPid !== undefined) signalPid(h.mountHolderPid, 'SIGKILL');
      h.mountHolderPid = undefined;
    }
    const inos = [this.switchIno ?? nsInode(this.switchPath), ...this.hosts.map((h) => h.netnsIno ?? nsInode(h.netnsPath))];
    for (const ino of inos) if (ino !== undefined) killNamespaceSync('net', ino);
  }

  private cleanupCommands(): { argv: string[]; input?: string }[] {
    const cmds: { argv: string[]; input?: string }[] = [];
    for (const h of this.hosts) {
      cmds.push({ argv: ['nsenter', `--net=${h.netnsPath}`, '--', 'nft', 'delete', 'table', 'netdev', this.nftTable] });
    }
    const sw = [...this.hosts.flatMap((h) => h.ports.map((p) => `link del ${p}`)), ...this.bridges.map((b) => `link del ${b}`)];
    cmds.push({ argv: ['ip', '-n', this.switchNetns, '-force', '-batch', '-'], input: sw.join('\n') + '\n' });
    const ns = [...this.hosts.map((h) => h.netns), this.switchNetns];
    cmds.push({ argv: ['ip', '-force', '-batch', '-'], input: ns.map((n) => `netns del ${n}`).join('\n') + '\n' });
    return cmds;
  }

  private existingNamespaces(): boolean {
    return [this.switchPath, ...this.hosts.map((h) => h.netnsPath)].some((p) => nsInode(p) !== undefined);
  }

  private releaseLock(): void {
    try {
      if (readFileSync(this.lockPath, 'utf8').trim() === this.runId) unlinkSync(this.lockPath);
    } catch {
      // already gone
    }
  }

  destroy(): Promise<void> {
    this.destroyPromise ??= (async () => {
      await this.opQueue;
      this.killEverything();
      if (this.existingNamespaces()) {
        for (const c of this.cleanupCommands()) {
          await runCommand(c.argv, c.input === undefined ? {} : { input: c.input });
        }
      }
      this.releaseLock();
      // reap our own killed children so no zombie or open pipe keeps the event loop busy
      await Promise.all(
        [...this.allChildren].map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))),
      );
      live.delete(this);
    })();
    return this.destroyPromise;
  }

  destroySync(): void {
    if (this.destroyedSync) return;
    this.destroyedSync = true;
    this.killEverything();
    if (this.existingNamespaces()) {
      for (const c of this.cleanupCommands()) runCommandSync(c.argv, c.input === undefined ? {} : { input: c.input });
    }
    this.releaseLock();
    live.delete(this);
  }
}

/**
 * Creates the test hosts. Pass `t` (a node:test context) to have `destroy()` run in its `after`
 * hook; otherwise call `destroy()` yourself (the process exit/SIGINT/SIGTERM hooks are only a
 * safety net). On a setup failure everything created so far is removed before rejecting.
 */
export async function createTestNet(opts: TestNetOptions): Promise<TestNet> {
  const net = new TestNetImpl(opts);
  opts.t?.after(() => net.destroy());
  try {
    await net.setup();
  } catch (err) {
    await net.destroy();
    throw err;
  }
  return net;
}

function pgidOf(target: ProcessRef): number {
  const pid = typeof target === 'number' ? target : target.pid;
  if (pid === undefined) throw new Error('process has no pid (failed to start?)');
  const st = procStat(pid);
  if (!st) throw new Error(`no process ${pid}`);
  return st.pgid;
}

/** SIGSTOP of the process group of `target` (a pid or a ChildProcess). Never this process's own group. */
export function freeze(target: ProcessRef): void {
  const pgid = pgidOf(target);
  if (!signalGroup(pgid, 'SIGSTOP')) throw new Error(`cannot SIGSTOP process group ${pgid}`);
}

/** SIGCONT of the process group of `target`. */
export function thaw(target: ProcessRef): void {
  const pgid = pgidOf(target);
  if (!signalGroup(pgid, 'SIGCONT')) throw new Error(`cannot SIGCONT process group ${pgid}`);
}

export interface SweepReport {
  namespaces: string[];
  processes: number[];
  locks: string[];
}

/**
 * Removes leftovers of runs whose process is gone (names carry the creating pid): their
 * namespaces (with every process inside, bridges, veths and nft tables), processes still carrying
 * their run marker, and octet locks. Runs of live processes are never touched.
 */
export function sweepStale(opts: { prefix?: string } = {}): SweepReport {
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  if (!PREFIX_RE.test(prefix)) throw new Error(`bad prefix ${JSON.stringify(prefix)}`);
  const report: SweepReport = { namespaces: [], processes: [], locks: [] };
  const isStale = (runPid: number): boolean => runPid !== process.pid && !pidAlive(runPid);

  let names: string[] = [];
  try {
    names = readdirSync(NETNS_DIR);
  } catch {
    // no namespaces at all
  }
  const stale = names.filter((n) => {
    const id = parseRunId(prefix, n);
    return id !== undefined && isStale(id.pid);
  });
  for (const n of stale) {
    const ino = nsInode(`${NETNS_DIR}/${n}`);
    if (ino !== undefined) report.processes.push(...pidsInNamespace('net', ino));
    if (ino !== undefined) killNamespaceSync('net', ino);
  }
  const marked = pidsWithEnv(RUN_ENV, (v) => {
    const id = parseRunId(prefix, v);
    return id !== undefined && isStale(id.pid);
  });
  for (const pid of marked) {
    if (signalPid(pid, 'SIGKILL') && !report.processes.includes(pid)) report.processes.push(pid);
  }
  if (stale.length) {
    runCommandSync(['ip', '-force', '-batch', '-'], { input: stale.map((n) => `netns del ${n}`).join('\n') + '\n' });
    report.namespaces.push(...stale);
  }
  let locks: string[] = [];
  try {
    locks = readdirSync(LOCK_DIR);
  } catch {
    // none
  }
  for (const l of locks) {
    const path = `${LOCK_DIR}/${l}`;
    let owner = '';
    try {
      owner = readFileSync(path, 'utf8').trim();
    } catch {
      continue;
    }
    const id = parseRunId(prefix, owner);
    if (id !== undefined && isStale(id.pid)) {
      try {
        unlinkSync(path);
        report.locks.push(path);
      } catch {
        // gone
      }
    }
  }
  return report;
}

/** Every live TestNet of this process (for diagnostics). */
export function liveTestNets(): readonly TestNet[] {
  return [...live];
}
