// Durations and sizes as written in modules ("500ms", "64KiB") to numbers.

const DURATION_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
const SIZE_BYTES = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 } as const;

export function durationMs(s: string): number {
  const m = /^([0-9]{1,9})(ms|s|m|h)$/.exec(s);
  if (!m) throw new Error(`not a duration: ${s}`);
  return Number(m[1]) * DURATION_MS[m[2] as keyof typeof DURATION_MS];
}

export function sizeBytes(s: string): number {
  const m = /^([0-9]{1,9})(B|KiB|MiB|GiB)$/.exec(s);
  if (!m) throw new Error(`not a size: ${s}`);
  return Number(m[1]) * SIZE_BYTES[m[2] as keyof typeof SIZE_BYTES];
}
