// Public API of the witness: the `hamod witness` service and the nodes' client of it.
export { WitnessServer, DEFAULT_LEASE_MS, DEFAULT_MAX_MODULES, type WitnessServerOptions } from './server.js';
export { WitnessClient, DEFAULT_WITNESS_NAME, type LeaseAnswer, type LeaseRequestInput, type WitnessClientOptions, type WitnessEndpoint } from './client.js';
export {
  WITNESS_PATHS,
  MODULE_NAME_RE,
  BodyError,
  parseLeaseRequest,
  parseReleaseRequest,
  parseWitnessReply,
  type LeaseRequestBody,
  type ModuleLeaseStatus,
  type ReleaseReply,
  type ReleaseRequestBody,
  type WitnessStatus,
} from './protocol.js';
export { loadRegistry, saveRegistry, WITNESS_STATE_FILE, type WitnessRegistry } from './store.js';
export { parseListenAddress, readClusterNodes, parseNodeList, DEFAULT_WITNESS_LISTEN } from './settings.js';
