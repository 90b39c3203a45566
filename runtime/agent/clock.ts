// The agent's clock: monotonic milliseconds (CLOCK_MONOTONIC through performance.now()), which keep
// counting while the process is stopped (SIGSTOP), so a frozen node sees on resume that its
// authority ran out. Pure logic receives it injected; only the agent reads it.
export interface Clock {
  now(): number;
}

export const monotonicClock: Clock = { now: () => performance.now() };
