// The logging hook of the transport layer: the agent passes its logger; the default is silent.
// Messages name peers, addresses and error codes, never keys, secrets or message bodies.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type TransportLog = (level: LogLevel, message: string, fields?: Readonly<Record<string, unknown>>) => void;

export const silentLog: TransportLog = () => undefined;

/** Lets one message per key through every `intervalMs` (a flood of refused handshakes logs a few lines). */
export class LogThrottle {
  readonly #last = new Map<string, number>();
  readonly #intervalMs: number;
  readonly #maxKeys: number;

  constructor(intervalMs = 60_000, maxKeys = 1024) {
    this.#intervalMs = intervalMs;
    this.#maxKeys = maxKeys;
  }

  allow(key: string, now: number = Date.now()): boolean {
    const last = this.#last.get(key);
    if (last !== undefined && now - last < this.#intervalMs) return false;
    if (last === undefined && this.#last.size >= this.#maxKeys) this.#last.clear();
    this.#last.set(key, now);
    return true;
  }
}
