// ModuleDefinition: the module as its author wrote it (after schema validation). It is input only:
// the compiler turns it into a CompiledPlan (plan/types.ts) and never hands it to the runtime.

export type Mode = 'mirror' | 'farm';
export type Role = 'primary' | 'secondary' | 'both' | 'every';
export type ParamType = 'string' | 'integer' | 'port' | 'path' | 'ip' | 'cidr' | 'duration' | 'enum' | 'boolean' | 'secret';
export type CheckerAction = 'restart' | 'failover' | 'stop';

export interface ParameterDef {
  type: ParamType;
  description?: string;
  required?: boolean;
  default?: string | number | boolean;
  values?: string[];
  minimum?: number;
  maximum?: number;
  pattern?: string;
}

export interface ServiceDef {
  name: string;
  description?: string;
  role?: Role;
  run?: string;
  start?: string;
  stop?: string;
  user?: string;
  group?: string;
  workingDirectory?: string;
  environment?: Record<string, string>;
  timeouts?: { start?: string; stop?: string };
  stopSignal?: string;
  after?: string[];
}

export interface ReplicatedDirDef {
  path: string;
  include?: string[];
  exclude?: string[];
}

export interface ReplicationDef {
  directories: ReplicatedDirDef[];
  zoneSize?: string;
  activityLog?: string;
  timeout?: string;
  resyncBandwidth?: string;
}

interface CheckerBase {
  name: string;
  description?: string;
  when?: Role;
  interval?: string;
  timeout?: string;
  threshold?: number;
  action?: CheckerAction;
  escalation?: { restarts: number; window: string; then?: 'failover' | 'stop' };
}

export type CheckerDef = CheckerBase & (
  | { type: 'process'; service: string }
  | { type: 'tcp'; host?: string; port: number | string }
  | { type: 'http'; url: string; method?: 'GET' | 'HEAD'; expectStatus?: number[]; expectBody?: string }
  | { type: 'command'; script: string }
  | { type: 'ping'; addresses: string[]; witness?: boolean }
  | { type: 'interface'; interface: string }
  | { type: 'module'; module: string; states?: Array<'PRIM' | 'SECOND' | 'ALONE' | 'UP'> }
);

export interface VirtualIpDef {
  address: string;
  prefix?: number;
  interface?: string;
}

export interface LbRuleDef {
  name: string;
  vip?: string;
  protocol: 'tcp' | 'udp';
  ports: Array<number | string>;
  affinity?: 'client-ip' | 'client-ip-port';
}

export interface ModuleDefinition {
  apiVersion: 'hamod/v1';
  name: string;
  version: string;
  description?: string;
  license?: string;
  homepage?: string;
  keywords?: string[];
  maintainers?: Array<{ name: string; email?: string; url?: string }>;
  compatibility?: { hamod?: string; os?: string[]; arch?: string[] };
  mode: Mode;
  parameters?: Record<string, ParameterDef>;
  services: ServiceDef[];
  replication?: ReplicationDef;
  checkers?: CheckerDef[];
  virtualIps?: VirtualIpDef[];
  failover?: { defaultPrimary?: string; failback?: boolean; autoStart?: boolean; maxErrors?: { count: number; window: string } };
  loadBalancing?: { rules: LbRuleDef[]; defaultWeight?: number };
  dependencies?: Array<{ name: string; version: string; optional?: boolean }>;
  heartbeat?: { interval?: string; timeout?: string };
}
