// From a checker of the plan (its {param} references already resolved to plain values) to a
// ProbeFn for the Prober. process and module checkers are event-driven, not probes.
import { probeCommand } from './command.js';
import { probeHttp } from './http.js';
import { probeInterface } from './interface.js';
import { probePing } from './ping.js';
import type { ProbeFn } from './prober.js';
import { probeTcp } from './tcp.js';
import type { ExecRunner } from '../vip/exec.js';

export type ProbeSpec =
  | { type: 'tcp'; host: string; port: number }
  | { type: 'http'; url: string; method: 'GET' | 'HEAD'; expectStatus: number[] | null; expectBody: string | null }
  | { type: 'command'; path: string; args?: string[]; env?: NodeJS.ProcessEnv; cwd?: string }
  | { type: 'ping'; addresses: string[] }
  | { type: 'interface'; interface: string; vip?: string | null };

export function probeFor(spec: ProbeSpec, timeoutMs: number, opts: { exec?: ExecRunner } = {}): ProbeFn {
  switch (spec.type) {
    case 'tcp':
      return (signal) => probeTcp(spec.host, spec.port, timeoutMs, { signal });
    case 'http':
      return (signal) =>
        probeHttp({ url: spec.url, method: spec.method, expectStatus: spec.expectStatus, expectBody: spec.expectBody, timeoutMs, signal });
    case 'command':
      return (signal) =>
        probeCommand({
          path: spec.path,
          timeoutMs,
          signal,
          ...(spec.args === undefined ? {} : { args: spec.args }),
          ...(spec.env === undefined ? {} : { env: spec.env }),
          ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
        });
    case 'ping':
      return (signal) => probePing(spec.addresses, timeoutMs, { signal });
    case 'interface':
      return (signal) =>
        probeInterface(spec.interface, { timeoutMs, signal, vip: spec.vip ?? null, ...(opts.exec === undefined ? {} : { exec: opts.exec }) });
  }
}
