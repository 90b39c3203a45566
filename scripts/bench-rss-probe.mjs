// Preloaded with --import into a benchmarked process: reports its peak RSS on exit through fd 3.
import { writeSync } from 'node:fs';
process.on('exit', () => {
  try { writeSync(3, `${process.resourceUsage().maxRSS}\n`); } catch { /* not benchmarked */ }
});
