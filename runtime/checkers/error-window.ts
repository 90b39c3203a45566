// Counting events in a sliding time window ("N restarts within W", "N errors within W").
export interface WindowCount {
  readonly times: readonly number[];
}

export const EMPTY_WINDOW: WindowCount = { times: [] };

/** Add an event at `at`; returns the new window and how many events it now holds. */
export function addToWindow(w: WindowCount, at: number, windowMs: number): { window: WindowCount; count: number } {
  const times = [...w.times.filter((t) => at - t < windowMs), at];
  return { window: { times }, count: times.length };
}

export function countInWindow(w: WindowCount, at: number, windowMs: number): number {
  return w.times.filter((t) => at - t < windowMs).length;
}
