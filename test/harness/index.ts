/** Test-host harness: see README.md beside this file. */
export {
  createTestNet,
  freeze,
  thaw,
  sweepStale,
  liveTestNets,
  RUN_ENV,
  HOST_ENV,
  DEFAULT_PREFIX,
  type TestNet,
  type TestHost,
  type TestNetOptions,
  type HostExecOptions,
  type HostSpawnOptions,
  type PartitionOptions,
  type IsolateOptions,
  type HostRef,
  type Side,
  type ProcessRef,
  type SweepReport,
  type AfterHook,
  type ExecResult,
} from './testnet.js';
export { netnsSkipReason, netnsUnavailableReason, netnsRequired, requireRoot, HARNESS_TOOLS } from './root.js';
export { runCommand, pidAlive, pidsInNamespace, procStat, type RunOptions } from './proc.js';
