// Walks the module directory (bounded, no recursion into links) to refuse links that lead outside
// it, before anything is read through them.
import { lstatSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import type { DiagnosticBag } from '../diagnostics.js';

const SKIP = new Set(['.git', 'node_modules']);
const MAX_ENTRIES = 10_000;
const MAX_DEPTH = 32;

export function scanModuleDir(dir: string, bag: DiagnosticBag): void {
  let root: string;
  try {
    root = realpathSync(dir);
  } catch {
    return; // reported as HM101 by the reader
  }
  let seen = 0;
  const stack: Array<[string, number]> = [['', 0]];
  while (stack.length) {
    const [rel, depth] = stack.pop()!;
    let names: string[];
    try {
      names = readdirSync(join(root, rel)).sort();
    } catch (e) {
      bag.add('HM109', { file: rel || '.', message: `cannot list directory "${rel || '.'}": ${(e as NodeJS.ErrnoException).code ?? String(e)}` });
      continue;
    }
    for (const name of names) {
      if (SKIP.has(name)) continue;
      if (++seen > MAX_ENTRIES) {
        bag.add('HM102', { file: '.', message: `the module directory has more than ${MAX_ENTRIES} entries`, expected: `at most ${MAX_ENTRIES}` });
        return;
      }
      const r = rel ? `${rel}/${name}` : name;
      const full = join(root, r);
      let st;
      try { st = lstatSync(full); } catch { continue; }
      if (st.isSymbolicLink()) {
        let target: string;
        try { target = realpathSync(full); } catch {
          bag.add('HM108', { file: r, message: `"${r}" is a dangling link to ${safeReadlink(full)}` });
          continue;
        }
        const inside = relative(root, target);
        if (inside === '..' || inside.startsWith('..' + sep) || isAbsolute(inside)) {
          bag.add('HM108', { file: r, message: `"${r}" is a link to ${target}, outside the module directory`, hint: 'copy what you need into the module directory' });
        }
      } else if (st.isDirectory()) {
        if (depth + 1 > MAX_DEPTH) bag.add('HM102', { file: r, message: `"${r}" is nested deeper than ${MAX_DEPTH} directories` });
        else stack.push([r, depth + 1]);
      }
    }
  }
}

function safeReadlink(p: string): string {
  try { return readlinkSync(p); } catch { return '?'; }
}
