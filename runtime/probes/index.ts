/** Checker probes (tcp, http, command, ping, interface) and the periodic Prober. */
export { probeTcp } from './tcp.js';
export { probeHttp, HTTP_BODY_CAP, type HttpProbeOptions } from './http.js';
export { probeCommand, type CommandProbeOptions } from './command.js';
export { probePing } from './ping.js';
export { probeInterface, type InterfaceProbeOptions } from './interface.js';
export { Prober, systemClock, type ProbeFn, type ProberClock, type ProberOptions, type ProbeRun } from './prober.js';
export { probeFor, type ProbeSpec } from './spec.js';
export type { ProbeResult, ProbeCallOptions } from './result.js';
