// CompiledPlan: what the runtime executes, stored in the bundle's manifest. The runtime never
// re-parses YAML. Install-time values appear as references ({ param }) that the agent resolves from
// the module instance's validated parameters; scripts receive them as HAMOD_PARAM_* variables.
// Changing this shape is a format change: bump PLAN_VERSION and keep the runtime reading both.

export const PLAN_VERSION = 1;

export type ParamRefValue = { param: string };
/** A literal, a whole reference, or a string mixing literals and references. */
export type PlanString = string | ParamRefValue | { concat: Array<string | ParamRefValue> };
export type PlanInt = number | ParamRefValue;

export type PlanRole = 'primary' | 'secondary' | 'both' | 'every';

export interface PlanParameter {
  name: string;
  type: 'string' | 'integer' | 'port' | 'path' | 'ip' | 'cidr' | 'duration' | 'enum' | 'boolean' | 'secret';
  required: boolean;
  default?: string | number | boolean;
  values?: string[];
  minimum?: number;
  maximum?: number;
  pattern?: string;
  /** Environment variable carrying the value to scripts. */
  env: string;
  description?: string;
}

export interface PlanScript {
  /** Path inside the bundle (rendered, executable). */
  path: string;
  sha256: string;
}

export interface PlanService {
  name: string;
  /** Position in start order (0 first); stop order is the reverse. */
  order: number;
  role: PlanRole;
  run?: PlanScript;
  start?: PlanScript;
  stop?: PlanScript;
  user?: string;
  group?: string;
  workingDirectory?: PlanString;
  environment: Record<string, PlanString>;
  startTimeoutMs: number;
  stopTimeoutMs: number;
  stopSignal: string;
  after: string[];
}

export interface PlanEscalation {
  restarts: number;
  windowMs: number;
  then: 'failover' | 'stop';
}

interface PlanCheckerBase {
  name: string;
  when: PlanRole;
  intervalMs: number;
  timeoutMs: number;
  threshold: number;
  action: 'restart' | 'failover' | 'stop';
  escalation: PlanEscalation | null;
}

export type PlanChecker = PlanCheckerBase & (
  | { type: 'process'; service: string }
  | { type: 'tcp'; host: PlanString; port: PlanInt }
  | { type: 'http'; url: PlanString; method: 'GET' | 'HEAD'; expectStatus: number[] | null; expectBody: string | null }
  | { type: 'command'; script: PlanScript }
  | { type: 'ping'; addresses: PlanString[]; witness: boolean }
  | { type: 'interface'; interface: PlanString }
  | { type: 'module'; module: string; states: Array<'PRIM' | 'SECOND' | 'ALONE' | 'UP'> }
);

export interface PlanVirtualIp {
  address: PlanString;
  prefix: number | null;
  interface: PlanString | null;
}

export interface PlanReplication {
  directories: Array<{ path: PlanString; include: string[]; exclude: string[] }>;
  zoneSizeBytes: number;
  /** Data the activity log tracks (bytes, a multiple of 4 MiB); 0: no activity log. Absent in plans
   * of older compilers: the runtime then uses the default. */
  activityLogBytes: number;
  timeoutMs: number;
  resyncBandwidthBytesPerSec: number | null;
}

export interface PlanLbRule {
  name: string;
  vip: PlanString;
  protocol: 'tcp' | 'udp';
  ports: Array<{ from: PlanInt; to: PlanInt }>;
  affinity: 'client-ip' | 'client-ip-port';
}

export interface CompiledPlan {
  planVersion: typeof PLAN_VERSION;
  module: { name: string; version: string; mode: 'mirror' | 'farm' };
  parameters: PlanParameter[];
  /** Services in start order. */
  services: PlanService[];
  replication: PlanReplication | null;
  checkers: PlanChecker[];
  virtualIps: PlanVirtualIp[];
  failover: { defaultPrimary: PlanString | null; failback: boolean; autoStart: boolean; maxErrors: { count: number; windowMs: number } };
  loadBalancing: { buckets: 256; defaultWeight: number; rules: PlanLbRule[] } | null;
  dependencies: Array<{ name: string; range: string; optional: boolean }>;
  heartbeat: { intervalMs: number; timeoutMs: number };
}

/** Defaults applied by the compiler; documented in docs/module-reference.md. */
export const DEFAULTS = {
  startTimeout: '60s',
  stopTimeout: '30s',
  stopSignal: 'SIGTERM',
  checkerInterval: '1s',
  checkerTimeout: '500ms',
  checkerThreshold: 3,
  escalation: { restarts: 3, window: '5m' },
  maxErrors: { count: 10, window: '10m' },
  heartbeatInterval: '100ms',
  heartbeatTimeout: '600ms',
  zoneSize: '4KiB',
  activityLog: '4GiB',
  replicationTimeout: '2s',
  defaultWeight: 1,
} as const;
