// Public API of the mirror state machine (pure; the agent's actor executes its effects).
export { transition, initialState, nextWakeup } from './machine.js';
export { DEFAULT_MIRROR_CONFIG, checkMirrorConfig } from './config.js';
export { compareData, compareGenerations, orderGenerations, nextGeneration, initialData, INITIAL_GENERATION_ID } from './generation.js';
export { appMayRunAsPrimary, holdsPrimary, usesGrant, roleOf, APP_MAY_RUN_AS_PRIMARY } from './phases.js';
export { authorityUntil, hasAuthority } from './authority.js';
export { composeMessage, receiveMessage } from './peer.js';
export { chooseWinner } from './decide.js';
export { mirrorStatus, type MirrorStatus } from './status.js';
export {
  witnessReducer,
  initialWitnessState,
  restartedWitnessState,
  DEFAULT_WITNESS_CONFIG,
  type WitnessConfig,
  type WitnessState,
  type WitnessInput,
  type WitnessReply,
} from './witness-lease.js';
export * from './types.js';
